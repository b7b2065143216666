# Issue 13, round trips with ordinary tools: a version copied out with `cp -a` (which copies
# the computed user.artifs.* attributes along with the rest) goes back into another artifact
# with `rsync -aX` and `cp -a` without an error; the computed names are ignored there (the
# new HEAD shows its own), the files' own attributes come along, and the copy commits.
. "$(dirname "$0")/lib.sh"
command -v rsync >/dev/null || { echo "skip: no rsync"; exit 77; }

start "commit_delay=600000,refresh=0"
a=$MNT/p/a
mkdir -p "$a/sub"
echo one >"$a/f"
echo two >"$a/sub/g"
setfattr -n user.note -v kept "$a/sub/g"
setfattr -n user.artifs.commit -v one "$a" || fail "the commit of p/a failed"
cp -a "$a/@v1" "$T/out" || fail "cp -a of a version failed"
if ! getfattr --absolute-names -n user.artifs.uri "$T/out/f" >/dev/null 2>&1; then
	echo "skip: the filesystem under $T keeps no user xattrs (nothing to copy back)"
	exit 77
fi

mkdir -p "$MNT/p/b"
rsync -aX "$T/out/" "$MNT/p/b/" 2>"$T/rsync.err" || fail "rsync -aX into a HEAD failed: $(cat "$T/rsync.err")"
cmp "$a/f" "$MNT/p/b/f" && cmp "$a/sub/g" "$MNT/p/b/sub/g" || fail "rsync copied wrong bytes"
[ "$(getfattr --only-values --absolute-names -n user.note "$MNT/p/b/sub/g")" = kept ] ||
	fail "a file's own attribute did not come along"
if getfattr --only-values --absolute-names -n user.artifs.uri "$MNT/p/b/f" 2>/dev/null | grep -q 'p/a@v1'; then
	fail "the HEAD file kept the copied uri of p/a@v1"
fi
chmod -R u+w "$MNT/p/b" # cp -a kept the version's read-only modes
setfattr -n user.artifs.commit -v copy "$MNT/p/b" || fail "the copy did not commit"
[ "$(getfattr --only-values --absolute-names -n user.artifs.uri "$MNT/p/b/@v1/f")" = "artifs://p/b@v1/f" ] ||
	fail "the committed copy's uri is not its own"

# cp -a straight back into a HEAD, too.
mkdir -p "$MNT/p/c"
cp -a "$T/out/." "$MNT/p/c/" 2>"$T/cp.err" || fail "cp -a into a HEAD failed: $(cat "$T/cp.err")"
cmp "$a/sub/g" "$MNT/p/c/sub/g" || fail "cp -a copied wrong bytes"
stop
