# Commit triggers: setfattr user.artifs.commit, artifs commit -m, unmount, commit_delay=0;
# no version without a change; artifs discard.
. "$(dirname "$0")/lib.sh"
getx() { getfattr --only-values --absolute-names -n "$2" "$1"; }
nvers() { versions "$1" | wc -l; }

start "commit_delay=600000"
mkdir "$MNT/proj" "$MNT/proj/art"
art=$MNT/proj/art

# setfattr user.artifs.commit: synchronous, with the message
echo one >"$art/f.txt"
setfattr -n user.artifs.commit -v "first message" "$art" || fail "setfattr user.artifs.commit failed"
[ -d "$art/@v1" ] || fail "no @v1 when setfattr returned"
[ "$(getx "$art/@v1" user.artifs.message)" = "first message" ] || fail "@v1 message: '$(getx "$art/@v1" user.artifs.message || true)'"
[ "$(cat "$art/@v1/f.txt")" = one ] || fail "@v1/f.txt wrong"

# a commit with no change makes no version
setfattr -n user.artifs.commit -v "again" "$art" || fail "second setfattr commit failed"
[ "$(nvers "$art")" -eq 1 ] || fail "a commit with no change made a version: $(versions "$art" | tr '\n' ' ')"
out=$("$ARTIFS_BIN" commit -m nothing "$art") || fail "artifs commit with no change failed: $out"
[ "$(nvers "$art")" -eq 1 ] || fail "artifs commit with no change made a version"

# artifs commit -m prints the new version and the message lands on it
echo two >"$art/f.txt"
out=$("$ARTIFS_BIN" commit -m "second message" "$art") || fail "artifs commit -m failed: $out"
[ -d "$art/@v2" ] || fail "no @v2 when artifs commit returned (it printed: $out)"
echo "$out" | grep -q '@v2' || fail "artifs commit did not print the new version: '$out'"
[ "$(getx "$art/@v2" user.artifs.message)" = "second message" ] || fail "@v2 message: '$(getx "$art/@v2" user.artifs.message || true)'"
[ "$(cat "$art/@v2/f.txt")" = two ] || fail "@v2/f.txt wrong"

# artifs discard: HEAD back to @latest, no version
echo draft >"$art/f.txt"
echo new >"$art/new.txt"
"$ARTIFS_BIN" discard "$art" || fail "artifs discard failed"
[ "$(cat "$art/f.txt")" = two ] || fail "after discard HEAD f.txt is '$(cat "$art/f.txt" 2>&1)', want the @latest content 'two'"
[ ! -e "$art/new.txt" ] || fail "after discard the draft's new.txt is still there"
st=$(ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" status) || fail "artifs status failed"
if echo "$st" | grep -q 'proj/art'; then fail "after discard status still lists proj/art: $st"; fi
setfattr -n user.artifs.commit -v "after discard" "$art" || fail "commit after discard failed"
[ "$(nvers "$art")" -eq 2 ] || fail "discard or the commit after it made a version: $(versions "$art" | tr '\n' ' ')"

# unmount commits a pending draft
echo three >"$art/f.txt"
stop
start "commit_delay=600000"
[ -d "$art/@v3" ] || fail "unmount did not commit the pending draft (have: $(versions "$art" | tr '\n' ' '))"
[ "$(cat "$art/@v3/f.txt")" = three ] || fail "@v3/f.txt wrong"
[ "$(readlink "$art/@latest")" = "@v3" ] || fail "@latest is not @v3 after remount"
stop

# commit_delay=0: a version at the last close of a writer
start "commit_delay=0"
echo four >"$T/four"
cp "$T/four" "$art/f.txt" || fail "cp failed"
wait_version "$art" 4
[ "$(cat "$art/@v4/f.txt")" = four ] || fail "@v4/f.txt wrong"
head -c 100000 /dev/urandom >"$T/five"
cp "$T/five" "$art/five.bin"
# the commit happens at the release that follows the last close; FUSE sends release
# asynchronously, so poll (bounded) rather than expect it the instant cp returns
wait_version "$art" 5
cmp "$T/five" "$art/@v5/five.bin" || fail "@v5/five.bin wrong"
# a writer that keeps the file open: no version until it closes
python3 - "$art" <<'PY' || fail "commit_delay=0 with an open writer misbehaved"
import os, sys
art = sys.argv[1]
f = open(os.path.join(art, "six.txt"), "w")
f.write("six\n"); f.flush()
assert not os.path.exists(os.path.join(art, "@v6")), "a version appeared while a writer was open"
f.close()
PY
wait_version "$art" 6
[ "$(cat "$art/@v6/six.txt")" = six ] || fail "@v6/six.txt wrong"
[ "$(nvers "$art")" -eq 6 ] || fail "expected 6 versions, have: $(versions "$art" | tr '\n' ' ')"
stop
