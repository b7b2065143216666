#!/usr/bin/python3
"""A fault-injecting HTTP/1.1 proxy between artifs and the S3 test server (tests/s3/README.md).

usage: fault-proxy.py --port P --upstream http://127.0.0.1:PORT [--control-port C]
                      [--rules FILE] [--seed N] [--log FILE]

Requests are forwarded byte for byte, Host header included, so SigV4 signatures made for
127.0.0.1:P stay valid (the server checks them against the Host it receives). Keep-alive on
both sides; Content-Length and chunked bodies; "Expect: 100-continue" is answered here, and
the server's own 100 is not passed on.

Rules (a JSON document {"seed": N, "rules": [...]}, from --rules or PUT /rules on the control
port) are tried in order; the first that matches a request and fires decides its fate:

  match:   "method" (exact, default any), "key" (a substring of the request target, e.g.
           "/versions/")
  when:    "first": K (the first K matches), "per_key_first": K (the first K matches of each
           distinct method + path), "every": N (matches 1, N+1, 2N+1, ...), "prob": p (seeded
           RNG), else always; "skip": N ignores the first N matches; "burst": B fires B times
           in a row once fired; "max": M fires at most M times in all
  action:  "drop"  forward, read the whole answer, close the client socket without a byte
                   (the server did the work; the answer is lost)
           "reset" the same with an RST (SO_LINGER 0); "forward": false for either skips the
                   forwarding (the server never sees the request)
           "error" answer "status" (default 503) with an S3 XML error, without forwarding
           "delay" wait "delay_ms" before forwarding ("after": true: before answering)
           "hold"  wait until PUT /release before forwarding ("after": true: before
                   answering), so a test can look at the system while a request is in flight
                   without guessing how long it takes; "forward": false closes the
                   connection at the release instead of forwarding (the server never sees it)
           "cut"   a torn upload: forward the head and only the first "cut_bytes" of the body
                   (default half of it), then close both connections; the server sees the
                   body end early and the client gets no answer

The control port (default P+1) serves GET /health, GET /stats (request and per-rule counters,
"held": requests waiting now), PUT /rules (replaces the rules, resets the counters and reseeds
the RNG) and PUT /release (lets every held request go on; rules stay).
"""
import argparse
import json
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HEAD_MAX = 65536
PIECE = 1 << 16
ACTIONS = ("drop", "reset", "error", "delay", "hold", "cut")
REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout", 429: "Too Many Requests"}
CODES = {500: "InternalError", 503: "SlowDown", 429: "SlowDown"}


class Rules:
    def __init__(self, seed):
        self.lock = threading.Lock()
        self.released = threading.Condition(self.lock)
        self.held = 0
        self.releases = 0
        self.default_seed = seed
        self.load({"rules": []})

    @staticmethod
    def check(rule):
        if not isinstance(rule, dict) or rule.get("action") not in ACTIONS:
            raise ValueError(f"bad rule {rule!r}: action must be one of {ACTIONS}")
        for k in ("first", "per_key_first", "every", "skip", "burst", "max", "status",
                  "delay_ms", "cut_bytes"):
            if k in rule and (not isinstance(rule[k], int) or rule[k] < 0):
                raise ValueError(f"bad rule {rule!r}: {k} must be a non-negative integer")
        if "prob" in rule and not 0 <= float(rule["prob"]) <= 1:
            raise ValueError(f"bad rule {rule!r}: prob must be in [0, 1]")

    def load(self, doc):
        rules = doc.get("rules", [])
        for r in rules:
            self.check(r)
        with self.lock:
            self.rules = [dict(r) for r in rules]
            self.state = [{"matched": 0, "fired": 0, "burst_left": 0, "keys": {}}
                          for _ in rules]
            self.rng = random.Random(doc.get("seed", self.default_seed))
            self.requests = 0
            self.actions = {a: 0 for a in ACTIONS}

    def decide(self, method, target):
        """The rule that fires for this request (a copy), or None."""
        path = target.split("?", 1)[0]
        with self.lock:
            self.requests += 1
            for r, st in zip(self.rules, self.state):
                if r.get("method", method) != method or r.get("key", "") not in target:
                    continue
                st["matched"] += 1
                if st["burst_left"] > 0 or self.fires(r, st, method + " " + path):
                    if st["burst_left"] > 0:
                        st["burst_left"] -= 1
                    elif r.get("burst", 0) > 1:
                        st["burst_left"] = r["burst"] - 1
                    st["fired"] += 1
                    self.actions[r["action"]] += 1
                    return dict(r)
            return None

    def fires(self, r, st, key):
        if "max" in r and st["fired"] >= r["max"]:
            return False
        n = st["matched"] - r.get("skip", 0)
        if n <= 0:
            return False
        if "per_key_first" in r:
            st["keys"][key] = st["keys"].get(key, 0) + 1
            return st["keys"][key] <= r["per_key_first"]
        if "first" in r:
            return n <= r["first"]
        if "every" in r:
            return r["every"] > 0 and (n - 1) % r["every"] == 0
        if "prob" in r:
            return self.rng.random() < float(r["prob"])
        return True

    def hold(self):
        """Blocks the calling request until the next release()."""
        with self.lock:
            self.held += 1
            gen = self.releases
            while self.releases == gen:
                self.released.wait()
            self.held -= 1

    def release(self):
        with self.lock:
            self.releases += 1
            self.released.notify_all()

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "actions": dict(self.actions), "held": self.held,
                    "rules": [dict(r, matched=st["matched"], fired=st["fired"])
                              for r, st in zip(self.rules, self.state)]}


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1) if path else None
        self.lock = threading.Lock()

    def __call__(self, msg):
        if self.f:
            with self.lock:
                self.f.write(f"{time.time():.3f} {msg}\n")


