# Mounting refuses a store directory that is not an artifs store, and a state directory that
# another daemon already uses.
. "$(dirname "$0")/lib.sh"
MNT2=$T/mnt2
mkdir -p "$MNT2"
cleanup_mnt2() {
	local rc=$?
	unmount_any "$MNT2"
	(exit $rc)
	cleanup
}
trap cleanup_mnt2 EXIT

# a directory with a stray file and no 'format' object
bad=$T/notastore
mkdir -p "$bad"
echo "my thesis" >"$bad/thesis.txt"
rc=0
timeout 30 "$ARTIFS_BIN" mount -f -o "store=$bad,state=$T/state-bad" "$MNT" >"$T/out" 2>"$T/err" || rc=$?
[ $rc -ne 124 ] || fail "mount -f on a non-store directory did not exit within 30 s"
[ $rc -ne 0 ] || fail "mount -f on a non-store directory exited 0"
[ -s "$T/err" ] || fail "mount -f on a non-store directory printed nothing on stderr"
if mountpoint -q "$MNT"; then fail "a mount appeared on a non-store directory"; fi
[ "$(ls -A "$bad")" = thesis.txt ] || fail "the mount attempt changed the directory: $(ls -A "$bad" | tr '\n' ' ')"
[ "$(cat "$bad/thesis.txt")" = "my thesis" ] || fail "the stray file changed"
echo "refused as it should (foreground): $(cat "$T/err")"

# the same without -f: the parent reports the failure
rc=0
timeout 30 "$ARTIFS_BIN" mount -o "store=$bad,state=$T/state-bad" "$MNT" >"$T/out" 2>"$T/err" || rc=$?
[ $rc -ne 124 ] || fail "mount (background) on a non-store directory did not exit within 30 s"
if mountpoint -q "$MNT"; then
	fusermount3 -u "$MNT" || true
	fail "a background mount appeared on a non-store directory"
fi
[ $rc -ne 0 ] || fail "mount (background) on a non-store directory exited 0"
[ -s "$T/err" ] || fail "mount (background) on a non-store directory printed nothing on stderr"
[ "$(ls -A "$bad")" = thesis.txt ] || fail "the background mount attempt changed the directory"

# a real mount works, then a second mount of the same state directory is refused
start "commit_delay=100"
mkdir "$MNT/proj" "$MNT/proj/art"
echo hi >"$MNT/proj/art/f"
wait_version "$MNT/proj/art" 1
rc=0
timeout 30 "$ARTIFS_BIN" mount -f -o "store=$STORE,state=$STATE" "$MNT2" >"$T/out2" 2>"$T/err2" || rc=$?
[ $rc -ne 124 ] || fail "the second mount of the state directory did not exit within 30 s"
[ $rc -ne 0 ] || fail "the second mount of the state directory exited 0"
if mountpoint -q "$MNT2"; then fail "a second mount of the same state directory appeared"; fi
grep -qi 'in use' "$T/err2" || fail "the refusal does not say 'in use': stderr was: $(cat "$T/err2")"
# the first mount is unharmed
[ "$(cat "$MNT/proj/art/@v1/f")" = hi ] || fail "the first mount broke after the refused second mount"
echo more >"$MNT/proj/art/g"
wait_version "$MNT/proj/art" 2
stop
# once the first daemon is gone the state directory can be mounted again (on the second point)
MNT_SAVE=$MNT
MNT=$MNT2
start "commit_delay=100"
[ "$(cat "$MNT/proj/art/@v2/g")" = more ] || fail "remount on the second mount point lost @v2"
stop
MNT=$MNT_SAVE
