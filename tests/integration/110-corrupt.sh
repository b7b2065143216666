# A chunk object damaged in the store makes reads of its file fail with EIO (never wrong
# bytes) and a log line; other files still read. A store of format 1 (one object per chunk;
# 560-packs.sh damages a pack of format 2).
. "$(dirname "$0")/lib.sh"
local_store_only
store_format1
start "commit_delay=600000"
mkdir "$MNT/proj" "$MNT/proj/art"
art=$MNT/proj/art
head -c $((3 * 1024 * 1024)) /dev/urandom >"$T/a"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$T/b"
chunks() { (cd "$STORE/chunks" && find . -type f | sed 's|^\./||' | sort); }
cp "$T/a" "$art/a.bin"
setfattr -n user.artifs.commit -v a "$art" || fail "commit of a failed"
chunks >"$T/after-a"
cp "$T/b" "$art/b.bin"
setfattr -n user.artifs.commit -v b "$art" || fail "commit of b failed"
chunks >"$T/after-b"
[ -s "$T/after-a" ] || fail "no chunk objects in $STORE/chunks after committing a.bin"
comm -13 "$T/after-a" "$T/after-b" | grep -q . || fail "committing b.bin added no chunk object"
victim=$(head -n 1 "$T/after-a")
name=$(basename "$victim")
echo "$name" | grep -qE '^[0-9a-f]{64}$' || fail "chunk object name '$name' is not a SHA-256"
cmp "$T/a" "$art/@v1/a.bin" || fail "a.bin wrong before the damage"
stop

python3 - "$STORE/chunks/$victim" <<'PY' || fail "could not damage the chunk object"
import os, sys
p = sys.argv[1]
size = os.path.getsize(p)
with open(p, "r+b") as f:
    f.seek(size // 2)
    b = f.read(1)
    f.seek(size // 2)
    f.write(bytes([b[0] ^ 0x5A]))
PY

start "commit_delay=600000"
python3 - "$art/@v1/a.bin" "$T/a" <<'PY' || fail "reading the damaged a.bin did not fail with EIO"
import errno, sys
path, good = sys.argv[1:]
try:
    with open(path, "rb") as f:
        data = f.read()
except OSError as e:
    if e.errno == errno.EIO:
        sys.exit(0)
    sys.exit(f"got {errno.errorcode.get(e.errno)} instead of EIO")
sys.exit("read succeeded (" + ("same" if data == open(good, "rb").read() else "WRONG") + " bytes)")
PY
if cat "$art/@v1/a.bin" >/dev/null 2>&1; then fail "cat of the damaged a.bin succeeded"; fi
if cat "$art/a.bin" >/dev/null 2>&1; then fail "cat of the damaged HEAD a.bin succeeded"; fi
cmp "$T/b" "$art/@v2/b.bin" || fail "b.bin does not read correctly next to the damaged chunk"
cmp "$T/b" "$art/b.bin" || fail "HEAD b.bin does not read correctly"
wait_for grep -q "$name" "$LOG" || fail "no log line names the damaged chunk $name"
stop
