# Tags: ln -s sets, ln -sfn moves, rm drops; the artifs tag command; tags survive remount.
# Tag operations are not content changes: they make no draft and no version.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
mkdir "$MNT/proj" "$MNT/proj/art"
art=$MNT/proj/art
echo one >"$art/file"
setfattr -n user.artifs.commit -v one "$art" || fail "commit of v1 failed"
echo two >"$art/file"
setfattr -n user.artifs.commit -v two "$art" || fail "commit of v2 failed"
[ "$(versions "$art" | tr '\n' ' ')" = "@v1 @v2 " ] || fail "set-up: expected @v1 @v2, have: $(versions "$art" | tr '\n' ' ')"

# no_draft WHAT: the artifact has no pending draft and still exactly two versions
no_draft() {
	local st
	st=$(ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" status) || fail "artifs status failed"
	if echo "$st" | grep -q 'proj/art'; then fail "$1 left a draft: artifs status says: $st"; fi
	[ "$(versions "$art" | wc -l)" -eq 2 ] || fail "$1 changed the versions: $(versions "$art" | tr '\n' ' ')"
}

ln -s @v1 "$art/@prod" || fail "ln -s @v1 @prod failed"
[ "$(readlink "$art/@prod")" = "@v1" ] || fail "readlink @prod is '$(readlink "$art/@prod" || true)', want @v1"
[ "$(cat "$art/@prod/file")" = "one" ] || fail "@prod/file does not give v1 bytes"
ls -a "$art" | grep -qx '@prod' || fail "@prod is not listed in the artifact folder"
no_draft "ln -s @v1 @prod"

ln -sfn @v2 "$art/@prod" || fail "ln -sfn @v2 @prod failed"
[ "$(readlink "$art/@prod")" = "@v2" ] || fail "right after ln -sfn, readlink @prod is '$(readlink "$art/@prod" 2>&1 || true)', want @v2"
[ "$(cat "$art/@prod/file")" = "two" ] || fail "@prod/file does not give v2 bytes after the move"
no_draft "ln -sfn @v2 @prod"

rm "$art/@prod" || fail "rm @prod failed"
[ ! -e "$art/@prod" ] && [ ! -L "$art/@prod" ] || fail "@prod still exists after rm"
if ls -a "$art" | grep -qx '@prod'; then fail "@prod still listed after rm"; fi
no_draft "rm @prod"
cmp <(echo one) "$art/@v1/file" || fail "@v1 changed by tag operations"

# the CLI
"$ARTIFS_BIN" tag "$art@v1" stage || fail "artifs tag ART@v1 stage failed"
[ "$(readlink "$art/@stage")" = "@v1" ] || fail "artifs tag: readlink @stage is '$(readlink "$art/@stage" || true)', want @v1"
[ "$(cat "$art/@stage/file")" = "one" ] || fail "@stage/file does not give v1 bytes"
"$ARTIFS_BIN" tag "$art@v2" stage || fail "artifs tag ART@v2 stage (move) failed"
[ "$(readlink "$art/@stage")" = "@v2" ] || fail "artifs tag move: readlink @stage is '$(readlink "$art/@stage" 2>&1 || true)', want @v2"
"$ARTIFS_BIN" tag -d "$art" stage || fail "artifs tag -d failed"
[ ! -L "$art/@stage" ] || fail "@stage still exists after artifs tag -d"
no_draft "artifs tag / tag -d"

# tags survive a remount
ln -s @v1 "$art/@prod" || fail "ln -s @v1 @prod (again) failed"
ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" tag "artifs://proj/art@v2" best || fail "artifs tag with a URI failed"
[ "$(readlink "$art/@best")" = "@v2" ] || fail "URI tag: @best is '$(readlink "$art/@best" || true)', want @v2"
stop
start "commit_delay=600000"
[ "$(readlink "$art/@prod")" = "@v1" ] || fail "after remount @prod is '$(readlink "$art/@prod" || true)', want @v1"
[ "$(readlink "$art/@best")" = "@v2" ] || fail "after remount @best is '$(readlink "$art/@best" || true)', want @v2"
[ "$(cat "$art/@prod/file")" = "one" ] || fail "after remount @prod/file does not give v1 bytes"
[ "$(versions "$art" | tr '\n' ' ')" = "@v1 @v2 " ] || fail "after remount the versions are: $(versions "$art" | tr '\n' ' ') (want @v1 @v2)"
stop
