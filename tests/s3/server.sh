#!/usr/bin/env bash
# A real S3 endpoint for the tests: a single-node Ceph cluster (one monitor, one BlueStore OSD
# in a sparse file, one RADOS Gateway) with every file it writes under a directory the caller
# owns, listening only on 127.0.0.1.
#
#   eval "$(tests/s3/server.sh start DIR PORT)"   # RGW on PORT, the monitor on PORT+1
#   ...   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL are now set
#   tests/s3/server.sh stop DIR
#
# start installs the Debian packages it needs (a no-op when present), creates the cluster the
# first time (mkfs) or reuses DIR's monitor and OSD data on later starts, creates the S3 user
# with fixed test credentials (no bucket), prints the three variables on stdout, and returns
# only once a signed S3 request succeeds. Progress and errors go to stderr, so stdout stays
# fit for eval. stop ends the daemons recorded in DIR/run/*.pid and waits for them to exit;
# it is safe twice and after a failed start. See tests/s3/README.md.
set -euo pipefail

ACCESS_KEY=ARTIFSTESTACCESSKEY0
SECRET_KEY=artifs-test-secret-key-not-a-real-secret0
UID_NAME="test"
# Bounds of the polling, in seconds: the whole start, and the wait for each daemon to exit.
START_LIMIT=${S3_START_LIMIT:-120}
STOP_LIMIT=30
# Daemons in the order they start; stop goes backwards.
DAEMONS=(mon.a osd.0 client.rgw)

me=$(basename "$0")
say() { echo "$me: $*" >&2; }
die() {
	say "error: $*"
	exit 1
}

usage() {
	echo "usage: $me start DIR PORT | stop DIR" >&2
	exit 2
}

# ---------------------------------------------------------------------------------------------
# Packages. ceph-mon brings ceph-base (monmaptool, ceph-osd's helpers) and radosgw brings
# ceph-common (the ceph CLI and radosgw-admin); curl is what start polls with.

PKGS=(radosgw ceph-mon ceph-osd curl)

install_packages() {
	local p missing=()
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || die "packages missing (${missing[*]}) and not root to install them"
	say "installing ${missing[*]} (once; ~240 MB)"
	apt-get update -q >&2 || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
		die "apt-get install ${missing[*]} failed"
}

# ---------------------------------------------------------------------------------------------
# Layout of DIR: ceph.conf (rewritten by every start), monmap, mon/ (monitor store), osd/ (OSD
# data and its sparse block file), rgw/, crash/, run/ (admin sockets, pid files), log/ (one
# log per daemon, plus mkfs.out and user.out), cluster (fsid and port; written once mkfs is
# done, so its presence means DIR holds a whole cluster).

write_conf() {
	local dir=$1 port=$2 fsid=$3
	local monport=$((port + 1))
	# Every path is spelled out so nothing lands in /var/lib/ceph, /var/run/ceph or
	# /var/log/ceph, and two clusters in two DIRs never share a file.
	cat >"$dir/ceph.conf" <<EOF
# Written by tests/s3/server.sh: a single-node throwaway cluster for tests.
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$monport
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.1/32
ms bind msgr1 = false
ms bind ipv6 = false
# No cephx: nothing here is secret, and without keys no keyring has to be made or found.
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
keyring = /dev/null
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
mon cluster log file = $dir/log/cluster.log
crash dir = $dir/crash
exporter sock dir = $dir/run
log to syslog = false
err to syslog = false
# One OSD: every pool has one replica, and CRUSH may place it on that OSD's own host.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# Small caches: the test machines have 2 cores, and the daemons' defaults assume a server.
mon memory target = 268435456
rocksdb cache size = 33554432

[mon]
mon data = $dir/mon
mon cluster log to file = true
# Health warnings that mean nothing on a throwaway single-node cluster without cephx.
mon warn on pool no app = false
mon warn on insecure global id reclaim allowed = false
# Each monitor map change (radosgw's first start makes six pools, each a few changes) waits
# out the proposal interval, 1 s by default: 16 s to a first start, 6 s with 0.1 s.
paxos propose interval = 0.1
paxos min wait = 0.01

[osd]
osd data = $dir/osd
osd objectstore = bluestore
# BlueStore in a sparse file, osd/block (only written blocks use disk).
bluestore block create = true
bluestore block size = 8589934592
bluestore block db create = false
bluestore block wal create = false
osd memory target = 536870912
bluestore cache autotune = false
bluestore cache size = 67108864
osd crush update on start = true

[client]
# Clients (the ceph CLI, radosgw-admin) get a socket per process so concurrent ones don't clash.
admin socket = $dir/run/\$name.\$pid.asok
log file = $dir/log/\$name.log

[client.rgw]
# radosgw defaults its monitor connection to "secure" mode only, which needs cephx; without
# this it retries the monitor forever with "get_initial_auth_request returned -13".
ms mon client mode = crc secure
admin socket = $dir/run/\$name.asok
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw data = $dir/rgw
EOF
}

