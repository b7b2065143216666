#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets of tests/fuzz into build/fuzz/ and runs each for a bounded
# time: tests/fuzz/run.sh [SECONDS] (default 60 per target). Seeds come from
# tests/fuzz/corpus/<target>/ and are copied to a temporary working corpus, so the
# committed one is never flooded. Findings (crash-*, leak-*, timeout-*, oom-*) are copied
# to build/fuzz/findings/<target>/; the script exits 1 when there is any. See docs/fuzz.md.
set -eu

SECS=${1:-60}
case $SECS in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${FUZZ_OUT:-$ROOT/build/fuzz}
CC=${FUZZ_CC:-clang}
TARGETS="fuzz_manifest fuzz_listing fuzz_pack"
PKGS="jansson libcrypto expat libzstd"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
updated=
apt_install() {
	echo "run.sh: installing $*"
	if [ -z "$updated" ]; then $SUDO apt-get update -q; updated=1; fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "$@"
}
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

# ---- tools and libraries, installed only when missing ----
missing=
command -v "$CC" >/dev/null 2>&1 || missing="$missing clang"
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
pkg-config --exists $PKGS 2>/dev/null || missing="$missing libjansson-dev libssl-dev libexpat1-dev libzstd-dev"
[ -z "$missing" ] || apt_install $missing

# libFuzzer ships in libclang-rt-<major>-dev: link a trivial target to see that it works.
mkdir -p "$OUT"
probe_fuzzer() {
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }' \
		>"$OUT/probe.c"
	"$CC" -fsanitize=fuzzer,address,undefined -o "$OUT/probe" "$OUT/probe.c" \
		>"$OUT/probe.log" 2>&1
}
if ! probe_fuzzer; then
	major=$("$CC" -dumpversion | cut -d. -f1)
	have_pkg "libclang-rt-$major-dev" || apt_install "libclang-rt-$major-dev"
	probe_fuzzer || { cat "$OUT/probe.log" >&2; echo "run.sh: libFuzzer unusable with $CC" >&2; exit 2; }
fi
rm -f "$OUT/probe" "$OUT/probe.c" "$OUT/probe.log"

# ---- build ----
CFLAGS="-g -O1 -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Wall -Wextra -Wno-unused-parameter $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS)"
# Only the parsers and what they link against: no fs/, no FUSE, no network.
SRC_fuzz_manifest="meta/manifest.c backends/log.c backends/util.c"
SRC_fuzz_listing="backends/s3_xml.c"
SRC_fuzz_pack="backends/pack.c backends/chunk.c backends/util.c backends/log.c"
for t in $TARGETS; do
	eval "src=\$SRC_$t"
	(cd "$ROOT" && $CC $CFLAGS -o "$OUT/$t" "tests/fuzz/$t.c" $src $LIBS)
done

# ---- run ----
WORK=$(mktemp -d "${TMPDIR:-/tmp}/artifs-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
found=0
summary=
for t in $TARGETS; do
	mkdir -p "$WORK/$t/corpus" "$WORK/$t/artifacts"
	cp "$ROOT/tests/fuzz/corpus/$t/"* "$WORK/$t/corpus/"
	dict=
	[ -f "$ROOT/tests/fuzz/corpus/$t.dict" ] && dict="-dict=$ROOT/tests/fuzz/corpus/$t.dict"
	echo "== $t: ${SECS}s, log in $OUT/$t.log"
	# -close_fd_mask=2: the parsers' own log lines (one per refused input) go nowhere;
	# libFuzzer and the sanitizers still report on a duplicate of stderr.
	rc=0
	"$OUT/$t" -max_total_time="$SECS" -timeout=10 -max_len=16384 -print_final_stats=1 \
		-close_fd_mask=2 -artifact_prefix="$WORK/$t/artifacts/" $dict \
		"$WORK/$t/corpus" >"$OUT/$t.log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$OUT/$t.log" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$OUT/$t.log" | tail -n 1 | cut -d' ' -f2)
	corp=$(ls "$WORK/$t/corpus" | wc -l)
	n=$(ls "$WORK/$t/artifacts" | wc -l)
	if [ "$n" -gt 0 ]; then
		mkdir -p "$OUT/findings/$t"
		cp "$WORK/$t/artifacts/"* "$OUT/findings/$t/"
		found=1
	elif [ "$rc" -ne 0 ]; then
		found=1
		n="exit $rc, no artifact"
	fi
	line="$t: execs ${execs:-?}, cov ${cov:-?} edges, ft ${ft:-?}, corpus $corp, findings $n"
	[ "$n" = 0 ] || line="$line (in $OUT/findings/$t/, log $OUT/$t.log)"
	summary="$summary$line
"
done
printf '%s' "$summary"
exit $found
