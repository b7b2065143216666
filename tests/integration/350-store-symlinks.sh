# A symbolic link planted inside a local store directory never leads the daemon (root)
# outside it: with refs/p/a swapped for a link to another directory that holds files named
# like the artifact's tags, setting, moving and removing tags fails or at least leaves those
# files alone, the refusal is logged with the key, and the daemon keeps serving.
. "$(dirname "$0")/lib.sh"
local_store_only
start "commit_delay=600000"
A=$MNT/p/a
mkdir -p "$A"
echo one >"$A/file"
setfattr -n user.artifs.commit -v one "$A" || fail "commit of v1 failed"
ln -s @v1 "$A/@target" || fail "ln -s @v1 @target failed"
ln -s @v1 "$A/@keep" || fail "ln -s @v1 @keep failed"
[ -f "$STORE/refs/p/a/target" ] || fail "set-up: no tag object refs/p/a/target"
stop

# the tags' directory becomes a link to an outside directory with victims named like tags
OUT=$T/outside
mkdir -p "$OUT"
for n in target keep other; do echo precious >"$OUT/$n"; done
mv "$STORE/refs/p/a" "$T/moved-refs"
ln -s "$OUT" "$STORE/refs/p/a"
victims_intact() {
	local n
	for n in target keep other; do
		[ -f "$OUT/$n" ] && [ ! -L "$OUT/$n" ] || fail "$1: the outside file $n is gone"
		[ "$(cat "$OUT/$n")" = precious ] || fail "$1: the outside file $n changed: $(cat "$OUT/$n")"
	done
	[ "$(ls -A "$OUT" | tr '\n' ' ')" = "keep other target " ] ||
		fail "$1: the outside directory changed: $(ls -A "$OUT" | tr '\n' ' ')"
}

# refresh=0: the index still knows @target, so rm reaches the store's delete
start "commit_delay=600000,refresh=0"
[ "$(cat "$A/@v1/file")" = one ] || fail "@v1 is not readable beside the planted link"
rm "$A/@target" 2>/dev/null || true
victims_intact "rm @target"
ln -s @v1 "$A/@other" 2>/dev/null || true
victims_intact "ln -s @v1 @other"
ln -sfn @v1 "$A/@keep" 2>/dev/null || true
victims_intact "ln -sfn @v1 @keep"
"$ARTIFS_BIN" tag "$A@v1" other 2>/dev/null || true
victims_intact "artifs tag"
grep -q "cannot delete refs/p/a/target: a symbolic link" "$LOG" || fail "no log line names the refused delete"
grep -q "cannot write refs/p/a/other: a symbolic link" "$LOG" || fail "no log line names the refused write"
stop
# with refresh on, listing the tags skips the link (a log line) and follows nothing
start "commit_delay=600000"
ln -s @v1 "$A/@other" 2>/dev/null || true
victims_intact "ln -s @v1 @other after a refresh"
grep -q "not listing refs/p/a: a symbolic link" "$LOG" || fail "no log line for the skipped listing"
# the store still serves and commits
echo two >"$A/file"
setfattr -n user.artifs.commit -v two "$A" || fail "a commit failed beside the planted link"
[ "$(cat "$A/@v2/file")" = two ] || fail "@v2 reads wrong"
stop
victims_intact "the remount"
[ -L "$STORE/refs/p/a" ] || fail "the planted link itself was replaced"
