# shellcheck shell=bash
# Shared part of the bench suite (sourced by tests/bench/run.sh): a private directory under
# /var/tmp (the filesystem that holds the store and the native baseline), every mount and
# daemon registered so one trap ends them all (also on SIGINT/SIGTERM), timing, results and
# the final table.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TESTS_DIR=$(cd "$BENCH_DIR/.." && pwd)
BIN=${ARTIFS_BIN:-$TESTS_DIR/../build/artifs}
UTIL="python3 $BENCH_DIR/util.py"
export PYTHONDONTWRITEBYTECODE=1

T=$(mktemp -d /var/tmp/artifs-bench.XXXXXX)
RES=$T/results.tsv # id, system, value (one line per measurement)
ROWS=$T/rows.tsv   # id, title, unit, baseline, targets (one line per table row)
LOGS=$T/log
mkdir -p "$LOGS"
: >"$RES"
: >"$ROWS"

declare -A PIDOF=() MNTOF=() # FUSE daemon name -> pid, mountpoint
RGW_DIR=

say() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

# Unmounts $1 if anything is mounted there, also a FUSE mount whose daemon died (where
# `mountpoint -q` fails with "Transport endpoint is not connected").
unmount() {
	awk -v d="$1" '$2 == d { found = 1 } END { exit !found }' /proc/self/mounts || return 0
	fusermount3 -u "$1" 2>/dev/null || fusermount3 -uz "$1" 2>/dev/null || umount -l "$1" 2>/dev/null || true
}

cleanup() {
	local rc=$? n p m
	trap - EXIT INT TERM
	set +e
	for n in "${!MNTOF[@]}"; do unmount "${MNTOF[$n]}"; done
	# Anything else still mounted below $T (a daemon that was started but not registered).
	while read -r _ m _; do
		case "$m" in "$T"/*) unmount "$m" ;; esac
	done </proc/mounts
	for n in "${!PIDOF[@]}"; do
		p=${PIDOF[$n]}
		kill "$p" 2>/dev/null
	done
	for n in "${!PIDOF[@]}"; do
		p=${PIDOF[$n]}
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "$RGW_DIR" ] && "$TESTS_DIR/s3/server.sh" stop "$RGW_DIR" >/dev/null 2>&1
	if [ $rc -ne 0 ]; then
		say "bench stopped (exit $rc); daemon logs:"
		for f in "$LOGS"/*.log; do [ -s "$f" ] && { echo "--- $f"; tail -n 5 "$f"; }; done >&2
	fi
	if [ -n "${BENCH_KEEP:-}" ]; then say "kept $T"; else rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

now() { date +%s.%N; }
# timed CMD...: runs CMD, leaves its wall time in seconds in EL.
timed() {
	local t0 t1
	t0=$(now)
	"$@"
	t1=$(now)
	EL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
}
# div A B [FMT]: A / B.
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" 'BEGIN { printf f, a / b }'; }
drop() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# row ID TITLE UNIT BASELINE TARGETS: a table row. TARGETS: ';'-separated, each
# "SYS>=R*BASE" (ratio to another system's median), "SYS<=N" / "SYS>=N" (absolute), or "".
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$ROWS"; }
# rec ID SYS VALUE: one measurement ("n/a" when the system cannot do it).
rec() {
	printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RES"
	say "  $1 $2 = $3"
}

# fuse_up NAME MNT CMD...: runs a FUSE daemon (in the foreground) as a background job and
# waits until MNT is mounted; the daemon is registered for the trap.
fuse_up() {
	local name=$1 mnt=$2 i
	shift 2
	mkdir -p "$mnt"
	"$@" >>"$LOGS/$name.log" 2>&1 &
	PIDOF[$name]=$!
	MNTOF[$name]=$mnt
	for i in $(seq 600); do
		mountpoint -q "$mnt" && return 0
		kill -0 "${PIDOF[$name]}" 2>/dev/null || break
		sleep 0.05
	done
	tail -n 20 "$LOGS/$name.log" >&2
	say "$name did not mount at $mnt"
	return 1
}
# fuse_down NAME: unmounts and waits for the daemon to exit.
fuse_down() {
	local name=$1
	[ -n "${PIDOF[$name]:-}" ] || return 0
	fusermount3 -u "${MNTOF[$name]}" 2>/dev/null || {
		sleep 0.5
		fusermount3 -u "${MNTOF[$name]}" 2>/dev/null || fusermount3 -uz "${MNTOF[$name]}"
	}
	wait "${PIDOF[$name]}" 2>/dev/null || true
	unset "PIDOF[$name]"
}
hwm() { awk '/VmHWM/ { print int($2 / 1024) }' "/proc/${PIDOF[$1]}/status" 2>/dev/null || echo 0; }

# table: the one table of the run (medians, min-max, ratio to the row's baseline, targets).
table() {
	python3 - "$ROWS" "$RES" <<'PY'
import re, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
def key(r):
    m = re.match(r"(\d*)(.*)", r[0])
    return (int(m.group(1)) if m.group(1) else 0, m.group(2))
rows.sort(key=key)
vals = {}
order = {}
for l in open(sys.argv[2]):
    i, s, v = l.rstrip("\n").split("\t")
    order.setdefault(i, [])
    if s not in order[i]:
        order[i].append(s)
    vals.setdefault((i, s), [])
    if v != "n/a":
        vals[(i, s)].append(float(v))
def med(i, s):
    v = vals.get((i, s))
    return statistics.median(v) if v else None
def fmt(x):
    if x is None:
        return "n/a"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"
out = []
for i, title, unit, base, targets in rows:
    out.append(f"{i} {title} [{unit}]" + (f" (ratio to {base})" if base else ""))
    bm = med(i, base) if base else None
    verdict = {}
    for t in filter(None, targets.split(";")):
        m = re.fullmatch(r"(\S+?)(>=|<=)([\d.]+)(?:\*(\S+))?", t)
        sy, op, r, b = m.group(1), m.group(2), float(m.group(3)), m.group(4)
        for s in (order.get(i, []) if sy == "*" else [sy]):
            if b:  # a ratio of medians
                a, ref = med(i, s), med(i, b)
                x = a / ref if a is not None and ref else None
            else:  # an absolute bound, checked on the worst round
                v = vals.get((i, s))
                x = (max(v) if op == "<=" else min(v)) if v else None
            if x is None:
                res = "n/a"
            else:
                ok = x >= r if op == ">=" else x <= r
                res = ("met" if ok else "MISSED") + (f" ({x:.2f}x)" if b else "")
            verdict.setdefault(s, []).append(f"target {op}{r:g}{'x ' + b if b else ''}: {res}")
    for s in order.get(i, []):
        v = vals[(i, s)]
        m = med(i, s)
        rng = f"{fmt(min(v))}-{fmt(max(v))}" if len(v) > 1 else ""  # rounds that measured
        ratio = f"{m / bm:.2f}x" if (m is not None and bm) else ""
        out.append(f"  {s:<18} {fmt(m):>9} {rng:>17} {ratio:>8}  {'; '.join(verdict.get(s, []))}")
print("\n".join(out))
PY
}
