#!/usr/bin/env python3
"""Prints a loopback port P such that P and P+1 are free (the gateway and its monitor).
usage: free-port.py [FIRST [LAST]]"""
import socket, sys

first = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
last = int(sys.argv[2]) if len(sys.argv) > 2 else first + 10000
for p in range(first, last, 2):
    socks, ok = [], True
    for q in (p, p + 1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", q))
        except OSError:
            ok = False
        socks.append(s)
    for s in socks:
        s.close()
    if ok:
        print(p)
        sys.exit(0)
sys.exit("no free pair of ports")
