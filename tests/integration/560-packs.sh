# Issue 11, store format 2: a commit's new chunks go into a few pack objects with an index
# each, listed by the manifest; a later commit stores only what changed and its manifest
# still lists the packs of what it kept; every file reads back, also through an index
# rebuilt from the store alone. A damaged pack fails the files whose frames it hit with EIO
# (never wrong bytes), a damaged or planted pack index is skipped with a log line naming
# it, and a store of format 1 keeps its layout.
. "$(dirname "$0")/lib.sh"
local_store_only

start "commit_delay=600000,refresh=0"
a=$MNT/p/a
mkdir -p "$a/small" "$T/src/small"
python3 - "$T/src" <<'PY'
import os, sys
src = sys.argv[1]
for i in range(1000):
    with open(f"{src}/small/f{i:04d}", "wb") as f:
        f.write(os.urandom(4096))
with open(f"{src}/big", "wb") as f:
    f.write(os.urandom(3 << 20))
PY
cp -r "$T/src/." "$a/"
setfattr -n user.artifs.commit -v one "$a" || fail "the commit of v1 failed"
[ ! -e "$STORE/chunks" ] || fail "a store of format 2 holds chunk objects"
npacks=$(find "$STORE/packs" -name '*.pack' | wc -l)
[ "$npacks" -ge 1 ] && [ "$npacks" -le 2 ] || fail "1,000 small files and 3 MiB made $npacks packs"
[ "$(find "$STORE/packs" -name '*.idx' | wc -l)" -eq "$npacks" ] || fail "a pack without its index"
# The manifest lists exactly the packs in the store, ascending.
manifest() { cat "$STORE/versions/p/a/$(printf '%020d' "$1")"; }
# Each file is runs of consecutive frames: one run per file, as no chunk repeats.
manifest 1 | python3 -c '
import hashlib, json, os, sys
m = json.load(sys.stdin)
assert m["artifs_manifest"] == 2, m["artifs_manifest"]
have = sorted(os.path.basename(p)[:-5] for p in sys.argv[2:])
assert [p[0] for p in m["packs"]] == have, (m["packs"], have)
for name, digest in m["packs"]:
    idx = open(f"{sys.argv[1]}/packs/{name[:2]}/{name}.idx", "rb").read()
    assert digest == hashlib.sha256(idx[:-32]).hexdigest() == idx[-32:].hex(), name
files = [e for e in m["entries"] if "runs" in e]
assert len(files) == 1001, len(files)
assert all(len(e["runs"]) == 1 for e in files), [e["runs"] for e in files if len(e["runs"]) != 1][:3]' \
	"$STORE" "$STORE"/packs/*/*.pack || fail "the manifest of v1 does not list its packs and runs"
(cd "$T/src" && find . -type f | sort | xargs sha256sum) >"$T/sums"
(cd "$a/@v1" && sha256sum -c --quiet "$T/sums") || fail "v1 reads back wrong"

# v2 changes one small file: one small pack more, and its manifest keeps v1's packs.
head -c 4096 /dev/urandom >"$a/small/f0007"
setfattr -n user.artifs.commit -v two "$a" || fail "the commit of v2 failed"
[ "$(find "$STORE/packs" -name '*.pack' | wc -l)" -eq $((npacks + 1)) ] || fail "v2 made more than one pack"
new=$(find "$STORE/packs" -name '*.pack' -newer "$STORE/versions/p/a/$(printf '%020d' 1)")
[ "$(stat -c %s "$new")" -lt 8192 ] || fail "v2's pack holds more than the changed file"
manifest 2 | python3 -c '
import json, sys
m = json.load(sys.stdin)
assert len(m["packs"]) == int(sys.argv[1]) + 1, m["packs"]
f = [e for e in m["entries"] if e["path"] == "small/f0007"][0]
assert len(f["runs"]) == 1 and f["runs"][0][1] == 0, f' "$npacks" ||
	fail "the manifest of v2 does not list the packs of the files it kept"
cmp "$a/small/f0007" "$a/@v2/small/f0007" || fail "v2's changed file reads wrong"
cmp "$T/src/big" "$a/@v2/big" || fail "v2's kept file reads wrong"
stop

