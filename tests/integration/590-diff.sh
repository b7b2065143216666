# artifs diff (issue 13): what changed between two versions, from the index: added, removed
# and changed entries (bytes with the changed ranges, mode, symlink target, type), through
# mount paths and artifs:// URIs, as text and JSON; its refusals.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
a=$MNT/p/a
d() { "$ARTIFS_BIN" diff --state "$STATE" "$@"; }
mkdir -p "$a/dir/sub" "$a/kept"
echo same >"$a/keep"
head -c 1048576 /dev/urandom >"$a/mod"
echo bye >"$a/gone"
echo x >"$a/dir/sub/x"
echo y >"$a/kept/y"
echo m >"$a/modefile"
echo t >"$a/was-file"
ln -s keep "$a/link"
setfattr -n user.artifs.commit -v one "$a" || fail "commit of v1 failed"

rm "$a/gone" "$a/was-file"
rm -r "$a/dir"
mkdir -p "$a/newdir" "$a/was-file"
echo new >"$a/new"
echo z >"$a/newdir/z"
dd if=/dev/urandom of="$a/mod" bs=4096 seek=128 count=1 conv=notrunc status=none
chmod 755 "$a/modefile"
ln -sfn modefile "$a/link"
setfattr -n user.artifs.commit -v two "$a" || fail "commit of v2 failed"

d "$a/@v1" "$a/@v2" >"$T/diff.txt" || fail "artifs diff failed"
cat "$T/diff.txt"
for line in 'A new  (4 bytes)' 'A newdir/' 'A newdir/z  (2 bytes)' 'D gone  (4 bytes)' 'D dir/' \
	'D dir/sub/' 'D dir/sub/x  (2 bytes)' 'M modefile  (mode)' 'M link  (target)' \
	'M was-file/  (replaced by a folder)'; do
	grep -qxF "$line" "$T/diff.txt" || fail "the diff lacks '$line'"
done
grep -q '^M mod  (bytes: 1.0 MiB -> 1.0 MiB, .* new in 1 range: ' "$T/diff.txt" ||
	fail "the diff of mod: $(grep ' mod ' "$T/diff.txt")"
if grep -qE ' (keep|kept/|kept/y)( |$)' "$T/diff.txt"; then
	fail "unchanged entries are listed"
fi
[ "$(wc -l <"$T/diff.txt")" = 11 ] || fail "the diff has $(wc -l <"$T/diff.txt") lines, not 11"

# JSON, by URI: mod's one range holds the 4 KiB written at 512 KiB and is a few chunks long.
d --format json artifs://p/a@v1 artifs://p/a@latest >"$T/diff.json" || fail "artifs diff --format json failed"
python3 - "$T/diff.json" <<'PY' || fail "the JSON diff is wrong"
import json, sys
d = {e["path"]: e for e in json.load(open(sys.argv[1]))}
m = d["mod"]
assert m["change"] == "changed" and m["what"] == "bytes", m
assert m["old_size"] == m["new_size"] == 1 << 20, m
[(s, e)] = m["ranges"]
assert s <= 512 << 10 and e >= (512 << 10) + 4096, m
assert m["changed_bytes"] == e - s <= 3 * (128 << 10), m
assert d["new"]["change"] == "added" and d["new"]["type"] == "file" and d["new"]["new_size"] == 4
assert d["dir/sub/x"]["change"] == "removed" and d["dir/sub/x"]["old_size"] == 2
assert d["was-file"]["type"] == "folder" and d["was-file"]["what"] == "replaced by a folder"
assert "keep" not in d and len(d) == 11, sorted(d)
PY

# The other way round, and a version against itself.
d "$a/@v2" "$a/@v1" | grep -qxF 'A gone  (4 bytes)' || fail "the reverse diff lacks 'A gone'"
[ "$(d "$a/@v2" "$a/@latest")" = "no changes" ] || fail "a version differs from itself"

# Refusals.
rc=0
d "$a/@v1" >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "diff with one version exited $rc, not 2"
d "$a/@v1" "$a/@v9" 2>"$T/err" && fail "diff with a missing version succeeded"
grep -q 'no such version' "$T/err" || fail "missing version: $(cat "$T/err")"
d --format xml "$a/@v1" "$a/@v2" 2>"$T/err" && fail "diff --format xml succeeded"
grep -q 'text or json' "$T/err" || fail "bad format: $(cat "$T/err")"
d "$T" "$a/@v2" 2>"$T/err" && fail "diff of a folder off the mount succeeded"
grep -q 'artifs diff' "$T/err" || fail "off the mount: $(cat "$T/err")"
stop
