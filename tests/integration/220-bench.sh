# artifs bench: one table with every row for artifs and the baseline, two versions per round
# and one to clean up, the baseline's temporary folder removed (also on SIGTERM), and a
# folder that is not on an artifs mount refused.
. "$(dirname "$0")/lib.sh"

start
mkdir "$T/base"
art=$MNT/proj/bench
rc=0
out=$("$ARTIFS_BIN" bench --rounds 2 --big-size 4M --small-count 20 --baseline "$T/base" "$art" \
	2>"$T/bench.err") || rc=$?
[ $rc -eq 0 ] || { cat "$T/bench.err"; fail "artifs bench exited $rc"; }
echo "$out"
rows=("1 write + commit, 4 MiB incompressible [MiB/s] (ratio to baseline)"
	"2b warm sequential read, 4 MiB [MiB/s]"
	"3a 20 files of 4 KiB: write + commit [files/s]"
	"3c 20 files: stat, warm [files/s]"
	"3e 20 files: read, warm [files/s]"
	"4a setxattr user.bench on 20 files [ops/s]"
	"4b getxattr user.bench on 20 files [ops/s]")
if [ "$(id -u)" = 0 ]; then
	rows+=("2a cold sequential read, 4 MiB" "3b 20 files: stat, cold" "3d 20 files: read, cold")
else
	echo "$out" | grep -q "cold rows skipped" || fail "no word on the skipped cold rows"
fi
for r in "${rows[@]}"; do
	echo "$out" | grep -qF "$r" || fail "no row '$r'"
done
# every row: artifs and baseline with a median, the min-max of the 2 rounds and a ratio
n=${#rows[@]}
[ "$(echo "$out" | grep -cE '^  artifs +[0-9.]+ +[0-9.]+-[0-9.]+ +[0-9.]+x$')" -eq "$n" ] ||
	fail "not $n artifs lines with median, min-max and ratio"
[ "$(echo "$out" | grep -cE '^  baseline +[0-9.]+ +[0-9.]+-[0-9.]+ +1\.00x$')" -eq "$n" ] ||
	fail "not $n baseline lines with median, min-max and ratio 1.00x"
# two versions per round and the clean-up, which leaves the HEAD as it was
[ "$(versions "$art" | tr '\n' ' ')" = "@v1 @v2 @v3 @v4 @v5 " ] ||
	fail "versions: $(versions "$art" | tr '\n' ' ')"
echo "$out" | grep -q "versions @v1-@v5 added" || fail "the versions made are not named"
[ "$(stat -c %s "$art"/@v1/bench-*-r1/big)" -eq $((4 << 20)) ] || fail "@v1 has no 4 MiB big file"
[ "$(ls "$art"/@v2/bench-*-r1/small | wc -l)" -eq 20 ] || fail "@v2 has not 20 small files"
[ "$(getfattr --absolute-names --only-values -n user.bench "$art"/@v4/bench-*-r2/small/f000007)" = value-000007 ] ||
	fail "user.bench not in @v4"
[ -z "$(ls -A "$art/@v5")" ] || fail "the clean-up version is not empty: $(ls -A "$art/@v5")"
[ -z "$(ls -A "$art" | grep -v '^@')" ] || fail "files left in the HEAD: $(ls -A "$art")"
[ -z "$(cat "$MNT/.artifs/drafts")" ] || fail "drafts left: $(cat "$MNT/.artifs/drafts")"
[ -z "$(ls -A "$T/base")" ] || fail "the baseline's temporary folder is left: $(ls -A "$T/base")"

# no baseline, an artifs:// URI, --keep: no ratios, the last round's files stay in the HEAD
out=$(ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" bench --rounds 1 --big-size 100K --small-count 3 \
	--small-size 1K --keep artifs://proj/keep 2>"$T/bench.err") ||
	{ cat "$T/bench.err"; fail "artifs bench without a baseline failed"; }
echo "$out" | grep -qF "1 write + commit, 100 KiB incompressible [MiB/s]" || fail "no row 1: $out"
if echo "$out" | grep -qE 'ratio|baseline'; then fail "a baseline in: $out"; fi
[ "$(versions "$MNT/proj/keep" | wc -l)" -eq 2 ] || fail "--keep: not 2 versions"
[ "$(stat -c %s "$MNT"/proj/keep/bench-*-r1/small/f000002)" -eq 1024 ] || fail "--keep: no files in HEAD"

# SIGTERM: the run stops, the baseline's folder goes, the HEAD is emptied
"$ARTIFS_BIN" bench --rounds 100 --big-size 1M --small-count 10 --baseline "$T/base" \
	"$MNT/proj/sig" >/dev/null 2>"$T/sig.err" &
bpid=$!
wait_for grep -q "round 1/100: 1 artifs" "$T/sig.err" || fail "the bench did not start: $(cat "$T/sig.err")"
kill -TERM $bpid
rc=0
wait $bpid || rc=$?
[ $rc -eq 143 ] || fail "after SIGTERM the bench exited $rc: $(tail -3 "$T/sig.err")"
grep -q "interrupted" "$T/sig.err" || fail "no word on the interruption"
[ -z "$(ls -A "$T/base")" ] || fail "SIGTERM left the baseline's folder: $(ls -A "$T/base")"
[ -z "$(ls -A "$MNT/proj/sig" | grep -v '^@')" ] || fail "SIGTERM left files in the HEAD"

# refusals: off the mount (nothing made), a project folder, a folder in an artifact
out=$("$ARTIFS_BIN" bench "$T/not-artifs" 2>&1) && fail "a folder off the mount was accepted"
rc=0
"$ARTIFS_BIN" bench "$T/not-artifs" 2>/dev/null || rc=$?
[ $rc -eq 1 ] || fail "off the mount: exit $rc, want 1"
echo "$out" | grep -q "not on an artifs mount" || fail "unclear refusal: $out"
[ ! -e "$T/not-artifs" ] || fail "the refused folder was made"
"$ARTIFS_BIN" bench "$MNT/proj" 2>/dev/null && fail "a project folder was accepted"
"$ARTIFS_BIN" bench "$art/sub" 2>/dev/null && fail "a folder in an artifact was accepted"
stop
