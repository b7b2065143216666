# Model-based test (tests/model/model.py): seeded random sequences of file operations on a
# HEAD and on a plain reference folder, compared operation by operation and after every
# commit. One more seed ends with its draft uncommitted and the daemon is killed (kill -9):
# after the next mount that HEAD still equals its reference and commits to a version equal to
# it. Then every version is compared with its snapshot again after a remount (inode numbers
# included) and after `artifs rebuild`. A short fixed-seed run; tests/model/soak.sh runs long
# ones. MODEL_SEEDS, MODEL_OPS, MODEL_SHRINK (seconds spent shrinking a failing sequence, 0:
# off) and MODEL_AVOID (model.py --avoid: known defects not to provoke, to look past them by
# hand; tests/model/README.md) override the defaults.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")/../model" && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3
seeds=${MODEL_SEEDS:-"1 2 3"}
draft_seed=${MODEL_DRAFT_SEED:-4}
ops=${MODEL_OPS:-150}
shrink=${MODEL_SHRINK:-15}
avoid=()
[ -n "${MODEL_AVOID:-}" ] && avoid=(--avoid "$MODEL_AVOID")
# commits only when the model asks (setxattr user.artifs.commit, fsync of the folder)
opts="commit_delay=600000"

start "$opts"
mkdir "$MNT/p"
failed=""
passed=()
# run SEED [model.py run options]: one sequence on artifact p/sSEED
run() {
	local s=$1
	shift
	mkdir "$MNT/p/s$s" "$T/ref-$s"
	"$py" "$here/model.py" run --head "$MNT/p/s$s" --ref "$T/ref-$s" --seed "$s" --ops "$ops" \
		--commit-every 20 --check-every 10 --shrink "$shrink" "${avoid[@]}" \
		--snapshots "$T/snap-$s.json" "$@"
}
for s in $seeds; do
	if run "$s"; then passed+=("$s"); else failed="$failed $s"; fi
done
draft_ok=
if run "$draft_seed" --leave-draft; then draft_ok=1; else failed="$failed $draft_seed"; fi

# verify LABEL [model.py verify options]: every version of every passed seed equals its snapshot
verify() {
	local s label=$1
	shift
	for s in "${passed[@]}"; do
		"$py" "$here/model.py" verify --art "$MNT/p/s$s" --snapshots "$T/snap-$s.json" \
			--label "seed $s, $label" "$@" || failed="$failed $s($label)"
	done
}
crash
start "$opts"
verify "after kill -9"
if [ -n "$draft_ok" ]; then
	# the recovered draft: still the reference; committed, it is the next version
	if "$py" "$here/model.py" verify --art "$MNT/p/s$draft_seed" --snapshots "$T/snap-$draft_seed.json" \
		--ref "$T/ref-$draft_seed" --commit "${avoid[@]}" --label "seed $draft_seed, draft after kill -9"; then
		passed+=("$draft_seed")
	else
		failed="$failed $draft_seed(draft after kill -9)"
	fi
fi
stop
start "$opts"
verify "after remount" --inodes
stop
"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" >>"$LOG" 2>&1 || fail "artifs rebuild failed (see log)"
start "$opts"
verify "after rebuild"
stop
[ -z "$failed" ] || fail "model mismatches for seed(s):$failed (the output above has each seed's operations and a shrunk sequence)"