# Prints the pid recorded for daemon $2 in DIR $1 if that process is still alive and is the
# daemon started with DIR's ceph.conf (so a recycled pid is never signalled).
live_pid() {
	local dir=$1 name=$2 pid
	[ -f "$dir/run/$name.pid" ] || return 1
	pid=$(cat "$dir/run/$name.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$dir/ceph.conf" || return 1
	echo "$pid"
}

# True while process $1 exists and is not a zombie (a daemon whose parent has not reaped it
# has exited all the same).
alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "${st%% *}" != Z ]
}

# Starts daemon binary $2 named $3 in the foreground of a background job, recording its pid.
# It gets no descriptor of ours: stdin/stdout/stderr go to /dev/null and its log, and every
# other inherited descriptor is closed, so `eval "$(server.sh start ...)"`, a pipe, or a test
# runner holding fd 3 (bats) is not kept waiting for the daemon to exit.
spawn() {
	local dir=$1 bin=$2 name=$3
	shift 3
	(
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			[ "$fd" -le 2 ] || eval "exec $fd>&-" 2>/dev/null || true
		done
		exec "$bin" -f -c "$dir/ceph.conf" "$@"
	) </dev/null >>"$dir/log/$name.stdout" 2>&1 &
	# The subshell execs the daemon, so $! is the daemon's own pid.
	echo $! >"$dir/run/$name.pid"
}

