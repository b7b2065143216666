# allow_other implies default_permissions: with only allow_other (the fstab line the guide
# shows), another user gets what the modes and owners say and no more, in a HEAD and in a
# version alike; root keeps every right. Through artifs mount and mount.artifs alike.
. "$(dirname "$0")/lib.sh"
command -v setpriv >/dev/null || { echo "skip: no setpriv"; exit 77; }
id nobody >/dev/null 2>&1 || { echo "skip: no user nobody"; exit 77; }
umask 022
chmod 0755 "$T" # mktemp made it 0700: nobody must reach the mount point
NOGROUP=$(id -gn nobody)
as_nobody() { setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups "$@"; }
# root's python3 may be a shim under /root that nobody cannot run
PY=/usr/bin/python3
as_nobody "$PY" -c '' 2>/dev/null || { echo "skip: nobody cannot run $PY"; exit 77; }

# nobody_refused 'python statement using os' F: as nobody, the statement on path F fails with
# EACCES or EPERM (the kernel's answer: EACCES for a missing mode bit, EPERM for an owner's
# right), and with nothing else.
nobody_refused() {
	as_nobody "$PY" - "$1" "$2" <<'PY' || fail "nobody was let through: $1 on $2"
import errno, os, sys
stmt, f = sys.argv[1], sys.argv[2]
try:
    exec(stmt)
except OSError as e:
    if e.errno in (errno.EACCES, errno.EPERM):
        sys.exit(0)
    print(f"got {errno.errorcode.get(e.errno, e.errno)} ({e}) instead of EACCES/EPERM", file=sys.stderr)
    sys.exit(1)
print(f"no error from {stmt} on {f}", file=sys.stderr)
sys.exit(1)
PY
}

start "allow_other,commit_delay=600000"
grep -q " $MNT .*default_permissions" /proc/self/mountinfo ||
	fail "artifs mount -o allow_other did not turn on default_permissions: $(grep " $MNT " /proc/self/mountinfo)"
art=$MNT/proj/art
mkdir -p "$art"
echo secret >"$art/secret"
chmod 0600 "$art/secret"
echo open >"$art/public"
chmod 0644 "$art/public"
setfattr -n user.artifs.commit -v one "$art" || fail "commit of v1 failed"
[ -d "$art/@v1" ] || fail "no @v1"
[ "$(stat -c %a "$art/@v1/secret")" = 600 ] || fail "@v1/secret has mode $(stat -c %a "$art/@v1/secret")"

for f in "$art/secret" "$art/@v1/secret"; do
	nobody_refused "open(f).read()" "$f"
	nobody_refused "open(f, 'w')" "$f"
	nobody_refused "open(f, 'a').write('x')" "$f"
	nobody_refused "os.truncate(f, 0)" "$f"
	nobody_refused "os.chmod(f, 0o666)" "$f"
	nobody_refused "os.chown(f, os.getuid(), os.getgid())" "$f"
	nobody_refused "os.unlink(f)" "$f"
	nobody_refused "os.rename(f, f + '.moved')" "$f"
	[ "$(cat "$f")" = secret ] || fail "$f changed under nobody's attempts"
	[ "$(stat -c %a:%u "$f")" = 600:0 ] || fail "$f is now $(stat -c %a:%u "$f")"
done
for f in "$art/public" "$art/@v1/public"; do
	[ "$(as_nobody cat "$f")" = open ] || fail "nobody cannot read the 0644 $f"
	nobody_refused "open(f, 'a').write('x')" "$f"
done
nobody_refused "open(os.path.dirname(f) + '/new', 'w')" "$art/public"
nobody_refused "os.mkdir(os.path.dirname(f) + '/d')" "$art/public"
as_nobody ls "$art" >/dev/null || fail "nobody cannot list the 0755 HEAD"

# The commit ioctl (what artifs commit sends) needs no write access from the kernel: artifs
# refuses it to nobody itself (EACCES, with a log line), and root's goes through.
commit_ioctl() {
	"$@" "$PY" - "$art" <<'PY'
import errno, fcntl, os, struct, sys
req = (3 << 30) | (4008 << 16) | (ord("a") << 8) | 1  # _IOWR('a', 1, struct artifs_ioc_commit)
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
buf = bytearray(4008)
try:
    fcntl.ioctl(fd, req, buf)  # the answer comes back in buf
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
    sys.exit(0)
print("made", struct.unpack_from("=Q", buf, 4000)[0])
PY
}
[ "$(commit_ioctl as_nobody)" = EACCES ] || fail "nobody's commit ioctl answered '$(commit_ioctl as_nobody)', want EACCES"
grep -q "commit of artifact inode .* by uid $(id -u nobody): only root" "$LOG" || fail "no log line says why nobody's commit was refused"
[ "$(commit_ioctl env)" = "made 0" ] || fail "root's commit ioctl answered '$(commit_ioctl env)', want made 0 (nothing changed)"

# Root keeps every right: reads everywhere, and in the HEAD writes, chmod, chown, unlink.
[ "$(cat "$art/@v1/secret")" = secret ] || fail "root cannot read @v1/secret"
echo more >>"$art/secret" || fail "root cannot append"
[ "$(cat "$art/secret")" = "$(printf 'secret\nmore')" ] || fail "root's append got lost"
truncate -s 3 "$art/secret" || fail "root cannot truncate"
echo new >"$art/secret" || fail "root cannot write"
chmod 0640 "$art/secret" || fail "root cannot chmod"
chown nobody "$art/secret" || fail "root cannot chown"
[ "$(stat -c %a:%U "$art/secret")" = 640:nobody ] || fail "chmod/chown by root: $(stat -c %a:%U "$art/secret")"
# The owner now, nobody may write its file but still not give it away.
as_nobody sh -c "echo mine >'$art/secret'" || fail "the owner nobody cannot write its 0640 file"
nobody_refused "os.chown(f, 0, 0)" "$art/secret"
rm "$art/secret" || fail "root cannot unlink"
[ ! -e "$art/secret" ] || fail "secret is still there"
stop

# mount.artifs (mount -t artifs, fstab) assembles its options in the same place.
ln -s "$ARTIFS_BIN" "$T/mount.artifs"
# -f from mount(8) is --fake: the options are checked, nothing is mounted.
"$T/mount.artifs" "$STORE" "$MNT" -o "allow_other,state=$STATE" -f >>"$LOG" 2>&1 ||
	fail "mount.artifs -f (fake) failed"
if mountpoint -q "$MNT"; then fail "mount.artifs -f mounted"; fi
# In the background, as mount(8) runs it: it returns once the mount serves.
"$T/mount.artifs" "$STORE" "$MNT" -o "allow_other,state=$STATE" >>"$LOG" 2>&1 ||
	fail "mount.artifs failed"
mountpoint -q "$MNT" || fail "mount.artifs did not come up"
grep -q " $MNT .*default_permissions" /proc/self/mountinfo ||
	fail "mount.artifs -o allow_other did not turn on default_permissions"
nobody_refused "open(f).read()" "$art/@v1/secret"
fusermount3 -u "$MNT" || fail "cannot unmount mount.artifs's mount"
# the daemon lets go of the state directory once it has committed and exited
wait_for sh -c "! pgrep -f '[s]tate=$STATE' >/dev/null" || fail "the mount.artifs daemon did not exit"
