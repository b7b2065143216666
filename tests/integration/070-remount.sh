# After unmount and mount again: versions, tags, labels, bytes and inode numbers are unchanged.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
mkdir "$MNT/proj" "$MNT/proj/art" "$MNT/proj/other"
art=$MNT/proj/art
head -c 500000 /dev/urandom >"$T/a"
head -c 70000 /dev/urandom >"$T/b"
mkdir "$art/sub"
cp "$T/a" "$art/a.bin"
setfattr -n user.artifs.commit -v one "$art" || fail "commit of v1 failed"
cp "$T/b" "$art/sub/b.bin"
setfattr -n user.artifs.commit -v two "$art" || fail "commit of v2 failed"
echo other >"$MNT/proj/other/x"
setfattr -n user.artifs.commit -v x "$MNT/proj/other" || fail "commit of other failed"
ln -s @v1 "$art/@prod" || fail "ln -s @v1 @prod failed"
setfattr -n user.label.team -v vision "$MNT/proj" || fail "project label failed"
setfattr -n user.label.stage -v beta "$art" || fail "artifact label failed"
setfattr -n user.label.note -v "good run" "$art/@v2" || fail "version label failed"
setfattr -n user.metric.acc -v 0.91 "$art/@v2" || fail "version metric failed"

# snapshot: everything that must survive
snap() {
	{
		versions "$art"
		versions "$MNT/proj/other"
		ls -a "$MNT/proj"
		readlink "$art/@prod" "$art/@latest"
		getfattr --absolute-names -d -m - "$MNT/proj" "$art" "$art/@v1" "$art/@v2" "$art/@v2/sub/b.bin" "$art/a.bin"
		stat -c '%n %i %s %a %Y %F' "$MNT/proj" "$art" "$art/@v1" "$art/@v1/a.bin" "$art/@v2/sub/b.bin" \
			"$art/a.bin" "$art/sub" "$art/sub/b.bin" "$MNT/proj/other/x"
		sha256sum "$art/@v1/a.bin" "$art/@v2/a.bin" "$art/@v2/sub/b.bin" "$art/a.bin" "$art/sub/b.bin" "$MNT/proj/other/@v1/x"
		find "$art/@v1" "$art/@v2" | sort
	} 2>&1
}
snap >"$T/before" || fail "snapshot before remount failed"
grep -q 'No such' "$T/before" && fail "snapshot before remount is incomplete: $(grep 'No such' "$T/before")"
cmp <(sha256sum <"$T/a") <(sha256sum <"$art/@v1/a.bin") || fail "@v1/a.bin wrong before remount"
stop
start "commit_delay=600000"
snap >"$T/after" || fail "snapshot after remount failed"
diff "$T/before" "$T/after" || fail "state differs after remount (diff above: < before, > after)"
cmp "$T/a" "$art/@v1/a.bin" || fail "@v1/a.bin bytes changed"
cmp "$T/b" "$art/@v2/sub/b.bin" || fail "@v2/sub/b.bin bytes changed"
cmp "$T/b" "$art/sub/b.bin" || fail "HEAD sub/b.bin bytes changed"
# a second remount without any access in between
stop
start "commit_delay=600000"
snap >"$T/again" || fail "snapshot after second remount failed"
diff "$T/before" "$T/again" || fail "state differs after second remount"
stop
