# The mount point (issue 13): a folder that holds files, or an artifs mount already, is
# refused with a reason before anything is created, unless -o nonempty; a missing one says
# to create it; store and state folders that cannot be made are refused before either is.
. "$(dirname "$0")/lib.sh"
refused() { # WHY-PATTERN MOUNT-ARGS...: the mount fails with exit 1 and says why
	local want=$1 rc=0
	shift
	timeout 20 "$ARTIFS_BIN" mount -f "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc -eq 1 ] || fail "artifs mount $* exited $rc, not 1: $(cat "$T/err")"
	grep -q "$want" "$T/err" || fail "artifs mount $*: unclear refusal: $(cat "$T/err")"
}
full=$T/full
mkdir -p "$full"
echo keep >"$full/precious"
refused "is not empty" -o "store=$T/s1,state=$T/st1" "$full"
[ ! -e "$T/s1" ] && [ ! -e "$T/st1" ] || fail "a refused mount created its store or state"
[ "$(cat "$full/precious")" = keep ] || fail "the folder's file changed"
refused "create the folder first" -o "store=$T/s1,state=$T/st1" "$T/missing"

# -o nonempty mounts over it; the file is hidden while mounted and back after.
"$ARTIFS_BIN" mount -f -o "store=$T/s1,state=$T/st1,nonempty" "$full" >>"$LOG" 2>&1 &
p1=$!
wait_for test -e "$full/.artifs/version" || fail "-o nonempty did not mount"
[ ! -e "$full/precious" ] || fail "the hidden file shows through the mount"

# An artifs mount already: refused, even though its root lists nothing but .artifs.
refused "an artifs mount already" -o "store=$T/s2,state=$T/st2" "$full"
fusermount3 -u "$full" || fail "unmount failed"
wait "$p1" || fail "the daemon exited with an error"
[ "$(cat "$full/precious")" = keep ] || fail "the file is not back after the unmount"

# Folders that cannot be used or made are refused before either is made: a bad state= leaves
# no new store behind, a bad store= no new state.
: >"$T/plain"
refused "state=/proc/nope/state: cannot make folders in /proc" -o "store=$T/s3,state=/proc/nope/state" "$MNT"
refused "store=/proc/nope/store: cannot make folders in /proc" -o "store=/proc/nope/store,state=$T/st3" "$MNT"
refused "is not a folder" -o "store=$T/plain,state=$T/st3" "$MNT"
refused "Not a directory" -o "store=$T/s3,state=$T/plain/x" "$MNT"
[ ! -e "$T/s3" ] && [ ! -e "$T/st3" ] || fail "a refused mount made its store or state"
ls -a "$T" | grep -q artifs-probe && fail "a probe folder was left in $T"

# An empty folder mounts as before.
start
stop
