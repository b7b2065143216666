# artifs status shows a running commit's progress (issue 13): bytes stored of the bytes the
# commit stores, while it runs; the plain draft line before and nothing after.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
export ARTIFS_MOUNT=$MNT
a=$MNT/p/big
mkdir -p "$a"
head -c $((512 << 20)) /dev/urandom >"$a/f"
"$ARTIFS_BIN" status | grep -qx 'draft	p/big' || fail "the draft is not listed before its commit: $("$ARTIFS_BIN" status)"
"$ARTIFS_BIN" commit "$a" >/dev/null &
c=$!
progress() { "$ARTIFS_BIN" status | grep -qE '^draft	p/big	committing: [0-9]+ of 536870912 bytes stored \([0-9]+%\)$'; }
wait_for progress || fail "status never showed the commit's progress: $("$ARTIFS_BIN" status)"
wait "$c" || fail "the commit failed"
[ -d "$a/@v1" ] || fail "no @v1 after the commit"
! "$ARTIFS_BIN" status | grep -q 'p/big' || fail "status still lists p/big: $("$ARTIFS_BIN" status)"
stop
