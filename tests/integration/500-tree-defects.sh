# Issue 9, defects 1-3: trees a user makes with ordinary calls always commit.
# 1. a folder beside a file whose name extends the folder's (model/ + model.pkl, a/ + a-1);
# 2. an empty committed file reopens for writing (O_WRONLY, O_RDWR, O_APPEND, >>);
# 3. what a call accepts the commit can store: a non-UTF-8 xattr name and a path over
#    4096 bytes are refused at the call (EINVAL, ENAMETOOLONG); the draft still commits;
# and a draft that nets to nothing makes no empty first version.
. "$(dirname "$0")/lib.sh"
getx() { getfattr --only-values --absolute-names -n "$2" "$1"; }
commit() { setfattr -n user.artifs.commit -v "$2" "$1" || fail "commit of $1 ($2) failed: $(tail -3 "$LOG")"; }

start "commit_delay=600000"
mkdir -p "$MNT/p/a" "$MNT/p/none"
art=$MNT/p/a

# A draft that nets to nothing publishes no empty first version.
echo x >"$MNT/p/none/f"
rm "$MNT/p/none/f"
mkdir "$MNT/p/none/d"
rmdir "$MNT/p/none/d"
commit "$MNT/p/none" nothing
[ -z "$(versions "$MNT/p/none")" ] || fail "a draft that nets to nothing made $(versions "$MNT/p/none")"

# 1. sort order
mkdir -p "$art/model/sub" "$art/data" "$art/argcomplete"
echo w >"$art/model/sub/w.bin"
echo pkl >"$art/model.pkl"
echo csv >"$art/data.csv"
echo d >"$art/data/x"
echo egg >"$art/argcomplete-2.0.0.egg-info"
echo py >"$art/argcomplete/__init__.py"
echo dash >"$art/model-1"
commit "$art" one
[ -d "$art/@v1" ] || fail "the tree with model/ beside model.pkl made no @v1"
for f in model/sub/w.bin model.pkl data.csv data/x argcomplete-2.0.0.egg-info argcomplete/__init__.py model-1; do
	cmp -s "$art/$f" "$art/@v1/$f" || fail "@v1/$f differs from the HEAD"
done
[ "$(cat "$art/@v1/model/sub/w.bin")" = w ] || fail "@v1/model/sub/w.bin is under the wrong parent"
[ -z "$(ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" status | grep p/a || true)" ] || fail "a draft is left after the commit"

# 2. empty committed files reopen for writing
touch "$art/empty1" "$art/empty2" "$art/empty3" "$art/empty4"
commit "$art" two
[ -f "$art/@v2/empty1" ] || fail "no @v2/empty1"
python3 - "$art" <<'PY' || fail "an empty committed file did not reopen for writing"
import os, sys
a = sys.argv[1]
for name, flags in (("empty1", os.O_WRONLY | os.O_APPEND), ("empty2", os.O_RDWR), ("empty3", os.O_WRONLY)):
    fd = os.open(os.path.join(a, name), flags)
    os.write(fd, name.encode())
    os.close(fd)
    with open(os.path.join(a, name), "rb") as f:
        assert f.read() == name.encode(), name
PY
echo x >>"$art/empty4" || fail "echo x >> an empty committed file failed"
[ "$(cat "$art/empty4")" = x ] || fail "empty4 holds '$(cat "$art/empty4")'"
commit "$art" three
[ "$(cat "$art/@v3/empty2")" = empty2 ] || fail "@v3/empty2 is '$(cat "$art/@v3/empty2")'"

# 3. a non-UTF-8 xattr name is refused at the call; the draft commits
echo more >"$art/more.txt"
expect_errno EINVAL "os.setxattr('$art/more.txt', b'user.\\xff', b'v')"
grep -q "UTF-8" "$LOG" || fail "no log line says why the xattr name was refused"
python3 -c "import os; os.setxattr('$art/more.txt', 'user.é', b'v')" || fail "a UTF-8 xattr name was refused"
commit "$art" four
[ -d "$art/@v4" ] || fail "no @v4 after a refused xattr name"
[ "$(getx "$art/@v4/more.txt" user.é)" = v ] || fail "@v4/more.txt lacks user.é"

# 3. paths over 4096 bytes: refused at mkdir/create/rename, the draft commits
comp=$(printf 'd%.0s' $(seq 200))
python3 - "$art" "$comp" <<'PY' || fail "deep paths were not refused right"
import errno, os, sys
art, comp = sys.argv[1], sys.argv[2]
os.chdir(art)
depth = 0
while True:
    try:
        os.mkdir(comp)
    except OSError as e:
        assert e.errno == errno.ENAMETOOLONG, e
        break
    os.chdir(comp)
    depth += 1
    assert depth < 40, "never refused"
rel = (comp + "/") * depth
assert len(rel) + len(comp) > 4096 >= len(rel) - 1, (len(rel), depth)
# a file that would pass the limit, and a folder moved under a deep one
try:
    open("f" * 250, "w").close()
except OSError as e:
    assert e.errno == errno.ENAMETOOLONG, e
else:
    assert len(rel) + 250 <= 4096
os.chdir(art)
os.makedirs("tree/" + "x" * 200 + "/" + "y" * 200)
deep = art + "/" + (comp + "/") * (depth - 1)
try:
    os.rename(art + "/tree", deep + "tree")
except OSError as e:
    assert e.errno == errno.ENAMETOOLONG, e
else:
    raise SystemExit("a rename past 4096 bytes was accepted")
PY
grep -q "4096 bytes" "$LOG" || fail "no log line says why the path was refused"
commit "$art" five
[ -d "$art/@v5" ] || fail "no @v5 after the deep tree: $(tail -3 "$LOG")"
[ -d "$art/@v5/tree/$(printf 'x%.0s' $(seq 200))" ] || fail "@v5 lacks the tree"
stop

# The versions survive a remount and a rebuild.
"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" >>"$LOG" 2>&1 || fail "rebuild failed"
start "commit_delay=600000"
[ "$(cat "$art/@v1/model/sub/w.bin")" = w ] || fail "after rebuild @v1/model/sub/w.bin is wrong"
[ "$(cat "$art/@v3/empty2")" = empty2 ] || fail "after rebuild @v3/empty2 is wrong"
[ "$(cat "$art/@v1/model.pkl")" = pkl ] || fail "after rebuild @v1/model.pkl is wrong"
stop
echo "ok"
