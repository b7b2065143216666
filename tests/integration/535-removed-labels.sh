# A project or artifact removed and made again under its name starts without its old labels
# (their store objects go with it), on this host and on a fresh one.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
mkdir -p "$MNT/p/a"
setfattr -n user.label.x -v old "$MNT/p/a"
setfattr -n user.label.y -v old "$MNT/p"
rmdir "$MNT/p/a"
mkdir "$MNT/p/a"
if getfattr -n user.label.x "$MNT/p/a" >/dev/null 2>&1; then fail "old label back on the artifact"; fi
rmdir "$MNT/p/a" "$MNT/p"
mkdir -p "$MNT/p/a"
if getfattr -n user.label.y "$MNT/p" >/dev/null 2>&1; then fail "old label back on the project"; fi
stop
STATE=$T/state2
start "commit_delay=600000"
if getfattr -n user.label.x "$MNT/p/a" >/dev/null 2>&1; then fail "old label back on the artifact on a fresh host"; fi
if getfattr -n user.label.y "$MNT/p" >/dev/null 2>&1; then fail "old label back on the project on a fresh host"; fi
stop
echo ok