# A fresh state directory rebuilt from the store alone reads both versions.
STATE=$T/state2
"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" >>"$LOG" 2>&1 || fail "rebuild failed"
start "commit_delay=600000,refresh=0"
(cd "$a/@v1" && sha256sum -c --quiet "$T/sums") || fail "v1 reads wrong after a rebuild"
cmp "$a/small/f0007" "$a/@v2/small/f0007" || fail "v2 reads wrong after a rebuild"
stop

# One byte damaged in the middle of v1's big pack: what it hits is EIO, never wrong bytes.
victim=$(find "$STORE/packs" -name '*.pack' -size +1M | head -1)
python3 - "$victim" <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(os.path.getsize(sys.argv[1]) // 2)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0xff]))
PY
start "commit_delay=600000,refresh=0"
python3 - "$a/@v1" "$T/src" <<'PY' || fail "a damaged pack gave wrong bytes or hid the damage"
import errno, os, sys
v, src = sys.argv[1], sys.argv[2]
bad = 0
for root, _, files in os.walk(src):
    for n in files:
        rel = os.path.relpath(os.path.join(root, n), src)
        want = open(os.path.join(src, rel), "rb").read()
        try:
            got = open(os.path.join(v, rel), "rb").read()
        except OSError as e:
            assert e.errno == errno.EIO, (rel, e)
            bad += 1
            continue
        assert got == want, f"{rel} read wrong bytes"
assert bad >= 1, "no file hit the damaged byte"
PY
grep -q "content does not match\|damaged\|frame" "$LOG" || fail "no log line names the damaged chunk"
stop

# A damaged index: a fresh index skips it with a log line, and the files of the other packs
# read.
idx=${victim%.pack}.idx
small=$(find "$STORE/packs" -name '*.pack' -size -1024k -newer "$STORE/versions/p/a/$(printf '%020d' 1)")
printf 'garbage, not an index' >"$idx"
STATE=$T/state3
"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" >>"$LOG" 2>&1 || fail "rebuild over a damaged index failed"
grep -q "packs/.*\.idx is not a valid pack index (not a pack index)" "$LOG" ||
	fail "no log line names the damaged pack index: $(grep -i pack "$LOG" | tail -3)"
grep -q 'p/a@v1: 1001 files read as EIO (the first: "big"): a pack index' "$LOG" ||
	fail "no log line says which files read as EIO: $(grep EIO "$LOG" | tail -3)"
start "commit_delay=600000,refresh=0"
cmp "$a/small/f0007" "$a/@v2/small/f0007" || fail "a file of an intact pack does not read"
expect_errno EIO "open('$a/@v1/big', 'rb').read()"
stop

# A planted index: valid, of the right pack name, but not the one the manifests name (its
# digest differs, here in one chunk name): skipped, and its file reads EIO, never its chunks.
python3 - "${small%.pack}.idx" <<'PY'
import hashlib, struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
assert struct.unpack(">I", b[12:16])[0] == 1
b[40:72] = hashlib.sha256(b"planted").digest()
b[-32:] = hashlib.sha256(bytes(b[:-32])).digest()
open(sys.argv[1], "wb").write(bytes(b))
PY
STATE=$T/state4
"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" >>"$LOG" 2>&1 || fail "rebuild over a planted index failed"
grep -q "packs/.*\.idx is not a valid pack index (not the index the manifest names" "$LOG" ||
	fail "no log line names the planted pack index"
start "commit_delay=600000,refresh=0"
expect_errno EIO "open('$a/@v2/small/f0007', 'rb').read()"
stop

# A store of format 1 keeps one object per chunk and no packs.
STORE=$T/store1
STATE=$T/state1
store_format1
start "commit_delay=600000,refresh=0"
mkdir -p "$MNT/p/old"
cp "$T/src/big" "$MNT/p/old/big"
setfattr -n user.artifs.commit -v one "$MNT/p/old" || fail "the commit to a format-1 store failed"
[ -d "$STORE/chunks" ] && [ ! -e "$STORE/packs" ] || fail "a format-1 store got packs"
grep -q '"artifs_store": 1' "$STORE/format" || fail "the format-1 store's format changed"
cmp "$T/src/big" "$MNT/p/old/@v1/big" || fail "a format-1 store reads wrong"
stop