tail_logs() {
	local dir=$1 f
	# The daemons' own logs, what mkfs and radosgw-admin said, and each daemon's stderr
	# (where it reports a failure to start before its log is open).
	for f in "$dir"/log/{mon.a,osd.0,client.rgw}.log "$dir"/log/*.out "$dir"/log/*.stdout; do
		[ -s "$f" ] || continue
		echo "--- $f (last lines)" >&2
		grep -v '^$' "$f" | tail -n 10 >&2 || true
	done
}

START_DIR=
start_failed() {
	local rc=$?
	[ $rc -eq 0 ] && return 0
	if [ -n "$START_DIR" ]; then
		tail_logs "$START_DIR"
		say "start failed; stopping what it started"
		do_stop "$START_DIR" || true
	fi
	exit $rc
}

deadline=0
time_left() { [ "$(date +%s)" -lt "$deadline" ]; }

# Runs the ceph CLI against DIR's cluster; each call is bounded, as a monitor that is not up
# yet would otherwise make it retry for 5 minutes.
ceph_cli() {
	local dir=$1
	shift
	timeout 30 ceph -c "$dir/ceph.conf" --connect-timeout 10 "$@"
}

do_start() {
	local dir=$1 port=$2
	if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1024 ] || [ "$port" -gt 65534 ]; then
		die "PORT must be a number from 1024 to 65534 (the monitor takes PORT+1), not '$port'"
	fi
	[ -d "$dir" ] || die "DIR '$dir' does not exist (the caller creates it)"
	dir=$(cd "$dir" && pwd)
	case "$dir" in *[[:space:]]*) die "DIR must not contain spaces (ceph.conf paths): '$dir'" ;; esac
	# BlueStore opens its block file with O_DIRECT, which tmpfs refuses.
	[ "$(stat -f -c %T "$dir")" != tmpfs ] || die "DIR '$dir' is on tmpfs; BlueStore needs O_DIRECT"

	install_packages

	local name
	for name in "${DAEMONS[@]}"; do
		if live_pid "$dir" "$name" >/dev/null; then
			die "$name of $dir is already running; run '$me stop $dir' first"
		fi
	done
	local monport=$((port + 1)) p
	for p in "$port" "$monport"; do
		# ss is in iproute2, which is not always present; fall back to /proc/net/tcp.
		if grep -qiE "^ *[0-9]+: [0-9A-F]{8}:$(printf '%04X' "$p") [0-9A-F]{8}:0000 0A" /proc/net/tcp; then
			die "port $p is already in use"
		fi
	done

	# The cluster's identity is kept so a restart reuses DIR's data with the same fsid; a
	# different PORT on restart is refused because the monmap holds the monitor's address.
	# DIR/cluster is written only once both mkfs steps are done, so mon/ or osd/ without it
	# is what a failed first start leaves.
	local fsid fresh=0
	if [ -f "$dir/cluster" ]; then
		fsid=$(sed -n 's/^fsid=//p' "$dir/cluster")
		local oldport
		oldport=$(sed -n 's/^port=//p' "$dir/cluster")
		[ "$oldport" = "$port" ] || die "$dir holds a cluster made for port $oldport, not $port"
	else
		if [ -e "$dir/mon" ] || [ -e "$dir/osd" ]; then
			die "$dir holds a half-made cluster (mon/ or osd/ from a failed first start); use a fresh DIR"
		fi
		fsid=$(cat /proc/sys/kernel/random/uuid)
		fresh=1
	fi

	# From here on a failure stops whatever this start has launched and shows the logs.
	START_DIR=$dir
	trap start_failed EXIT
	deadline=$(($(date +%s) + START_LIMIT))
	mkdir -p "$dir/run" "$dir/log" "$dir/crash" "$dir/rgw"
	write_conf "$dir" "$port" "$fsid"
	local conf=$dir/ceph.conf

	local t0
	t0=$(date +%s)
	if [ $fresh = 1 ]; then
		say "creating a cluster in $dir"
		mkdir -p "$dir/mon" "$dir/osd"
		monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$monport]" "$dir/monmap" \
			>>"$dir/log/mkfs.out" 2>&1 || die "monmaptool failed"
		ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" >>"$dir/log/mkfs.out" 2>&1 ||
			die "ceph-mon --mkfs failed"
	fi
	spawn "$dir" ceph-mon mon.a -i a
	# The monitor answers once it has formed its one-member quorum.
	until ceph_cli "$dir" mon stat >/dev/null 2>&1; do
		time_left || die "the monitor did not answer within ${START_LIMIT}s"
		live_pid "$dir" mon.a >/dev/null || die "ceph-mon exited"
		sleep 0.2
	done

	if [ $fresh = 1 ]; then
		local osduuid id
		osduuid=$(cat /proc/sys/kernel/random/uuid)
		id=$(ceph_cli "$dir" osd new "$osduuid" 2>>"$dir/log/mkfs.out") || die "ceph osd new failed"
		[ "$id" = 0 ] || die "ceph osd new gave id '$id', expected 0"
		ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osduuid" >>"$dir/log/mkfs.out" 2>&1 ||
			die "ceph-osd --mkfs failed"
		# Written last, so a restart can tell a finished cluster from a half-made one.
		printf 'fsid=%s\nport=%s\n' "$fsid" "$port" >"$dir/cluster"
	fi
	spawn "$dir" ceph-osd osd.0 -i 0
	# radosgw creates its pools at start and needs their placement groups active, which
	# needs the OSD up.
	until ceph_cli "$dir" osd dump 2>/dev/null | grep -q '^osd\.0 up'; do
		time_left || die "osd.0 did not come up within ${START_LIMIT}s"
		live_pid "$dir" osd.0 >/dev/null || die "ceph-osd exited"
		sleep 0.2
	done

	spawn "$dir" radosgw client.rgw -n client.rgw
	until curl -s -o /dev/null -m 5 "http://127.0.0.1:$port/"; do
		time_left || die "radosgw did not answer HTTP on 127.0.0.1:$port within ${START_LIMIT}s"
		live_pid "$dir" client.rgw >/dev/null || die "radosgw exited"
		sleep 0.2
	done

	# The user lives in RADOS, so it survives a restart; create it only the first time.
	if ! timeout 60 radosgw-admin -c "$conf" user info --uid "$UID_NAME" >/dev/null 2>&1; then
		timeout 60 radosgw-admin -c "$conf" user create --uid "$UID_NAME" --display-name "$UID_NAME" \
			--access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" >>"$dir/log/user.out" 2>&1 ||
			die "radosgw-admin user create failed"
	fi
	# Ready means a signed request works, not just that the port is open.
	local code
	until code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 \
		--aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "http://127.0.0.1:$port/") && [ "$code" = 200 ]; do
		time_left || die "a signed ListBuckets did not succeed within ${START_LIMIT}s (last HTTP $code)"
		sleep 0.2
	done
	trap - EXIT
	say "ready on 127.0.0.1:$port in $(($(date +%s) - t0))s ($([ $fresh = 1 ] && echo created || echo restarted))"
	echo "AWS_ACCESS_KEY_ID=$ACCESS_KEY"
	echo "AWS_SECRET_ACCESS_KEY=$SECRET_KEY"
	echo "AWS_ENDPOINT_URL=http://127.0.0.1:$port"
}

do_stop() {
	local dir=$1
	[ -d "$dir" ] || return 0
	dir=$(cd "$dir" && pwd)
	local i name pid
	# Backwards: the gateway first, then the OSD, then the monitor they both talk to.
	for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
		name=${DAEMONS[i]}
		if pid=$(live_pid "$dir" "$name"); then
			kill -TERM "$pid" 2>/dev/null || true
			local n=0
			while alive "$pid" && [ $n -lt $((STOP_LIMIT * 10)) ]; do
				sleep 0.1
				n=$((n + 1))
			done
			if alive "$pid"; then
				say "$name ($pid) ignored SIGTERM for ${STOP_LIMIT}s; killing it"
				kill -KILL "$pid" 2>/dev/null || true
				n=0
				while alive "$pid" && [ $n -lt 50 ]; do
					sleep 0.1
					n=$((n + 1))
				done
				! alive "$pid" || say "warning: $name ($pid) still exists after SIGKILL"
			fi
		fi
		rm -f "$dir/run/$name.pid"
	done
}

case "${1:-}" in
start)
	[ $# -eq 3 ] || usage
	do_start "$2" "$3"
	;;
stop)
	[ $# -eq 2 ] || usage
	do_stop "$2"
	;;
*) usage ;;
esac
