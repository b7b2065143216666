# artifs gc (issue 12, docs/gc.md) on a local store: --dry-run writes nothing; two runs
# reclaim at least 99% of the bytes of removed versions (the store's size measured); what is
# kept reads back byte-exact after a remount and fsck --deep is clean; restore of a purged
# version or artifact is refused; a commit that would deduplicate against a pack gc condemned
# or deleted stores its chunks again, also those of a draft's unchanged file; a second gc while one runs is refused (exit 75) and a
# stale run's entry does not stop the next.
. "$(dirname "$0")/lib.sh"
local_store_only
OPTS="commit_delay=600000"
start "$OPTS"
export ARTIFS_MOUNT=$MNT
O="store=$STORE"
gc() { "$ARTIFS_BIN" gc "$@" -o "$O"; }
# age: every pack in the store is made an hour old (as if the commits were that long ago),
# so that --grace 0 runs need not wait for the clock.
age() { find "$STORE/packs" -type f -exec touch -d '-1 hour' {} +; }
commit() { "$ARTIFS_BIN" commit "$1" >/dev/null || fail "commit of $1 failed"; }
K=$MNT/p/keep A=$MNT/p/a G=$MNT/p/gone

mkdir -p "$K" "$A" "$G"
head -c 3000000 /dev/urandom >"$K/model"
echo one >"$K/note"
commit "$K"
head -c 2000000 /dev/urandom >"$A/w"
commit "$A"
b0=$(store_bytes)
head -c 4000000 /dev/urandom >"$A/w"
commit "$A" # @v2: its w is the one removed below
b1=$(store_bytes)
head -c 1000000 /dev/urandom >"$A/w"
commit "$A" # @v3
b2=$(store_bytes)
head -c 3000000 /dev/urandom >"$G/data"
commit "$G"
head -c 2000000 /dev/urandom >>"$G/data"
commit "$G"
ln -s @v2 "$G/@prod"
b3=$(store_bytes)
removed=$((b1 - b0 + b3 - b2))
sha256sum "$K/@v1/model" "$A/@v1/w" "$A/@v3/w" | sed "s|$MNT/||" >"$T/kept.sha"

"$ARTIFS_BIN" rm "$A/@v2" >/dev/null || fail "artifs rm of p/a@v2 failed"
"$ARTIFS_BIN" rm "$G" >/dev/null || fail "artifs rm of p/gone failed"
age

# Within the removed grace (default 7 days) nothing is purged, and nothing is condemned.
out=$(gc --grace 0 --skew 0) || fail "gc failed: $out"
echo "$out" | grep -q "versions: 6 kept, 0 purged" || fail "gc within the grace: $out"
[ ! -d "$STORE/gc/condemned" ] || [ -z "$(ls "$STORE/gc/condemned")" ] ||
	fail "gc condemned packs of versions still restorable"

# --dry-run: says what it would do, writes nothing.
find "$STORE" -type f -printf '%P %s\n' | sort >"$T/before"
out=$(gc --dry-run --removed-grace 0 --grace 0 --skew 0) || fail "gc --dry-run failed: $out"
echo "$out" | grep -q "versions: 3 kept, 3 would be purged" || fail "gc --dry-run: $out"
find "$STORE" -type f -printf '%P %s\n' | sort >"$T/after"
cmp -s "$T/before" "$T/after" || fail "gc --dry-run changed the store: $(diff "$T/before" "$T/after")"

# Two runs: the first purges and condemns, the second deletes.
out=$(gc --removed-grace 0 --grace 0 --skew 0) || fail "gc run 1 failed: $out"
echo "$out" | grep -q "versions: 3 kept, 3 purged" || fail "gc run 1: $out"
[ ! -e "$STORE/versions/p/a/00000000000000000002" ] || fail "the manifest of p/a@v2 stays"
[ -e "$STORE/versions/p/a/00000000000000000002.removed" ] || fail "the mark of p/a@v2 went"
[ ! -e "$STORE/refs/p/gone/prod" ] || fail "the tag of the purged p/gone stays"
out=$(gc --removed-grace 0 --grace 0 --skew 0) || fail "gc run 2 failed: $out"
echo "$out" | grep -q "deleted: [1-9]" || fail "gc run 2 deleted nothing: $out"
b4=$(store_bytes)
freed=$((b3 - b4))
echo "removed versions held $removed bytes; two gc runs freed $freed"
[ $((freed * 100)) -ge $((removed * 99)) ] || fail "gc freed $freed of $removed bytes (< 99%)"
[ -z "$(ls "$STORE/gc/runs")" ] || fail "a gc run left its entry: $(ls "$STORE/gc/runs")"

