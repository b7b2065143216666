# Shared set-up of the integration tests: a private temp dir, a real mount through
# /dev/fuse, bounded polling, and a trap that unmounts and stops the daemon even when a test
# fails. Source it from tests/integration/NNN-name.sh.
set -euo pipefail

: "${ARTIFS_BIN:?ARTIFS_BIN must name the artifs binary}"
if [ ! -c /dev/fuse ]; then
	echo "skip: no /dev/fuse"
	exit 77
fi

# No config file of this machine's (/etc/artifs/config, ~/.config/artifs/config) changes a
# test's mounts; 607-config.sh sets its own.
export ARTIFS_CONFIG=

T=$(mktemp -d /tmp/artifs-test.XXXXXX)
MNT=$T/mnt
STORE=$T/store
STATE=$T/state
LOG=$T/daemon.log
PID=
mkdir -p "$MNT"

# Commands a test adds (e.g. stopping a server) run first at exit, also on failure.
CLEANUP_HOOKS=()
# Logs besides the daemon's (e.g. a proxy's) whose tail is shown when a test fails.
FAILURE_LOGS=()

# unmount_any DIR: lazily unmounts DIR if anything is mounted there, also a FUSE mount whose
# daemon died (where `mountpoint -q` fails with "Transport endpoint is not connected").
unmount_any() {
	if awk -v d="$1" '$2 == d { found = 1 } END { exit !found }' /proc/self/mounts; then
		fusermount3 -uz "$1" 2>/dev/null || umount -l "$1" 2>/dev/null || true
	fi
}

