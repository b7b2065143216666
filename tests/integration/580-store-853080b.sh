# Issue 11: a store written by build 853080b (store format 1, before packs; made by
# tests/fixtures/README.md's recipe) keeps working with this build: both versions, the tag,
# the label, the link and the file's xattr read back byte-exact; a new version is written in
# format 1 (one object per new chunk, a format-1 manifest, no packs); and an index rebuilt
# from the store alone reads all three.
. "$(dirname "$0")/lib.sh"
local_store_only

FIX=$(cd "$(dirname "$0")/../fixtures" && pwd)
cp -r "$FIX/store-853080b" "$STORE"
before=$(find "$STORE" -type f | sort)
start "commit_delay=600000"
a=$MNT/demo/model
(cd "$a/@v1" && sha256sum -c --quiet "$FIX/store-853080b.v1.sha256") || fail "v1 of the old store reads wrong"
(cd "$a/@v2" && sha256sum -c --quiet "$FIX/store-853080b.v2.sha256") || fail "v2 of the old store reads wrong"
link_is "$a/@prod" @v1 || fail "the old store's tag @prod is $(readlink "$a/@prod")"
link_is "$a/@v1/current" model.bin || fail "the old store's symlink reads $(readlink "$a/@v1/current")"
[ "$(getfattr --only-values -n user.note "$a/@v1/model.bin")" = "from 853080b" ] ||
	fail "the old store's file xattr is lost"
[ "$(getfattr --only-values -n user.label.stage "$a")" = dev ] || fail "the old store's label is lost"
[ "$(stat -c %s "$a/@v1/empty")" = 0 ] || fail "the old store's empty file is not empty"

# A new version on top of v2: written as format 1 does, and nothing of the old store changed.
printf 'version three\n' >>"$a/data/sub/notes.md"
head -c 100000 /dev/urandom >"$a/new.bin"
setfattr -n user.artifs.commit -v third "$a" || fail "a commit to the old store failed"
cmp "$a/new.bin" "$a/@v3/new.bin" || fail "v3's new file reads wrong"
[ ! -e "$STORE/packs" ] || fail "a format-1 store got packs"
grep -q '"artifs_store": 1' "$STORE/format" || fail "the old store's format changed"
python3 - "$STORE/versions/demo/model/$(printf '%020d' 3)" <<'PY' || fail "v3's manifest is not of format 1"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["artifs_manifest"] == 1 and "packs" not in m, m.get("artifs_manifest")
assert all("chunks" in e for e in m["entries"] if e["mode"] & 0o170000 == 0o100000)
PY
sha256sum "$a/new.bin" "$a/data/sub/notes.md" | sed "s|  $a/|  ./|" >"$T/v3.sha256"
stop
after=$(find "$STORE" -type f | sort)
comm -23 <(echo "$before") <(echo "$after") | grep -q . && fail "an object of the old store went away"
new_chunks=$(comm -13 <(echo "$before") <(echo "$after") | grep -c "/chunks/")
[ "$new_chunks" -ge 2 ] || fail "v3 stored $new_chunks chunk objects, expected one per new chunk"

# The store alone rebuilds an index that reads all three versions.
STATE=$T/state2
"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" >>"$LOG" 2>&1 || fail "rebuild of the old store failed"
start "commit_delay=600000,refresh=0"
(cd "$a/@v1" && sha256sum -c --quiet "$FIX/store-853080b.v1.sha256") || fail "v1 reads wrong after a rebuild"
(cd "$a/@v2" && sha256sum -c --quiet "$FIX/store-853080b.v2.sha256") || fail "v2 reads wrong after a rebuild"
(cd "$a/@v3" && sha256sum -c --quiet "$T/v3.sha256") || fail "v3 reads wrong after a rebuild"
link_is "$a/@prod" @v1 || fail "the tag is lost after a rebuild"
stop
