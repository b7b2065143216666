# artifs get (issue 13): a version to a plain folder that its user can change and remove:
# the same bytes, symlinks and times, owner write bits added, no artifs attributes; with
# --preserve the exact modes and the other user.* attributes; a file of a version; refusals.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
export ARTIFS_MOUNT=$MNT
a=$MNT/p/a
mkdir -p "$a/d/e"
head -c 3000000 /dev/urandom >"$a/big"
for i in $(seq 40); do echo "$i" >"$a/d/f$i"; done
echo deep >"$a/d/e/x"
ln -s d/e/x "$a/link"
chmod 444 "$a/big"
chmod 555 "$a/d/e"
setfattr -n user.note -v kept "$a/big"
setfattr -n user.artifs.commit -v one "$a" || fail "commit of v1 failed"

"$ARTIFS_BIN" get "$a/@v1" "$T/out" 2>"$T/err" || fail "artifs get failed: $(cat "$T/err")"
diff -r "$a/@v1" "$T/out" || fail "the copy differs from @v1"
[ "$(readlink "$T/out/link")" = d/e/x ] || fail "the symlink came out as $(readlink "$T/out/link")"
[ "$(stat -c %a "$T/out/big")" = 644 ] || fail "big is $(stat -c %a "$T/out/big"), not 644"
[ "$(stat -c %a "$T/out/d/e")" = 755 ] || fail "d/e is $(stat -c %a "$T/out/d/e"), not 755"
[ "$(stat -c %a "$T/out")" = 755 ] || fail "the top folder is $(stat -c %a "$T/out")"
[ "$(stat -c %Y "$T/out/big")" = "$(stat -c %Y "$a/@v1/big")" ] || fail "big's mtime changed"
[ "$(stat -c %Y "$T/out/d")" = "$(stat -c %Y "$a/@v1/d")" ] || fail "d's mtime changed"
[ -z "$(getfattr -d -m - --absolute-names "$T/out/big" 2>/dev/null)" ] ||
	fail "the plain copy has attributes: $(getfattr -d -m - --absolute-names "$T/out/big")"
# the copying user can remove it all (not root: root ignores modes)
chmod o+x "$T"
mkdir "$T/home"
mv "$T/out" "$T/home/out"
chown -R nobody "$T/home"
su -s /bin/sh nobody -c "rm -rf '$T/home/out'" || fail "the copy's owner cannot remove it"
[ ! -e "$T/home/out" ] || fail "the copy is still there"

# --preserve, by URI and through a tag: exact modes and the user's attributes.
"$ARTIFS_BIN" tag "$a@v1" good || fail "tagging failed"
"$ARTIFS_BIN" get --preserve --jobs 2 artifs://p/a@good "$T/exact" || fail "artifs get --preserve failed"
diff -r "$a/@v1" "$T/exact" || fail "the exact copy differs"
[ "$(stat -c %a "$T/exact/big")" = 444 ] || fail "--preserve: big is $(stat -c %a "$T/exact/big")"
[ "$(stat -c %a "$T/exact/d/e")" = 555 ] || fail "--preserve: d/e is $(stat -c %a "$T/exact/d/e")"
[ "$(getfattr --absolute-names --only-values -n user.note "$T/exact/big")" = kept ] ||
	fail "--preserve lost user.note"
getfattr --absolute-names -d -m - "$T/exact/big" 2>/dev/null | grep -q 'user.artifs' &&
	fail "--preserve copied artifs attributes"

# One file, and a folder of a version into an empty folder that exists.
"$ARTIFS_BIN" get "$a/@v1/d/e/x" "$T/x" || fail "getting one file failed"
[ "$(cat "$T/x")" = deep ] || fail "the file reads $(cat "$T/x")"
mkdir "$T/empty"
"$ARTIFS_BIN" get "$a/@v1/d" "$T/empty" || fail "getting a folder into an empty one failed"
[ -f "$T/empty/f40" ] && [ -f "$T/empty/e/x" ] || fail "the folder's copy is incomplete"

# Refusals: a target that is not empty or exists, a HEAD (no version), off the mount.
"$ARTIFS_BIN" get "$a/@v1" "$T/empty" 2>"$T/err" && fail "get into a non-empty folder succeeded"
grep -q 'is not empty' "$T/err" || fail "non-empty: $(cat "$T/err")"
"$ARTIFS_BIN" get "$a/@v1/big" "$T/x" 2>"$T/err" && fail "get over an existing file succeeded"
grep -q 'exists' "$T/err" || fail "existing file: $(cat "$T/err")"
"$ARTIFS_BIN" get "$a" "$T/head" 2>"$T/err" && fail "get of a HEAD succeeded"
grep -q 'is not in a version' "$T/err" || fail "HEAD: $(cat "$T/err")"
[ ! -e "$T/head" ] || fail "a refused get made its folder"
"$ARTIFS_BIN" get --jobs 0 "$a/@v1" "$T/j" 2>"$T/err" && fail "--jobs 0 was taken"
grep -q -- '--jobs takes' "$T/err" || fail "--jobs 0: $(cat "$T/err")"
stop
