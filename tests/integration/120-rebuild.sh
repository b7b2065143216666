# artifs rebuild recreates the index from the store alone: versions, tags, labels, metrics,
# and each HEAD shows its newest version.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
mkdir "$MNT/proj" "$MNT/proj/art" "$MNT/proj/two"
art=$MNT/proj/art
head -c 400000 /dev/urandom >"$T/a1"
head -c 300000 /dev/urandom >"$T/a2"
mkdir "$art/sub"
cp "$T/a1" "$art/sub/m.bin"
setfattr -n user.artifs.commit -v one "$art" || fail "commit v1 failed"
cp "$T/a2" "$art/sub/m.bin"
echo extra >"$art/extra.txt"
setfattr -n user.metric.loss -v 0.25 "$art" || fail "HEAD metric failed"
setfattr -n user.artifs.commit -v two "$art" || fail "commit v2 failed"
echo t >"$MNT/proj/two/t.txt"
setfattr -n user.artifs.commit -v t "$MNT/proj/two" || fail "commit two failed"
ln -s @v1 "$art/@prod" || fail "tag @prod failed"
"$ARTIFS_BIN" tag "$art@v2" stage || fail "tag stage failed"
setfattr -n user.label.team -v vision "$MNT/proj" || fail "project label failed"
setfattr -n user.label.owner -v alice "$art" || fail "artifact label failed"
setfattr -n user.artifs.kind -v model "$art" || fail "kind failed"
setfattr -n user.label.note -v "first good" "$art/@v1" || fail "version label failed"
setfattr -n user.metric.acc -v 0.93 "$art/@v1" || fail "version metric failed"

snap() {
	{
		ls -a "$MNT" "$MNT/proj" | grep -v '^\.artifs$'
		versions "$art"; versions "$MNT/proj/two"
		readlink "$art/@prod" "$art/@stage" "$art/@latest"
		getfattr --absolute-names -d -m - "$MNT/proj" "$art" "$art/@v1" "$art/@v2" "$MNT/proj/two/@v1" \
			"$art/@v1/sub/m.bin" "$art/@v2/sub/m.bin"
		sha256sum "$art/@v1/sub/m.bin" "$art/@v2/sub/m.bin" "$art/@v2/extra.txt" \
			"$art/sub/m.bin" "$art/extra.txt" "$MNT/proj/two/t.txt" "$MNT/proj/two/@v1/t.txt"
		(cd "$art" && find . -path "./@*" -prune -o -print | sort)
	} 2>&1
}
snap >"$T/before"
if grep -qi 'no such' "$T/before"; then fail "snapshot before rebuild is incomplete: $(grep -i 'no such' "$T/before")"; fi
stop

"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" >>"$LOG" 2>&1 || fail "artifs rebuild failed (see log)"
start "commit_delay=600000"
snap >"$T/after"
diff "$T/before" "$T/after" || fail "state differs after rebuild (< before, > after)"
cmp "$T/a1" "$art/@v1/sub/m.bin" || fail "@v1 bytes differ after rebuild"
cmp "$T/a2" "$art/@v2/sub/m.bin" || fail "@v2 bytes differ after rebuild"
cmp "$T/a2" "$art/sub/m.bin" || fail "HEAD is not the newest version after rebuild"
[ "$(getfattr --only-values --absolute-names -n user.metric.loss "$art/@v2")" = 0.25 ] || fail "@v2 lost user.metric.loss"
[ "$(getfattr --only-values --absolute-names -n user.metric.acc "$art/@v1")" = 0.93 ] || fail "@v1 lost user.metric.acc"
st=$(ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" status) || fail "artifs status failed"
if echo "$st" | grep -q 'proj/'; then fail "drafts after rebuild: $st"; fi
# the rebuilt index keeps working: a new version gets the next number
echo new >"$art/new.txt"
setfattr -n user.artifs.commit -v three "$art" || fail "commit after rebuild failed"
[ -d "$art/@v3" ] || fail "no @v3 after rebuild (have: $(versions "$art" | tr '\n' ' '))"
stop
