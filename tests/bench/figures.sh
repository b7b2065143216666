#!/usr/bin/env bash
# Figures for the local store: write+commit of a large incompressible file, cold and warm
# sequential reads of it from @v1, and the daemon's peak RSS, each next to the same operation
# on the plain directory that holds the store, in the same run. Prints a table; never fails on
# speed. Usage: tests/bench/figures.sh [SIZE_MIB] (default 1024). Needs root for drop_caches.
set -euo pipefail
SIZE=${1:-1024}
BIN=${ARTIFS_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/artifs}
T=$(mktemp -d /var/tmp/artifs-bench.XXXXXX)
MNT=$T/mnt; STORE=$T/store; STATE=$T/state; NATIVE=$T/native
mkdir -p "$MNT" "$NATIVE"
PID=
cleanup() {
	mountpoint -q "$MNT" && fusermount3 -uz "$MNT"
	[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
start() {
	"$BIN" mount -f -o "store=$STORE,state=$STATE" "$MNT" 2>>"$T/log" &
	PID=$!
	for _ in $(seq 200); do mountpoint -q "$MNT" && return; sleep 0.05; done
	echo "mount failed"; exit 1
}
stop() { fusermount3 -u "$MNT"; wait "$PID"; PID=; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }
rate() { python3 -c "import sys; print(f'{$SIZE/($2-$1):8.1f}')" "$@"; }
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$PID/status"; }

head -c $((SIZE << 20)) /dev/urandom >"$T/src"
drop

# Write: native is cp + fsync; artifs is cp, then the synchronous commit.
t0=$(now); cp "$T/src" "$NATIVE/f"; sync -f "$NATIVE/f"; t1=$(now)
native_w=$(rate "$t0" "$t1")
start
mkdir -p "$MNT/bench/big"
t0=$(now); cp "$T/src" "$MNT/bench/big/f"; setfattr -n user.artifs.commit -v bench "$MNT/bench/big"; t1=$(now)
artifs_w=$(rate "$t0" "$t1")
rss_w=$(hwm)
stop

drop
t0=$(now); cat "$NATIVE/f" >/dev/null; t1=$(now); native_cold=$(rate "$t0" "$t1")
t0=$(now); cat "$NATIVE/f" >/dev/null; t1=$(now); native_warm=$(rate "$t0" "$t1")
start
drop
t0=$(now); cat "$MNT/bench/big/@v1/f" >/dev/null; t1=$(now); artifs_cold=$(rate "$t0" "$t1")
t0=$(now); cat "$MNT/bench/big/@v1/f" >/dev/null; t1=$(now); artifs_warm=$(rate "$t0" "$t1")
rss_r=$(hwm)
cmp "$T/src" "$MNT/bench/big/@v1/f" || echo "MISMATCH: @v1 differs from the source"
stop

printf '%-28s %10s %10s %8s\n' "$SIZE MiB incompressible" "artifs" "native" "ratio"
for row in "write+commit MiB/s:$artifs_w:$native_w" "cold seq read MiB/s:$artifs_cold:$native_cold" \
	"warm seq read MiB/s:$artifs_warm:$native_warm"; do
	IFS=: read -r name a n <<<"$row"
	printf '%-28s %10s %10s %8s\n' "$name" "$a" "$n" "$(python3 -c "print(f'{$a/$n:.2f}x')")"
done
printf '%-28s %10s\n' "daemon peak RSS, write (MiB)" "$rss_w"
printf '%-28s %10s\n' "daemon peak RSS, read (MiB)" "$rss_r"
