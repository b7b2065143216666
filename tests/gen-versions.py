#!/usr/bin/env python3
"""Writes a store holding many versions (manifests, labels, metrics, inputs) without
mounting, for `artifs rebuild` to index: test data for find and lineage at scale.

usage: gen-versions.py STORE VERSIONS ARTIFACTS  -> prints the expected answers as JSON
Every version i of artifact a has metric acc = ((i * 37 + a) % 1000) / 1000, label
stage=prod when i % 10 == 0 (else dev), and, for artifacts a > 0, the input
artifs://gen/a0@v<i> when i <= versions of a0."""
import json, os, sys

store, total, nart = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per = total // nart
os.makedirs(store, exist_ok=True)
fmt = os.path.join(store, "format")
if not os.path.exists(fmt):
    with open(fmt, "w") as f:
        json.dump({"artifs_store": 1, "chunk_min": 1 << 20, "chunk_avg": 4 << 20,
                   "chunk_max": 16 << 20, "zstd_level": 3}, f)
expect = {"prod": [], "acc_gt_0.99": [], "input_a0_v1": [], "versions": 0}
for a in range(nart):
    d = os.path.join(store, "versions", "gen", f"a{a}")
    os.makedirs(d, exist_ok=True)
    for i in range(1, per + 1):
        acc = ((i * 37 + a) % 1000) / 1000
        stage = "prod" if i % 10 == 0 else "dev"
        m = {"artifs_manifest": 1, "project": "gen", "artifact": f"a{a}", "version": i,
             "created": "2026-11-%02dT%02d:%02d:%02d.000000000Z" % (1 + i % 28, i % 24, i % 60, a % 60),
             "attrs": {"user.label.stage": stage, "user.metric.acc": "%.3f" % acc},
             "entries": [{"path": "", "mode": 16877, "mtime": 0}]}
        if a > 0:
            m["inputs"] = [f"artifs://gen/a0@v{i}"]
        with open(os.path.join(d, "%020d" % i), "w") as f:
            json.dump(m, f, sort_keys=True, separators=(",", ":"))
        uri = f"artifs://gen/a{a}@v{i}"
        expect["versions"] += 1
        if stage == "prod":
            expect["prod"].append(uri)
        if acc > 0.99:
            expect["acc_gt_0.99"].append(uri)
        if a > 0 and i == 1:
            expect["input_a0_v1"].append(uri)
for k in ("prod", "acc_gt_0.99", "input_a0_v1"):
    expect[k].sort()
json.dump(expect, sys.stdout)