# What is kept reads back byte-exact, from the store (a remount), and the store is clean.
stop
"$ARTIFS_BIN" fsck --deep -o "store=$STORE,state=$STATE" >"$T/fsck" 2>&1 ||
	fail "fsck --deep after gc: $(cat "$T/fsck")"
start "$OPTS"
(cd "$MNT" && sha256sum -c --quiet "$T/kept.sha") || fail "a kept version reads wrong after gc"
[ ! -e "$A/@v2" ] || fail "the purged p/a@v2 is back"

# Restore of what gc purged is refused, and says why.
out=$("$ARTIFS_BIN" restore "$A/@v2" 2>&1) && fail "restore of a purged version succeeded"
case $out in *"purged by gc on"*) ;; *) fail "restore of a purged version: $out" ;; esac
out=$("$ARTIFS_BIN" restore "$G" 2>&1) && fail "restore of a purged artifact succeeded"
case $out in *"purged by gc on"*) ;; *) fail "restore of a purged artifact: $out" ;; esac

# A commit never names a pack gc condemned: the same bytes committed again after their only
# version was purged (run 1 condemned its pack) are stored anew, and read back after run 2
# deleted the old pack.
C=$MNT/p/c D=$MNT/p/d
mkdir -p "$C" "$D"
head -c 1500000 /dev/urandom >"$T/x"
head -c 1500000 /dev/urandom >"$T/y"
cp "$T/x" "$C/x"
commit "$C"
cp "$T/y" "$D/y"
echo 1 >"$D/n"
commit "$D"
echo 2 >"$D/n"
commit "$D"
"$ARTIFS_BIN" rm "$C/@v1" >/dev/null || fail "artifs rm of p/c@v1 failed"
"$ARTIFS_BIN" rm "$D/@v1" >/dev/null || fail "artifs rm of p/d@v1 failed"
"$ARTIFS_BIN" rm "$D/@v2" >/dev/null || fail "artifs rm of p/d@v2 failed"
# p/e: a draft on a version that is removed and purged; its unchanged file's chunks are
# copied out of the condemned pack by the commit
E=$MNT/p/e
mkdir -p "$E"
head -c 1500000 /dev/urandom >"$T/z"
cp "$T/z" "$E/z"
commit "$E"
echo draft >"$E/new"
"$ARTIFS_BIN" rm "$E/@v1" >/dev/null || fail "artifs rm of p/e@v1 failed"
age
gc --removed-grace 0 --grace 0 --skew 0 >/dev/null || fail "gc (condemn) failed"
cp "$T/x" "$C/x"
commit "$C"
commit "$E"
# p/d: its pack is deleted before the same bytes come again (the index still locates them)
gc --removed-grace 0 --grace 0 --skew 0 >/dev/null || fail "gc (delete) failed"
cp "$T/y" "$D/y"
commit "$D"
grep -q "condemned by gc meanwhile" "$LOG" || fail "no commit found a condemned pack"
stop
"$ARTIFS_BIN" fsck --deep -o "store=$STORE,state=$STATE" >"$T/fsck" 2>&1 ||
	fail "fsck --deep after commits beside gc: $(cat "$T/fsck")"
start "$OPTS"
cmp "$T/x" "$C/@v2/x" || fail "p/c@v2 does not read back"
cmp "$T/y" "$D/@v3/y" || fail "p/d@v3 does not read back"
cmp "$T/z" "$E/@v2/z" || fail "p/e@v2 (a draft on a purged version) does not read back"
[ "$(cat "$E/@v2/new")" = draft ] || fail "p/e@v2 lost its new file"

# One run at a time: a live entry of another run refuses this one (75); a stale one does not.
mkdir -p "$STORE/gc/runs"
now=$(date +%s%N)
printf '{"host":"other","pid":1,"started_ns":%s,"beat_ns":%s}\n' "$now" "$now" \
	>"$STORE/gc/runs/00000000000000000001-00000000"
rc=0
out=$(gc 2>&1) || rc=$?
[ $rc = 75 ] || fail "gc beside a live run exited $rc: $out"
case $out in *"another gc runs on this store"*"host other"*) ;; *) fail "gc beside a live run: $out" ;; esac
printf '{"host":"other","pid":1,"started_ns":1,"beat_ns":1}\n' \
	>"$STORE/gc/runs/00000000000000000001-00000000"
gc >/dev/null || fail "gc beside a stale run's entry failed"
[ -z "$(ls "$STORE/gc/runs")" ] || fail "the stale entry stays: $(ls "$STORE/gc/runs")"

# Bad durations are refused before anything runs.
rc=0
gc --grace 5x >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "gc --grace 5x exited $rc, not 2"
stop
echo "ok"
