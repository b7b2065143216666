# artifs revert (issue 13): the supported rollback. The HEAD becomes the version's tree
# (files, modes, symlinks, folder attributes), the draft it had is dropped, tags stay, and
# the next commit makes a new version equal to it with the message "revert to @vN"; by a
# tag and by URI; reverting to the newest version is a discard; refusals.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
export ARTIFS_MOUNT=$MNT
a=$MNT/p/a
mkdir -p "$a/sub"
echo one >"$a/f"
echo keep >"$a/sub/k"
chmod 600 "$a/f"
ln -s f "$a/link"
setfattr -n user.note -v first "$a/sub"
setfattr -n user.artifs.commit -v one "$a" || fail "commit of v1 failed"
"$ARTIFS_BIN" tag "$a/@v1" good || fail "tagging v1 failed"
cp -a "$a/@v1" "$T/v1" # the tree to come back to

rm -r "$a/sub" "$a/link"
echo two >"$a/f"
chmod 644 "$a/f"
echo extra >"$a/extra"
setfattr -n user.artifs.commit -v two "$a" || fail "commit of v2 failed"
echo draft >"$a/draft-only" # a draft that the revert throws away

"$ARTIFS_BIN" revert "$a/@good" || fail "artifs revert to @good failed"
diff -r "$T/v1" "$a" -x '@*' >/dev/null || fail "the HEAD differs from @v1 after the revert"
[ ! -e "$a/draft-only" ] || fail "the draft survived the revert"
[ "$(stat -c %a "$a/f")" = 600 ] || fail "f's mode is $(stat -c %a "$a/f") after the revert"
[ "$(readlink "$a/link")" = f ] || fail "the symlink did not come back"
[ "$(getfattr --absolute-names --only-values -n user.note "$a/sub")" = first ] || fail "sub's attribute did not come back"
[ "$(readlink "$a/@good")" = @v1 ] || fail "the revert moved @good"
[ "$(readlink "$a/@latest")" = @v2 ] || fail "the revert moved @latest before a commit"
[ "$(getfattr --absolute-names --only-values -n user.artifs.message "$a")" = "revert to @v1" ] ||
	fail "the pending message is '$(getfattr --absolute-names --only-values -n user.artifs.message "$a")'"
"$ARTIFS_BIN" status "$a" | grep -q 'p/a' || fail "the reverted HEAD is not a draft"

setfattr -n user.artifs.commit -v "" "$a" || fail "the commit after the revert failed"
diff -r "$T/v1" "$a/@v3" >/dev/null || fail "@v3 differs from @v1"
[ "$(getfattr --absolute-names --only-values -n user.artifs.message "$a/@v3")" = "revert to @v1" ] ||
	fail "@v3's message is '$(getfattr --absolute-names --only-values -n user.artifs.message "$a/@v3")'"
diff -r "$T/v1" "$a/@v1" >/dev/null || fail "@v1 changed"
[ -e "$a/@v2/extra" ] || fail "@v2 lost a file"

# To the newest version by URI: the same as a discard.
echo more >"$a/more"
"$ARTIFS_BIN" revert artifs://p/a@latest || fail "artifs revert to @latest failed"
[ ! -e "$a/more" ] || fail "the draft survived a revert to @latest"
"$ARTIFS_BIN" status "$a" | grep -q 'p/a' && fail "a revert to @latest left a draft"
setfattr -n user.artifs.commit -v "" "$a" 2>/dev/null || true
[ ! -e "$a/@v4" ] || fail "a revert to the newest version made a version"

# Refusals: no such version, a path that names no version, a bad name through setfattr.
"$ARTIFS_BIN" revert artifs://p/a@v9 2>"$T/err" && fail "revert to a missing version succeeded"
grep -q 'no such version' "$T/err" || fail "missing version: $(cat "$T/err")"
"$ARTIFS_BIN" revert "$a" 2>"$T/err" && fail "revert of an artifact folder succeeded"
grep -q 'names no version' "$T/err" || fail "no version: $(cat "$T/err")"
"$ARTIFS_BIN" revert "$a/@v1/f" 2>"$T/err" && fail "revert of a version file succeeded"
expect_errno EINVAL "os.setxattr('$a', 'user.artifs.revert', b'v1/f')"
expect_errno EINVAL "os.setxattr('$a', 'user.artifs.revert', b'')"
stop
