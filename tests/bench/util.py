#!/usr/bin/env python3
"""Small-file, xattr, churn, dedup and data helpers of the bench suite (tests/bench/run.sh).
Each timed subcommand prints one number (a rate) on stdout.

  util.py gen-cmp FILE MIB             compressible bytes (16-symbol alphabet, ~2:1 in zstd)
  util.py write DIR N                  N files of 4 KiB of fresh random bytes   -> nothing
  util.py stat DIR                     listdir + stat of every entry            -> files/s
  util.py read DIR                     listdir + open/read/close of every entry -> files/s
  util.py setx DIR                     setxattr user.bench on every entry       -> ops/s (best of 3 passes)
  util.py getx DIR                     getxattr user.bench of every entry       -> ops/s (best of 3 passes)
  util.py churn ART N                  N single-small-file versions, each polled for -> commits/s
  util.py churn-explicit ART N         the same, committed with setxattr user.artifs.commit
  util.py edits FILE PERCENT SEED      scattered 4 KiB overwrites of PERCENT of FILE
  util.py insert SRC DST MIB SEED      DST = SRC with MIB random bytes inserted near the middle
  util.py stats MNT                    bytes_stored and chunks_stored of the daemon
"""
import json, os, random, sys, time


def entries(d):
    return sorted(os.listdir(d))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen-cmp":
        path, mib = args[0], int(args[1])
        table = bytes(b"0123456789abcdef"[i % 16] for i in range(256))
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20).translate(table))
    elif cmd == "write":
        d, n = args[0], int(args[1])
        os.makedirs(d, exist_ok=True)
        for i in range(n):
            with open(os.path.join(d, "f%06d" % i), "wb") as f:
                f.write(os.urandom(4096))
    elif cmd == "stat":
        d = args[0]
        t = time.perf_counter()
        names = os.listdir(d)
        for n in names:
            os.stat(os.path.join(d, n))
        print(f"{len(names) / (time.perf_counter() - t):.0f}")
    elif cmd == "read":
        d = args[0]
        t = time.perf_counter()
        names = os.listdir(d)
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                f.read()
        print(f"{len(names) / (time.perf_counter() - t):.0f}")
    elif cmd in ("setx", "getx"):
        # The best of 3 passes: one request per call, so a pass is a few ms and the
        # scheduler's noise (2 cores, a ping-pong per call) swamps one pass.
        d = args[0]
        paths = [os.path.join(d, n) for n in entries(d)]
        best = 0.0
        for _ in range(3):
            t = time.perf_counter()
            if cmd == "setx":
                for p in paths:
                    os.setxattr(p, "user.bench", b"value-" + p[-6:].encode())
            else:
                for p in paths:
                    os.getxattr(p, "user.bench")
            best = max(best, len(paths) / (time.perf_counter() - t))
        print(f"{best:.0f}")
    elif cmd in ("churn", "churn-explicit"):
        art, n = args[0], int(args[1])
        have = [int(e[2:]) for e in os.listdir(art) if e.startswith("@v") and e[2:].isdigit()]
        v = max(have, default=0)
        t = time.perf_counter()
        for i in range(n):
            with open(os.path.join(art, "f"), "w") as f:
                f.write("churn %d %f\n" % (i, time.time()))
            if cmd == "churn-explicit":
                os.setxattr(art, "user.artifs.commit", b"churn")
            v += 1
            want = os.path.join(art, "@v%d" % v)
            deadline = time.perf_counter() + 30
            while not os.path.isdir(want):
                if time.perf_counter() > deadline:
                    sys.exit(f"no {want} after 30 s")
                time.sleep(0.0005)
        print(f"{n / (time.perf_counter() - t):.1f}")
    elif cmd == "edits":
        path, pct, seed = args[0], float(args[1]), int(args[2])
        size = os.path.getsize(path)
        blocks = size // 4096
        n = int(size * pct / 100) // 4096
        rnd = random.Random(seed)
        with open(path, "r+b") as f:
            for b in sorted(rnd.sample(range(blocks), n)):
                f.seek(b * 4096)
                f.write(rnd.randbytes(4096))
        print(n)
    elif cmd == "insert":
        src, dst, mib, seed = args[0], args[1], int(args[2]), int(args[3])
        size = os.path.getsize(src)
        mid = size // 2 + 12345
        rnd = random.Random(seed)
        with open(src, "rb") as s, open(dst, "wb") as d:
            left = mid
            while left:
                b = s.read(min(left, 1 << 20))
                d.write(b)
                left -= len(b)
            d.write(rnd.randbytes(mib << 20))
            while True:
                b = s.read(1 << 20)
                if not b:
                    break
                d.write(b)
    elif cmd == "append":
        path, pct, seed = args[0], float(args[1]), int(args[2])
        n = int(os.path.getsize(path) * pct / 100)
        with open(path, "ab") as f:
            f.write(random.Random(seed).randbytes(n))
    elif cmd == "rewrite":
        path, mib, seed = args[0], int(args[1]), int(args[2])
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.seek(size // 2 - (mib << 19))
            f.write(random.Random(seed).randbytes(mib << 20))
    elif cmd == "index":
        # Bytes of the index tables that grow with chunks and files' chunk lists, and the
        # chunks located (format 2) or known good (format 1).
        with open(os.path.join(args[0], ".artifs", "stats")) as f:
            ix = json.load(f)["index"]
        tables = ("chunks", "runs", "chunk_ok", "chunk_at", "packs", "pack_no")
        print(sum(ix[t]["bytes"] for t in tables),
              max(ix["chunk_at"]["entries"], ix["chunk_ok"]["entries"]))
    elif cmd == "stats":
        with open(os.path.join(args[0], ".artifs", "stats")) as f:
            s = json.load(f)["daemon"]
        print(s["bytes_stored"], s["chunks_stored"])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
