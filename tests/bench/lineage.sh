#!/usr/bin/env bash
# Lineage figures: open+read+close of N small files of a version with capture on and off
# (interleaved, same run), and `artifs find` latency over 100,000 indexed versions.
# Usage: tests/bench/lineage.sh [FILES] [VERSIONS]; never fails on speed.
set -euo pipefail
FILES=${1:-10000}
VERSIONS=${2:-100000}
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${ARTIFS_BIN:-$here/../build/artifs}
T=$(mktemp -d /var/tmp/artifs-lineage.XXXXXX)
MNT=$T/mnt
mkdir -p "$MNT"
PID=
cleanup() {
	mountpoint -q "$MNT" && fusermount3 -uz "$MNT"
	[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
start() {
	"$BIN" mount -f -o "store=$T/store,state=$T/state,$1" "$MNT" 2>>"$T/log" &
	PID=$!
	for _ in $(seq 200); do mountpoint -q "$MNT" && return; sleep 0.05; done
	echo "mount failed"; exit 1
}
stop() { fusermount3 -u "$MNT"; wait "$PID"; PID=; }

start "commit_delay=100"
mkdir -p "$MNT/b/small"
python3 - "$MNT/b/small" "$FILES" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(4096))
PY
setfattr -n user.artifs.commit -v files "$MNT/b/small"
stop

read_all() {
	python3 - "$MNT/b/small/@v1" <<'PY'
import os, sys, time
d = sys.argv[1]
names = sorted(os.listdir(d))
t = time.perf_counter()
for n in names:
    with open(os.path.join(d, n), "rb") as f:
        f.read()
print(f"{len(names) / (time.perf_counter() - t):.0f}")
PY
}
declare -a on off
for round in 1 2 3; do
	start "capture=1"; read_all >/dev/null; on+=("$(read_all)"); stop
	start "capture=0"; read_all >/dev/null; off+=("$(read_all)"); stop
done
med() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
printf 'open+read+close of %d files of 4 KiB, warm, files/s (median of 3):\n' "$FILES"
printf '  capture on  %8s   (%s)\n' "$(med "${on[@]}")" "${on[*]}"
printf '  capture off %8s   (%s)\n' "$(med "${off[@]}")" "${off[*]}"
python3 -c "print(f'  ratio on/off {$(med "${on[@]}")/$(med "${off[@]}"):.2f}x')"

python3 "$here/gen-versions.py" "$T/gen" "$VERSIONS" 100 >/dev/null
"$BIN" rebuild -o "store=$T/gen,state=$T/genstate" 2>/dev/null
printf 'find over %d versions (ms, best of 5):\n' "$VERSIONS"
for q in "--label stage=prod" "--metric acc>0.99" "--input artifs://gen/a0@v1" \
	"--label stage=prod --metric acc>0.99 --sort metric:acc --limit 5"; do
	best=$(for _ in 1 2 3 4 5; do
		s=$(date +%s%N); "$BIN" find --state "$T/genstate" $q >/dev/null; e=$(date +%s%N)
		echo $(((e - s) / 1000000))
	done | sort -n | head -1)
	printf '  %-66s %5s ms\n' "$q" "$best"
done
