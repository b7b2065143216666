# artifs gc beside two hosts that commit (issue 12, docs/gc.md): hosts A and B commit to
# one store continuously (files drawn from a few blobs, so that commits deduplicate against
# packs gc condemns and deletes) and remove older versions now and then, while a third
# process runs gc over and over with no removed grace, some runs killed (kill -9) part way.
# Afterwards, with two final runs: every version that should survive reads byte-exact on a
# fresh host, none that was removed comes back, gc freed what the removed versions held, and
# fsck --deep is clean. Randomized with fixed seeds (GC_SEEDS); GC_ROUNDS commits per host
# (make soak runs many more). Local store, or the S3 test server with ARTIFS_TEST_STORE=s3.
. "$(dirname "$0")/lib.sh"
ROUNDS=${GC_ROUNDS:-40}
read -r -a SEEDS <<<"${GC_SEEDS:-11 12}"
OPTS="commit_delay=600000,refresh=200"
M2=$T/mnt2 S2=$T/state2 M3=$T/mnt3 S3=$T/state3
start "$OPTS"
host_up "$M2" "$S2" "$OPTS"
cat >"$T/drive.py" <<'PY'
# One host's commits: drive.py BIN ARTIFACT_DIR SEED ROUNDS OUT
import hashlib, json, os, random, subprocess, sys

bin, d, seed, rounds, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rng = random.Random(seed)
blobs = [rng.randbytes(rng.randint(30000, 600000)) for _ in range(8)]
os.makedirs(d, exist_ok=True)
tree, live, removed = {}, {}, []
for r in range(rounds):
    for _ in range(rng.randint(1, 2)):
        name = "f%d" % min(rng.randint(0, 5), 2)
        if name in tree and rng.random() < 0.2:
            os.unlink(os.path.join(d, name))
            del tree[name]
            continue
        b = blobs[rng.randrange(len(blobs))]
        with open(os.path.join(d, name), "wb") as f:
            f.write(b)
        tree[name] = hashlib.sha256(b).hexdigest()
    with open(os.path.join(d, "n"), "w") as f:
        f.write("%d %d\n" % (seed, r))
    tree["n"] = hashlib.sha256(b"%d %d\n" % (seed, r)).hexdigest()
    p = subprocess.run([bin, "commit", d], capture_output=True, text=True)
    if p.returncode:
        sys.exit("commit %d of %s failed: %s" % (r, d, p.stderr.strip()))
    v = int(p.stdout.strip().rsplit("@v", 1)[1])
    live[v] = dict(tree)
    # mostly the oldest goes, so that a blob's pack loses every version that names it and
    # the blob comes back later (a commit then meets the pack condemned or deleted)
    if len(live) > 2 and rng.random() < 0.7:
        old = sorted(live)[0] if rng.random() < 0.8 else rng.choice(sorted(live)[:-1])
        p = subprocess.run([bin, "rm", "%s/@v%d" % (d, old)], capture_output=True, text=True)
        if p.returncode:
            sys.exit("rm of @v%d in %s failed: %s" % (old, d, p.stderr.strip()))
        removed.append(old)
        del live[old]
json.dump({"live": live, "removed": removed}, open(out, "w"))
PY
gc() { "$ARTIFS_BIN" gc --removed-grace 0 "$@" -o "store=$STORE" >>"$T/gc.log" 2>&1; }
FAILURE_LOGS+=("$T/gc.log")

for seed in "${SEEDS[@]}"; do
	python3 "$T/drive.py" "$ARTIFS_BIN" "$MNT/p/a$seed" "$seed" "$ROUNDS" "$T/a$seed.json" &
	da=$!
	python3 "$T/drive.py" "$ARTIFS_BIN" "$M2/p/b$seed" "$((seed + 100))" "$ROUNDS" "$T/b$seed.json" &
	db=$!
	# gc over and over while both drive; every third run is killed at a step drawn from the
	# seed. A grace of 1 s: a commit's manifest is written well within it (the grace is what
	# a commit may take from its last look at the marks to its manifest; docs/gc.md).
	RANDOM=$seed
	runs=0
	while ! finished $da || ! finished $db; do
		runs=$((runs + 1))
		if [ $((runs % 3)) = 0 ]; then
			rc=0
			# (the shell's "Killed" notice goes to the log too)
			{ ARTIFS_TEST_GC_KILL_AT=$((RANDOM % 60 + 1)) gc --grace 1 --skew 0; } \
				2>>"$T/gc.log" || rc=$?
			[ $rc = 0 ] || [ $rc = 137 ] || fail "a gc run to be killed exited $rc"
		else
			gc --grace 1 --skew 0 || fail "gc run $runs failed"
		fi
	done
	wait $da || fail "host A's commits (seed $seed) failed"
	wait $db || fail "host B's commits (seed $seed) failed"
	echo "seed $seed: $runs gc runs beside $((2 * ROUNDS)) commits"
	[ $runs -ge 2 ] || fail "gc ran only $runs times beside the commits"
done

grep -q "deleted: [1-9]" "$T/gc.log" || fail "gc deleted no pack while the hosts committed"
grep -q "condemned by gc meanwhile" "$LOG" || echo "note: no commit met a pack gc condemned"

# Quiet now: two runs reclaim everything removed.
gc --grace 0 --skew 0 || fail "the first final gc run failed"
gc --grace 0 --skew 0 || fail "the second final gc run failed"
grep "^packs:" "$T/gc.log" | tail -n 1

# A fresh host reads every surviving version from the store; none removed is there.
host_up "$M3" "$S3" "$OPTS"
for seed in "${SEEDS[@]}"; do
	for h in "a$seed" "b$seed"; do
		python3 - "$M3/p/$h" "$T/$h.json" <<'PY' || fail "host C does not read p/$h as committed"
import hashlib, json, os, sys
d, want = sys.argv[1], json.load(open(sys.argv[2]))
have = sorted(int(n[2:]) for n in os.listdir(d) if n.startswith("@v") and n[2:].isdigit())
assert have == sorted(int(v) for v in want["live"]), (have, sorted(want["live"]))
for v, tree in want["live"].items():
    vd = os.path.join(d, "@v" + v)
    assert sorted(os.listdir(vd)) == sorted(tree), (v, os.listdir(vd), tree)
    for name, sha in tree.items():
        with open(os.path.join(vd, name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == sha, (v, name)
for v in want["removed"]:
    assert not os.path.exists(os.path.join(d, "@v%d" % v)), v
PY
	done
done
"$ARTIFS_BIN" fsck --deep -o "store=$STORE" >"$T/fsck" 2>&1 || fail "fsck --deep after gc: $(cat "$T/fsck")"
echo "ok"