def read_head(rf):
    """One message head (start line and headers, CRLFCRLF included), or None at a clean EOF."""
    lines, total = [], 0
    while True:
        line = rf.readline(HEAD_MAX + 1)
        if not line:
            if not lines:
                return None
            raise ConnectionError("EOF inside a message head")
        if not lines and line in (b"\r\n", b"\n"):
            continue  # stray CRLF between messages
        total += len(line)
        if total > HEAD_MAX:
            raise ValueError("message head too large")
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    start = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), v.strip())
    return start, headers


def read_exact(rf, n):
    data = rf.read(n)
    if len(data) != n:
        raise ConnectionError("EOF inside a body")
    return data


def body_pieces(rf, headers, no_body):
    """Yields the raw bytes of a body as they come (chunked framing kept)."""
    if no_body:
        return
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            line = rf.readline(HEAD_MAX)
            if not line.endswith(b"\n"):
                raise ConnectionError("EOF inside a chunk size")
            yield line
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    t = rf.readline(HEAD_MAX)
                    if not t.endswith(b"\n"):
                        raise ConnectionError("EOF inside trailers")
                    yield t
                    if t in (b"\r\n", b"\n"):
                        return
            left = size + 2
            while left:
                piece = read_exact(rf, min(left, PIECE))
                left -= len(piece)
                yield piece
    elif "content-length" in headers:
        left = int(headers["content-length"])
        while left:
            piece = read_exact(rf, min(left, PIECE))
            left -= len(piece)
            yield piece
    elif headers is not None and headers.get("_read_to_eof"):
        while True:
            piece = rf.read1(PIECE)
            if not piece:
                return
            yield piece


def kill(sock, rf, rst):
    """Closes a client connection at once: FIN, or RST (SO_LINGER 0). The file object goes
    first: the fd stays open, and no RST goes out, while it holds a reference."""
    try:
        if rst:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    rf.close()
    sock.close()


class Upstream:
    """One keep-alive connection to the server per client connection."""

    def __init__(self, addr):
        self.addr = addr
        self.sock = self.rf = None

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = self.rf = None

    def send(self, data):
        """Sends a request; True when on a fresh connection."""
        fresh = self.sock is None
        if fresh:
            self.sock = socket.create_connection(self.addr, timeout=120)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.rf = self.sock.makefile("rb")
        self.sock.sendall(data)
        return fresh

    def exchange(self, data, method):
        """Sends a request, returns (status, head bytes, headers) of its final answer. A
        reused connection the server closed before answering is retried once, fresh."""
        for attempt in (0, 1):
            fresh = self.sock is None  # also when sending raises: was it a reused one?
            try:
                fresh = self.send(data)
                head = read_head(self.rf)
                while head is not None:
                    start, headers = parse_head(head)
                    status = int(start[1])
                    if status >= 200 or status == 101:
                        break
                    head = read_head(self.rf)  # our own 100 went out already
                if head is None:
                    raise ConnectionError("no answer")
                break
            except (ConnectionError, OSError):
                self.close()
                if attempt or fresh:
                    raise
        no_body = method == "HEAD" or status in (204, 304) or status < 200
        if (not no_body and "content-length" not in headers
                and "chunked" not in headers.get("transfer-encoding", "").lower()):
            headers["_read_to_eof"] = True
        return status, head, headers, no_body


def error_answer(status, method):
    body = b"" if method == "HEAD" else (
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
        "<Message>injected by fault-proxy</Message><RequestId>fault-proxy</RequestId></Error>"
        % CODES.get(status, "InjectedFault")).encode()
    head = ("HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"
            "x-amz-request-id: fault-proxy\r\nConnection: keep-alive\r\n\r\n"
            % (status, REASONS.get(status, "Injected"), len(body))).encode()
    return head + body


