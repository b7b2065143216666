# Issue 10, lookup counts: a HEAD file or folder whose last name goes while it is still in
# use (a working directory, an open file, a draft thrown away under them) stays usable as an
# unlinked inode (nlink 0) until the kernel forgets it, takes nothing new, and is freed then:
# a clean unmount leaves nothing for the next mount's sweep.
. "$(dirname "$0")/lib.sh"

start "commit_delay=600000,refresh=0"
a=$MNT/p/a
mkdir -p "$a/d/sub" "$a/w"
echo x >"$a/d/sub/f"
echo kept-bytes >"$a/k"
python3 - "$a" <<'PY' || fail "a removed folder or file in use misbehaved"
import errno, os, sys
a = sys.argv[1]

# A working directory removed under the process.
os.chdir(a + "/d/sub")
os.remove(a + "/d/sub/f")
os.rmdir(a + "/d/sub")
st = os.stat(".")
assert st.st_nlink == 0, f"removed cwd: nlink {st.st_nlink}"
assert os.listdir(".") == [], os.listdir(".")
for make in (lambda: open("new", "w"), lambda: os.mkdir("newdir")):
    try:
        make()
        raise SystemExit("something was made in a removed folder")
    except FileNotFoundError:
        pass
os.chdir("/")

# The draft thrown away while a file of it is open and a folder of it is a working directory.
fd = os.open(a + "/k", os.O_RDONLY)
os.chdir(a + "/w")
os.setxattr(a, "user.artifs.discard", b"1")
assert not os.path.exists(a + "/k"), "the discarded draft still shows k"
assert os.pread(fd, 100, 0) == b"kept-bytes\n", "an open file of a discarded draft lost its bytes"
assert os.fstat(fd).st_nlink == 0, os.fstat(fd).st_nlink
assert os.stat(".").st_nlink == 0, "the discarded working directory"
os.close(fd)
os.chdir("/")
PY
# The kernel forgets the unused inodes: they are freed now, not at the next mount.
echo again >"$a/k"
[ "$(cat "$a/k")" = again ] || fail "a new k after the discard reads wrong"
stop
start "commit_delay=600000,refresh=0"
if grep -q "sweep: freed" "$LOG"; then fail "a clean unmount left in-use inodes to the sweep: $(grep sweep "$LOG")"; fi
[ "$(cat "$a/k")" = again ] || fail "k after the remount reads wrong"
[ ! -e "$a/d/sub" ] || fail "the removed folder came back"
stop
