# Refused operations answer the documented errno, some with a log line, and change nothing.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
mkdir "$MNT/proj" "$MNT/proj/art" "$MNT/proj/other"
art=$MNT/proj/art
head -c 100000 /dev/urandom >"$T/a"
cp "$T/a" "$art/a.bin"
mkdir "$art/sub"
echo keep >"$art/sub/k.txt"
setfattr -n user.artifs.commit -v one "$art" || fail "commit of v1 failed"
[ -d "$art/@v1" ] || fail "no @v1"
echo other >"$MNT/proj/other/o.txt"
setfattr -n user.artifs.commit -v o "$MNT/proj/other" || fail "commit of other failed"
export M=$MNT A=$art

# log_has PATTERN: the daemon log got a line matching PATTERN (grep -E, case-insensitive)
log_has() {
	wait_for grep -qiE "$1" "$LOG" || fail "no daemon log line matching '$1'"
}

# names breaking the rules
expect_errno EINVAL "os.mkdir(os.environ['M'] + '/.bad')"
log_has 'mkdir \.bad: .*names'
expect_errno EINVAL "os.mkdir(os.environ['M'] + '/@x')"
expect_errno EINVAL "os.mkdir(os.environ['M'] + '/a b')"
log_has 'mkdir a b: .*(name|character)'
expect_errno EINVAL "os.mkdir(os.environ['M'] + '/' + 'n' * 129)"
expect_errno EINVAL "os.mkdir(os.environ['M'] + '/proj/.bad')"
expect_errno EINVAL "os.mkdir(os.environ['M'] + '/proj/@x')"
expect_errno EINVAL "os.mkdir(os.environ['M'] + '/proj/a:b')"
expect_errno EINVAL "os.mkdir(os.environ['M'] + '/proj/' + 'n' * 129)"
mkdir "$MNT/$(printf 'n%.0s' $(seq 128))" || fail "a 128-byte project name was refused"
rmdir "$MNT/$(printf 'n%.0s' $(seq 128))" || fail "rmdir of an empty project failed"
for n in .bad @x 'a b' "$(printf 'n%.0s' $(seq 129))"; do
	[ ! -e "$MNT/$n" ] || fail "refused name '$n' exists anyway"
done

# '@' names at the top of a HEAD; fine deeper down
expect_errno EINVAL "open(os.environ['A'] + '/@file', 'w')"
expect_errno EINVAL "os.mkdir(os.environ['A'] + '/@dir')"
echo x >"$art/sub/@ok" || fail "an @ name below the top level of a HEAD was refused"
rm "$art/sub/@ok"

# writes under @v1
expect_errno EROFS "open(os.environ['A'] + '/@v1/a.bin', 'r+b')"
expect_errno EROFS "open(os.environ['A'] + '/@v1/a.bin', 'ab')"
expect_errno EROFS "open(os.environ['A'] + '/@v1/new', 'w')"
expect_errno EROFS "open(os.environ['A'] + '/@v1/sub/new', 'w')"
expect_errno EROFS "os.mkdir(os.environ['A'] + '/@v1/newdir')"
expect_errno EROFS "os.unlink(os.environ['A'] + '/@v1/a.bin')"
expect_errno EROFS "os.rmdir(os.environ['A'] + '/@v1/sub')"
expect_errno EROFS "os.rename(os.environ['A'] + '/@v1/a.bin', os.environ['A'] + '/@v1/b.bin')"
expect_errno EROFS "os.chmod(os.environ['A'] + '/@v1/a.bin', 0o600)"
expect_errno EROFS "os.truncate(os.environ['A'] + '/@v1/a.bin', 0)"
expect_errno EROFS "os.setxattr(os.environ['A'] + '/@v1/a.bin', 'user.x', b'1')"
expect_errno EROFS "os.symlink('a.bin', os.environ['A'] + '/@v1/l')"
log_has 'unlink a\.bin: .*read-only'

# @latest belongs to artifs
expect_errno EPERM "os.unlink(os.environ['A'] + '/@latest')"
ln -s @v1 "$art/tmp-link" || fail "creating a temp symlink in HEAD failed"
expect_errno EPERM "os.rename(os.environ['A'] + '/tmp-link', os.environ['A'] + '/@latest')"
rm -f "$art/tmp-link"
log_has '@latest.*(kept|cannot)'
[ "$(readlink "$art/@latest")" = "@v1" ] || fail "@latest changed"

