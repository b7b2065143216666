# Issue 13: `artifs prefetch` follows @latest and tags to their version (they are symlinks,
# which the walk itself never follows), by path and by URI, and reads every file of it.
. "$(dirname "$0")/lib.sh"

start "commit_delay=600000"
a=$MNT/p/a
mkdir -p "$a/sub"
head -c 300000 /dev/urandom >"$a/one"
head -c 5000 /dev/urandom >"$a/sub/two"
setfattr -n user.artifs.commit -v one "$a" || fail "the commit failed"
ln -s @v1 "$a/@prod" || fail "cannot tag @prod"
for what in "$a/@latest" "$a/@prod" "$a/@v1" "artifs://p/a@latest" "artifs://p/a@prod"; do
	out=$(ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" prefetch "$what" 2>&1) || fail "prefetch $what failed: $out"
	[ "$out" = "prefetched 2 files, 305000 bytes" ] || fail "prefetch $what: $out"
done
out=$("$ARTIFS_BIN" prefetch "$a/@prod/sub" 2>&1) || fail "prefetch of a folder failed: $out"
[ "$out" = "prefetched 1 files, 5000 bytes" ] || fail "prefetch of a folder: $out"
stop
