# Commands find the index by themselves (issue 13): the daemon publishes its store and state
# in .artifs/mount, and log, lineage, find and diff read the state of the mount that their
# path or URI names (or $ARTIFS_MOUNT, or the only artifs mount) without --state; --state and
# $ARTIFS_STATE still come first.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
a=$MNT/p/a
mkdir -p "$a"
echo one >"$a/f"
setfattr -n user.artifs.commit -v one "$a" || fail "commit of v1 failed"
echo two >"$a/f"
setfattr -n user.artifs.commit -v two "$a" || fail "commit of v2 failed"

python3 - "$MNT/.artifs/mount" "$STATE" "$STORE" <<'PY' || fail ".artifs/mount is $(cat "$MNT/.artifs/mount")"
import json, os, sys
d = json.load(open(sys.argv[1]))
assert d["state"] == os.path.realpath(sys.argv[2]), d
assert d["store"] == sys.argv[3], d
assert isinstance(d["pid"], int) and d["version"], d
PY
unset ARTIFS_STATE ARTIFS_MOUNT
"$ARTIFS_BIN" log "$a" | grep -q '^@v2 ' || fail "artifs log by path without --state failed"
(cd "$a" && "$ARTIFS_BIN" lineage @v1 --down) >/dev/null || fail "artifs lineage by a relative path failed"
"$ARTIFS_BIN" diff "$a/@v1" "$a/@v2" | grep -q '^M f ' || fail "artifs diff without --state failed"
ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" log artifs://p/a | grep -q '^@v1 ' || fail "artifs log by URI without --state failed"
ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" find --project p | grep -qx 'artifs://p/a@v2' || fail "artifs find without --state failed"
if [ "$(grep -c ' - fuse.artifs ' /proc/self/mountinfo)" = 1 ]; then
	"$ARTIFS_BIN" find --project p | grep -qx 'artifs://p/a@v1' || fail "artifs find on the only mount failed"
else
	echo "note: other artifs mounts exist; the only-mount case is not checked"
fi
# $ARTIFS_STATE and --state come before the mount's.
ARTIFS_STATE=$T/nowhere "$ARTIFS_BIN" log "$a" 2>"$T/err" && fail "\$ARTIFS_STATE was not used"
grep -q "$T/nowhere" "$T/err" || fail "the refusal does not name \$ARTIFS_STATE: $(cat "$T/err")"
"$ARTIFS_BIN" log --state "$T/nowhere" "$a" 2>"$T/err" && fail "--state was not used"
grep -q "$T/nowhere" "$T/err" || fail "the refusal does not name --state: $(cat "$T/err")"
stop