# a tag pointing at a missing version
expect_errno ENOENT "os.symlink('@v9', os.environ['A'] + '/@t')"
[ ! -L "$art/@t" ] || fail "the tag to a missing version exists anyway"
log_has 'symlink @t: '

# rename across artifacts: EXDEV, and mv falls back to copy
echo move-me >"$art/mv.txt"
expect_errno EXDEV "os.rename(os.environ['A'] + '/mv.txt', os.environ['M'] + '/proj/other/mv.txt')"
mv "$art/mv.txt" "$MNT/proj/other/mv.txt" || fail "mv across artifacts failed"
[ "$(cat "$MNT/proj/other/mv.txt")" = move-me ] || fail "mv across artifacts did not copy the file"
[ ! -e "$art/mv.txt" ] || fail "mv across artifacts left the source"

# xattrs
expect_errno E2BIG "os.setxattr(os.environ['A'], 'user.label.big', b'x' * 65537)"
expect_errno E2BIG "os.setxattr(os.environ['A'] + '/a.bin', 'user.big', b'x' * 65537)"
python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.label.max", b"y" * 65536)' "$art" || fail "a 64 KiB label was refused"
expect_errno ENOTSUP "os.setxattr(os.environ['A'] + '/a.bin', 'trusted.x', b'1')"
expect_errno ENOTSUP "os.setxattr(os.environ['A'], 'trusted.x', b'1')"
# Computed names: a write in a HEAD (what cp -a and rsync -X copy) is accepted and ignored;
# on a version only the value already there is accepted (issue 13, round trips).
python3 - "$art" <<'PY' || fail "a computed name written in a HEAD was refused or stored"
import os, sys
a = sys.argv[1]
before = os.getxattr(a, "user.artifs.version")
os.setxattr(a, "user.artifs.uri", b"artifs://x/y@v1")
os.setxattr(a, "user.artifs.version", b"7")
os.setxattr(a + "/a.bin", "user.artifs.digest", b"sha256:00")
assert os.getxattr(a, "user.artifs.version") == before
try:
    uri = os.getxattr(a, "user.artifs.uri")
except OSError:
    uri = None
assert uri != b"artifs://x/y@v1", "the written uri was stored"
v = a + "/@v1"
os.setxattr(v, "user.artifs.digest", os.getxattr(v, "user.artifs.digest"))
os.setxattr(v, "user.artifs.uri", os.getxattr(v, "user.artifs.uri"))
PY
expect_errno EPERM "os.setxattr(os.environ['A'] + '/@v1', 'user.artifs.digest', b'sha256:00')"
expect_errno EPERM "os.setxattr(os.environ['A'] + '/@v1', 'user.artifs.version', b'7')"
expect_errno EINVAL "os.setxattr(os.environ['A'], 'user.metric.x', b'abc')"
expect_errno EINVAL "os.setxattr(os.environ['A'] + '/@v1', 'user.metric.x', b'abc')"

# an artifact with versions cannot be removed
expect_errno ENOTEMPTY "os.rmdir(os.environ['A'])"
[ -d "$art/@v1" ] || fail "@v1 gone after refused rmdir"

# nothing above changed the versions or their bytes
[ "$(versions "$art" | tr '\n' ' ')" = "@v1 " ] || fail "versions are now: $(versions "$art" | tr '\n' ' ')"
cmp "$T/a" "$art/@v1/a.bin" || fail "@v1/a.bin changed"
cmp "$T/a" "$art/a.bin" || fail "HEAD a.bin changed"
[ "$(cat "$art/@v1/sub/k.txt")" = keep ] || fail "@v1/sub/k.txt changed"
[ "$(ls -A "$art/@v1" | tr '\n' ' ')" = "a.bin sub " ] || fail "@v1 listing changed: $(ls -A "$art/@v1" | tr '\n' ' ')"
[ "$(cat "$MNT/proj/other/@v1/o.txt")" = other ] || fail "other@v1 changed"
stop
