# A daemon crash (kill -9) keeps fsync'ed draft data; the next mount does not commit it on its
# own; artifs status lists it; artifs commit then makes the version.
. "$(dirname "$0")/lib.sh"
start "commit_delay=100"
mkdir "$MNT/proj" "$MNT/proj/art"
art=$MNT/proj/art
head -c 200000 /dev/urandom >"$T/a"
cp "$T/a" "$art/a.bin"
wait_version "$art" 1
cmp "$T/a" "$art/@v1/a.bin" || fail "@v1/a.bin differs before the crash"
sum_v1=$(sha256sum <"$art/@v1/a.bin")

head -c 300000 /dev/urandom >"$T/b"
mkfifo "$T/hold"
python3 - "$art/b.bin" "$T/b" "$T/ready" "$T/hold" <<'PY' &
import os, sys
dst, src, ready, hold = sys.argv[1:]
f = open(dst, "wb")
f.write(open(src, "rb").read())
f.flush()
os.fsync(f.fileno())
open(ready, "w").close()
open(hold).read()  # blocks until the test writes to the fifo (never, it kills us)
PY
writer=$!
wait_for test -e "$T/ready" || fail "the writer did not fsync"
cmp "$T/b" "$art/b.bin" || fail "HEAD b.bin does not show the draft before the crash"
crash
kill "$writer" 2>/dev/null || true
wait "$writer" 2>/dev/null || true

start "commit_delay=100"
[ -d "$art/@v1" ] || fail "@v1 is gone after the crash"
[ "$(sha256sum <"$art/@v1/a.bin")" = "$sum_v1" ] || fail "@v1/a.bin changed after the crash"
[ -e "$art/b.bin" ] || fail "the fsync'ed draft file is gone after the crash (HEAD: $(ls -A "$art" | tr '\n' ' '))"
cmp "$T/b" "$art/b.bin" || fail "the fsync'ed draft data is not in the HEAD file after the crash"
st=$(ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" status) || fail "artifs status failed"
echo "$st" | grep -qE '(^|[[:space:]])proj/art($|[[:space:]])' || fail "artifs status does not list proj/art as a draft: '$st'"
# the recovered draft is not committed on its own: stay mounted well past commit_delay,
# polling for a version that must not appear (wait_for returns 1 after its bound)
if wait_for test -d "$art/@v2"; then fail "the recovered draft was committed on its own"; fi
[ "$(versions "$art" | tr '\n' ' ')" = "@v1 " ] || fail "versions after crash: $(versions "$art" | tr '\n' ' '), want only @v1"

out=$("$ARTIFS_BIN" commit "$art") || fail "artifs commit failed: $out"
[ -d "$art/@v2" ] || fail "no @v2 after artifs commit (it printed: $out)"
cmp "$T/b" "$art/@v2/b.bin" || fail "@v2/b.bin differs from the fsync'ed data"
cmp "$T/a" "$art/@v2/a.bin" || fail "@v2/a.bin differs"
st=$(ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" status) || fail "artifs status failed"
if echo "$st" | grep -q 'proj/art'; then fail "artifs status still lists proj/art after commit: '$st'"; fi
stop
