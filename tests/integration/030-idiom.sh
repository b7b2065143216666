# The write-temp, fsync, rename, fsync-dir idiom makes exactly one version at the dir fsync,
# holding only the final name.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
mkdir "$MNT/proj" "$MNT/proj/model"
art=$MNT/proj/model
python3 - "$art" <<'PY' || fail "the save idiom failed"
import os, sys
art = sys.argv[1]
tmp, final = os.path.join(art, ".model.bin.tmp"), os.path.join(art, "model.bin")
with open(tmp, "wb") as f:
    f.write(b"weights" * 10000)
    f.flush()
    os.fsync(f.fileno())
os.rename(tmp, final)
fd = os.open(art, os.O_RDONLY)
try:
    os.fsync(fd)
finally:
    os.close(fd)
# commit is synchronous: the version must be there when fsync returns
if not os.path.isdir(os.path.join(art, "@v1")):
    sys.exit("no @v1 right after fsync of the artifact directory returned")
PY
[ "$(versions "$art" | wc -l)" -eq 1 ] || fail "expected exactly one version, have: $(versions "$art" | tr '\n' ' ')"
listing=$(ls -A "$art/@v1")
[ "$listing" = "model.bin" ] || fail "@v1 should hold only model.bin, holds: $listing"
python3 -c 'import sys; sys.exit(open(sys.argv[1],"rb").read() != b"weights"*10000)' "$art/@v1/model.bin" ||
	fail "@v1/model.bin has the wrong bytes"
[ "$(readlink "$art/@latest")" = "@v1" ] || fail "@latest is not @v1"
# a second fsync of the directory with nothing changed makes no version
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd)' "$art" ||
	fail "fsync of a clean artifact directory failed"
[ "$(versions "$art" | wc -l)" -eq 1 ] || fail "fsync with no change made a version"
stop
