# Configuration (issue 13): mount options from a config file, then $ARTIFS_<NAME>, then -o,
# each later one winning; artifs config prints the values and where each came from; a bad
# file line or variable is refused naming where it is.
. "$(dirname "$0")/lib.sh"
cfg=$T/config
cat >"$cfg" <<CFG
# artifs options, one per line
store=$STORE
state=$STATE   # trailing comments too
capture=0
commit_delay=600000
CFG
export ARTIFS_CONFIG=$cfg
out=$("$ARTIFS_BIN" config) || fail "artifs config failed"
grep -qx "state=$STATE	$cfg:3" <<<"$out" || fail "state is not from line 3: $out"
grep -qx "capture=0	$cfg:4" <<<"$out" || fail "capture is not from line 4: $out"
grep -qx "commit_idle=300000	default" <<<"$out" || fail "commit_idle is not the default: $out"
out=$(ARTIFS_COMMIT_DELAY=7 "$ARTIFS_BIN" config -o refresh=0) || fail "artifs config -o failed"
grep -qx 'commit_delay=7	$ARTIFS_COMMIT_DELAY' <<<"$out" || fail "the variable does not win over the file: $out"
grep -qx 'refresh=0	-o' <<<"$out" || fail "-o is not shown: $out"

# The mount takes the file: store and state from it, capture=0 (artifs run says so).
"$ARTIFS_BIN" mount -f "$MNT" >>"$LOG" 2>&1 &
PID=$!
wait_for mountpoint -q "$MNT" || fail "a mount from the config file did not come up"
[ -d "$STATE" ] || fail "the mount did not use the file's state"
rc=0
err=$(ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" run -- true 2>&1) || rc=$?
[ $rc -eq 1 ] && grep -q 'capture=0' <<<"$err" || fail "capture=0 from the file was not applied: $err"
stop
# -o wins over the file.
start "capture=1"
ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" run -- true 2>/dev/null || fail "-o capture=1 did not win over the file"
stop

# The user's file (~/.config/artifs/config) when $ARTIFS_CONFIG is not set.
mkdir -p "$T/home/.config/artifs"
echo "refresh=1234" >"$T/home/.config/artifs/config"
out=$(env -u ARTIFS_CONFIG -u XDG_CONFIG_HOME HOME="$T/home" "$ARTIFS_BIN" config) || fail "artifs config failed"
[ -e /etc/artifs/config ] ||
	grep -qx "refresh=1234	$T/home/.config/artifs/config:1" <<<"$out" || fail "the user's file is not read: $out"

# Refusals name the file and line, or the variable.
echo "no_such_option=1" >"$cfg"
rc=0
err=$("$ARTIFS_BIN" mount -f "$MNT" 2>&1) || rc=$?
[ $rc -eq 1 ] && grep -q "$cfg:1: no_such_option: no such option" <<<"$err" || fail "a bad line: rc $rc, $err"
echo "commit_delay=soon" >"$cfg"
rc=0
err=$("$ARTIFS_BIN" config 2>&1) || rc=$?
[ $rc -eq 1 ] && grep -q "$cfg:1: commit_delay=soon: not a whole number" <<<"$err" || fail "a bad value: rc $rc, $err"
: >"$cfg"
rc=0
err=$(ARTIFS_RCACHE=lots "$ARTIFS_BIN" config 2>&1) || rc=$?
[ $rc -eq 1 ] && grep -q 'ARTIFS_RCACHE: rcache=lots: not a size' <<<"$err" || fail "a bad variable: rc $rc, $err"