def serve(csock, cid, rules, upaddr, log):
    csock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rf = csock.makefile("rb")
    up = Upstream(upaddr)
    try:
        while True:
            head = read_head(rf)
            if head is None:
                return
            start, headers = parse_head(head)
            if len(start) != 3:
                raise ValueError(f"bad request line {start!r}")
            method, target = start[0], start[1]
            has_body = ("content-length" in headers and headers["content-length"] != "0") or \
                "chunked" in headers.get("transfer-encoding", "").lower()
            if has_body and headers.get("expect", "").lower() == "100-continue":
                csock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = b"".join(body_pieces(rf, headers, False))
            rule = rules.decide(method, target)
            action = rule["action"] if rule else "pass"
            close_after = headers.get("connection", "").lower() == "close"
            if action == "error":
                status = rule.get("status", 503)
                csock.sendall(error_answer(status, method))
                log(f"c{cid} {method} {target} -> error {status}")
                if close_after:
                    return
                continue
            if action == "delay" and not rule.get("after"):
                time.sleep(rule.get("delay_ms", 0) / 1000)
            if action == "hold" and not rule.get("after"):
                log(f"c{cid} {method} {target} -> held")
                rules.hold()
                if not rule.get("forward", True):
                    log(f"c{cid} {method} {target} -> released, not forwarded")
                    kill(csock, rf, False)
                    return
            if action == "cut":
                n = min(len(body), rule.get("cut_bytes", len(body) // 2))
                try:
                    up.send(head + body[:n])
                except OSError:
                    pass
                up.close()
                log(f"c{cid} {method} {target} -> cut after {n} of {len(body)} body bytes")
                kill(csock, rf, False)
                return
            if action in ("drop", "reset") and not rule.get("forward", True):
                log(f"c{cid} {method} {target} -> {action}, not forwarded")
                kill(csock, rf, action == "reset")
                return
            status, rhead, rheaders, no_body = up.exchange(head + body, method)
            if action in ("drop", "reset"):
                for _ in body_pieces(up.rf, rheaders, no_body):
                    pass
                log(f"c{cid} {method} {target} -> {action} after the server answered {status}")
                kill(csock, rf, action == "reset")
                return
            if action == "delay" and rule.get("after"):
                time.sleep(rule.get("delay_ms", 0) / 1000)
            if action == "hold" and rule.get("after"):
                log(f"c{cid} {method} {target} -> answer {status} held")
                rules.hold()
            csock.sendall(rhead)
            for piece in body_pieces(up.rf, rheaders, no_body):
                csock.sendall(piece)
            log(f"c{cid} {method} {target} -> {action} {status}")
            if rheaders.get("_read_to_eof") or rheaders.get("connection", "").lower() == "close":
                up.close()
                return
            if close_after:
                return
    except (ConnectionError, OSError, ValueError) as e:
        log(f"c{cid} closed: {e}")
    finally:
        up.close()
        try:
            rf.close()
            csock.close()
        except OSError:
            pass


def control_server(port, rules):
    class Handler(BaseHTTPRequestHandler):
        def reply(self, code, obj):
            data = (json.dumps(obj, indent=1) + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health":
                self.reply(200, {"ok": True})
            elif self.path == "/stats":
                self.reply(200, rules.stats())
            else:
                self.reply(404, {"error": "GET /health or /stats"})

        def do_PUT(self):
            if self.path == "/release":
                rules.release()
                return self.reply(200, rules.stats())
            if self.path != "/rules":
                return self.reply(404, {"error": "PUT /rules or /release"})
            try:
                n = int(self.headers.get("Content-Length", "0"))
                rules.load(json.loads(self.rfile.read(n) or b"{}"))
            except (ValueError, TypeError, AttributeError) as e:
                return self.reply(400, {"error": str(e)})
            self.reply(200, rules.stats())

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="http://host:port of the S3 server")
    ap.add_argument("--control-port", type=int)
    ap.add_argument("--rules", help="a JSON rules file to start with")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--log", help="one line per request")
    a = ap.parse_args()
    up = urlsplit(a.upstream)
    if up.scheme != "http" or not up.hostname:
        sys.exit("fault-proxy: --upstream must be http://host:port")
    upaddr = (up.hostname, up.port or 80)
    rules = Rules(a.seed)
    if a.rules:
        with open(a.rules) as f:
            rules.load(json.load(f))
    log = Log(a.log)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", a.port))
    lsock.listen(128)
    control_server(a.control_port or a.port + 1, rules)
    print(f"fault-proxy: 127.0.0.1:{a.port} -> {upaddr[0]}:{upaddr[1]}, control on "
          f"127.0.0.1:{a.control_port or a.port + 1}", file=sys.stderr, flush=True)
    cid = 0
    while True:
        csock, _ = lsock.accept()
        cid += 1
        threading.Thread(target=serve, args=(csock, cid, rules, upaddr, log),
                         daemon=True).start()


if __name__ == "__main__":
    main()
