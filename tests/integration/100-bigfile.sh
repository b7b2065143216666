# A 256 MiB file: an in-place 4 KiB edit stores a few chunks, not the whole file again.
. "$(dirname "$0")/lib.sh"
local_store_only
start "commit_delay=600000"
mkdir "$MNT/proj" "$MNT/proj/big"
art=$MNT/proj/big
head -c $((256 * 1024 * 1024)) /dev/urandom >"$T/orig" || fail "could not make the test file"
sum_orig=$(sha256sum <"$T/orig")
cp "$T/orig" "$art/big.bin" || fail "cp into HEAD failed"
setfattr -n user.artifs.commit -v v1 "$art" || fail "commit of v1 failed"
[ -d "$art/@v1" ] || fail "no @v1 after commit"
[ "$(stat -c %s "$art/@v1/big.bin")" -eq $((256 * 1024 * 1024)) ] || fail "@v1/big.bin has the wrong size"
size1=$(store_bytes)
[ "$size1" -ge $((250 * 1024 * 1024)) ] || fail "store holds only $size1 bytes of chunks for 256 MiB of random data"

cp "$T/orig" "$T/edited"
python3 - "$art/big.bin" "$T/edited" <<'PY' || fail "in-place edit failed"
import os, sys
patch = os.urandom(4096)
off = 128 * 1024 * 1024 + 12345
for p in sys.argv[1:]:
    with open(p, "r+b") as f:
        f.seek(off)
        f.write(patch)
PY
cmp "$T/edited" "$art/big.bin" || fail "HEAD does not show the in-place edit"
setfattr -n user.artifs.commit -v v2 "$art" || fail "commit of v2 failed"
[ -d "$art/@v2" ] || fail "no @v2 after commit"
size2=$(store_bytes)
growth=$((size2 - size1))
echo "store growth for a 4 KiB edit: $growth bytes"
[ "$growth" -lt $((64 * 1024 * 1024)) ] || fail "a 4 KiB edit grew the store by $growth bytes (want < 64 MiB)"
[ "$(sha256sum <"$art/@v1/big.bin")" = "$sum_orig" ] || fail "@v1/big.bin no longer hashes like the original"
[ "$(sha256sum <"$art/@v2/big.bin")" = "$(sha256sum <"$T/edited")" ] || fail "@v2/big.bin does not hash like the edited copy"
[ "$(versions "$art" | tr '\n' ' ')" = "@v1 @v2 " ] || fail "versions: $(versions "$art" | tr '\n' ' ')"
stop
