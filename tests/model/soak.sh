#!/usr/bin/env bash
# Long model-based runs (tests/model/README.md): many seeds, thousands of operations each,
# every seed on its own artifact of one mount. The last seed of each batch leaves its draft
# uncommitted and the daemon is killed (kill -9); after the next mount every version of the
# batch is compared with its snapshot, the recovered draft with its reference (then it is
# committed and checked), and again after a remount and after `artifs rebuild`. Prints one
# line per seed and the failing seeds at the end; exit 1 when any failed.
#
#   ARTIFS_BIN=$PWD/build/artifs tests/model/soak.sh
#
# Environment: SOAK_SEEDS (how many, 20), SOAK_FIRST (first seed, 1000), SOAK_OPS (per seed,
# 3000), SOAK_BATCH (seeds per mount, 5), SOAK_MINUTES (start no seed after this, 0: no bound),
# SOAK_AVOID (model.py --avoid list, to look past known defects), SOAK_SHRINK (seconds to
# shrink a failing sequence, 120), SOAK_COMMIT_EVERY (25), SOAK_ARGS (more model.py run
# options, e.g. '--sparse-mib 40' for files of many chunks).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
set +e
py=/usr/bin/python3
[ -x "$py" ] || py=python3
n=${SOAK_SEEDS:-20}
first=${SOAK_FIRST:-1000}
ops=${SOAK_OPS:-3000}
batch=${SOAK_BATCH:-5}
minutes=${SOAK_MINUTES:-0}
shrink=${SOAK_SHRINK:-120}
every=${SOAK_COMMIT_EVERY:-25}
avoid=()
[ -n "${SOAK_AVOID:-}" ] && avoid=(--avoid "$SOAK_AVOID")
read -r -a extra <<<"${SOAK_ARGS:-}"
opts="commit_delay=600000"
t0=$SECONDS
failed=()
ran=0

run_batch() {
	local s passed=() b=$1 last=${!#} draft='' leave
	shift
	start "$opts"
	mkdir -p "$MNT/soak"
	for s in "$@"; do
		mkdir "$MNT/soak/s$s" "$T/ref-$s"
		leave=()
		[ "$s" = "$last" ] && leave=(--leave-draft)
		if "$py" "$here/model.py" run --head "$MNT/soak/s$s" --ref "$T/ref-$s" --seed "$s" \
			--ops "$ops" --commit-every "$every" --shrink "$shrink" "${avoid[@]}" "${extra[@]}" \
			"${leave[@]}" --snapshots "$T/snap-$s.json" >"$T/out-$s" 2>&1; then
			if [ ${#leave[@]} -gt 0 ]; then draft=$s; else passed+=("$s"); fi
			echo "ok   seed $s: $(grep -o '[0-9]* versions, equal ([0-9.]* s)' "$T/out-$s")${leave:+ (draft left)}"
		else
			failed+=("$s")
			echo "FAIL seed $s"
			sed 's/^/    /' "$T/out-$s"
		fi
	done
	crash
	start "$opts"
	for s in "${passed[@]}"; do
		"$py" "$here/model.py" verify --art "$MNT/soak/s$s" --snapshots "$T/snap-$s.json" \
			--label "seed $s after kill -9" || failed+=("$s(kill -9)")
	done
	if [ -n "$draft" ]; then
		if "$py" "$here/model.py" verify --art "$MNT/soak/s$draft" --snapshots "$T/snap-$draft.json" \
			--ref "$T/ref-$draft" --commit "${avoid[@]}" --label "seed $draft, draft after kill -9"; then
			passed+=("$draft")
		else
			failed+=("$draft(draft after kill -9)")
		fi
	fi
	for s in "$@"; do rm -rf "$T/ref-$s"; done
	local step
	for step in remount rebuild; do
		local vopt=()
		[ $step = remount ] && vopt=(--inodes)
		stop
		if [ $step = rebuild ]; then
			"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" >>"$LOG" 2>&1 ||
				{ echo "FAIL: artifs rebuild (batch $b)"; failed+=("rebuild-$b"); }
		fi
		start "$opts"
		for s in "${passed[@]}"; do
			"$py" "$here/model.py" verify --art "$MNT/soak/s$s" --snapshots "$T/snap-$s.json" \
				--label "seed $s after $step" "${vopt[@]}" ||
				failed+=("$s($step)")
		done
	done
	stop
}

b=0
s=$first
while [ $ran -lt "$n" ]; do
	if [ "$minutes" -gt 0 ] && [ $((SECONDS - t0)) -ge $((minutes * 60)) ]; then
		echo "soak: time is up after $ran seeds"
		break
	fi
	seeds=()
	while [ ${#seeds[@]} -lt "$batch" ] && [ $ran -lt "$n" ]; do
		seeds+=("$s")
		s=$((s + 1))
		ran=$((ran + 1))
	done
	b=$((b + 1))
	run_batch $b "${seeds[@]}"
done
echo "soak: $ran seeds of $ops operations in $((SECONDS - t0)) s; failed: ${failed[*]:-none}"
if [ ${#failed[@]} -gt 0 ]; then
	echo "replay one: mount, mkdir an empty artifact A and an empty folder R, then"
	echo "  $py $here/model.py run --head A --ref R --seed SEED --ops $ops --commit-every $every ${avoid[*]} --shrink 120"
	exit 1
fi
exit 0