cleanup() {
	local rc=$? h
	for h in "${CLEANUP_HOOKS[@]}"; do eval "$h" || true; done
	unmount_any "$MNT"
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -9 "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	if [ $rc -ne 0 ]; then
		for h in "${FAILURE_LOGS[@]}"; do
			[ -f "$h" ] || continue
			echo "--- $(basename "$h") (last 20 lines)"
			tail -n 20 "$h"
		done
	fi
	if [ $rc -ne 0 ] && [ -f "$LOG" ]; then
		echo "--- daemon log (last 40 lines)"
		tail -n ${ARTIFS_TEST_LOG_LINES:-40} "$LOG"
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# wait_for CMD...: polls CMD up to 10 s (bounded; the sleep only paces the polling).
wait_for() {
	local i
	for i in $(seq 200); do
		if "$@"; then return 0; fi
		sleep 0.05
	done
	return 1
}

# link_is PATH TARGET: PATH is a symlink to TARGET now. For wait_for, which must run the
# check each time: `wait_for test "$(readlink x)" = y` would expand readlink only once.
link_is() { [ "$(readlink "$1" 2>/dev/null)" = "$2" ]; }

# start [extra -o options]: mounts in the foreground process, waits until it serves.
start() {
	local opts="store=$STORE,state=$STATE${1:+,$1}"
	"$ARTIFS_BIN" mount -f -o "$opts" "$MNT" >>"$LOG" 2>&1 &
	PID=$!
	wait_for mountpoint -q "$MNT" || fail "mount did not come up"
}

# host_up MNT STATE [extra -o options]: another host's mount of $STORE (its own state), in
# the background, unmounted and killed at exit; its daemon's pid in HOST_PID.
host_up() {
	mkdir -p "$1"
	"$ARTIFS_BIN" mount -f -o "store=$STORE,state=$2${3:+,$3}" "$1" >>"$LOG" 2>&1 &
	HOST_PID=$!
	CLEANUP_HOOKS+=("fusermount3 -uz '$1' 2>/dev/null; kill -9 $HOST_PID 2>/dev/null")
	wait_for mountpoint -q "$1" || fail "the mount at $1 did not come up"
}

# stop: unmounts and checks that the daemon exits 0.
stop() {
	fusermount3 -u "$MNT" || fail "fusermount3 -u failed"
	local rc=0
	wait "$PID" || rc=$?
	PID=
	[ $rc -eq 0 ] || fail "daemon exited with $rc"
}

# crash: kill -9 the daemon and clear the dead mount.
crash() {
	kill -9 "$PID"
	wait "$PID" 2>/dev/null || true
	PID=
	fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
}

# expect_errno NAME 'python statement using os': the statement must fail with errno NAME.
expect_errno() {
	local want=$1 stmt=$2
	python3 - "$want" "$stmt" <<'PY' || fail "expected $want from: $stmt"
import errno, os, sys
want, stmt = sys.argv[1], sys.argv[2]
try:
    exec(stmt)
except OSError as e:
    if e.errno == getattr(errno, want):
        sys.exit(0)
    print(f"got {errno.errorcode.get(e.errno, e.errno)} ({e}) instead of {want}", file=sys.stderr)
    sys.exit(1)
print(f"no error; expected {want}", file=sys.stderr)
sys.exit(1)
PY
}

# versions DIR: the @vN names in an artifact folder, one per line, numerically.
versions() {
	ls -a "$1" | grep -E '^@v[0-9]+$' | sort -t v -k2 -n || true
}

# wait_version DIR N: polls until DIR/@vN exists.
wait_version() {
	wait_for test -d "$1/@v$2" || fail "no @v$2 in $1 (have: $(versions "$1" | tr '\n' ' '))"
}

# s3_server: starts the project's Ceph RGW on a free loopback port under $T, exports the
# AWS_* variables for it and makes bucket $1; stopped at exit.
s3_server() {
	local here port env="" try
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../s3" && pwd)
	S3_SCRIPT=$here/server.sh S3_DIR=$T/rgw
	CLEANUP_HOOKS+=("'$here/server.sh' stop '$T/rgw' >/dev/null 2>&1")
	# A free port can be taken by another process before the server binds it: try another.
	for try in 1 2 3; do
		port=$("$here/free-port.py" 20000)
		rm -rf "$T/rgw"
		mkdir -p "$T/rgw"
		env=$("$here/server.sh" start "$T/rgw" "$port" 2>>"$T/rgw.log") && break
		env=""
		"$here/server.sh" stop "$T/rgw" >>"$T/rgw.log" 2>&1 || true
	done
	[ -n "$env" ] || { tail -20 "$T/rgw.log"; fail "the S3 test server did not start"; }
	S3_PORT=$port
	eval "$env"
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL
	curl -sf -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X PUT "$AWS_ENDPOINT_URL/$1" ||
		fail "cannot create bucket $1"
}

# s3_stop / s3_restart: take the S3 test server away and bring it back (same data, same port).
s3_stop() { "$S3_SCRIPT" stop "$S3_DIR" >>"$T/rgw.log" 2>&1; }
s3_restart() {
	"$S3_SCRIPT" start "$S3_DIR" "$S3_PORT" >/dev/null 2>>"$T/rgw.log" ||
		fail "the S3 test server did not restart"
}
# s3_curl ARGS...: a signed request to the test server.
s3_curl() {
	curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

# fault_proxy: starts tests/s3/fault-proxy.py in front of the S3 test server (s3_server
# first): PP is its port, CTL its control URL, RGW the server's own URL; rules JSON replaces
# its rules. At exit, held requests are released first and the proxy is stopped.
fault_proxy() {
	local s3 py=/usr/bin/python3
	s3=$(cd "$(dirname "${BASH_SOURCE[0]}")/../s3" && pwd)
	[ -x "$py" ] || py=python3
	RGW=$AWS_ENDPOINT_URL
	PP=$("$s3/free-port.py" 40000) # the proxy, and its control port PP+1
	"$py" "$s3/fault-proxy.py" --port "$PP" --upstream "$RGW" --log "$T/proxy.log" 2>>"$T/proxy.err" &
	PROXY_PID=$!
	CTL=http://127.0.0.1:$((PP + 1))
	# First at exit: a held request goes on, so that nothing waits on it while the rest stops.
	CLEANUP_HOOKS=("curl -s -o /dev/null -X PUT $CTL/release" "${CLEANUP_HOOKS[@]}"
		"kill $PROXY_PID 2>/dev/null; wait $PROXY_PID 2>/dev/null")
	FAILURE_LOGS+=("$T/proxy.log" "$T/proxy.err")
	wait_for curl -sf -o /dev/null "$CTL/health" || fail "the proxy did not come up: $(cat "$T/proxy.err")"
}
rules() { curl -sf -o /dev/null -X PUT --data-binary "$1" "$CTL/rules" || fail "the proxy refused rules $1"; }
# release: the proxy lets every held request go on. held_is N: it holds N requests now.
release() { curl -sf -o /dev/null -X PUT "$CTL/release" || fail "the proxy refused the release"; }
held_is() {
	[ "$(curl -sf "$CTL/stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["held"])')" = "$1" ]
}
# finished PID: the background job PID has ended
finished() { ! kill -0 "$1" 2>/dev/null; }

# store_format1: makes $STORE (a directory, or s3://bucket/prefix on the running test server)
# a store of format 1, every chunk its own object under chunks/, as artifs wrote before store
# format 2; call it before the first start, which then opens that store instead of creating
# one of format 2.
store_format1() {
	local f='{"artifs_store": 1, "chunk_min": 1048576, "chunk_avg": 4194304, "chunk_max": 16777216, "zstd_level": 3}'
	case $STORE in
	s3://*)
		local bp=${STORE#s3://}
		s3_curl -X PUT --data-binary "$f" "$AWS_ENDPOINT_URL/${bp%/}/format" >/dev/null ||
			fail "cannot write a format-1 'format' object to $STORE"
		;;
	*) mkdir -p "$STORE" && printf '%s' "$f" >"$STORE/format" ;;
	esac
}
# store_bytes: the bytes of chunk data in a local store (format 1's chunks/, format 2's
# packs/).
store_bytes() {
	local d n=0
	for d in "$STORE/chunks" "$STORE/packs"; do
		[ -d "$d" ] && n=$((n + $(du -sb "$d" | cut -f1)))
	done
	echo "$n"
}

# ARTIFS_TEST_STORE=s3 runs the test against the S3 test server (a bucket of its own) instead
# of a local store directory; tests that look inside a local store say so with this.
local_store_only() {
	if [ "${ARTIFS_TEST_STORE:-local}" != local ]; then
		echo "skip: looks inside a local store directory"
		exit 77
	fi
}
if [ "${ARTIFS_TEST_STORE:-local}" = s3 ]; then
	s3_server suite
	STORE=s3://suite/t
fi
