# FUSE options pass through: -o ro refuses every write with EROFS while versions stay
# readable; new files belong to the calling user (checked with a non-root uid when
# default_permissions and allow_other are on).
. "$(dirname "$0")/lib.sh"
start "commit_delay=100"
mkdir -p "$MNT/proj/art"
echo data >"$MNT/proj/art/f"
setfattr -n user.artifs.commit -v one "$MNT/proj/art"
stop

start "ro"
[ "$(cat "$MNT/proj/art/@v1/f")" = data ] || fail "version unreadable on a read-only mount"
expect_errno EROFS "open('$MNT/proj/art/g', 'w')"
expect_errno EROFS "os.mkdir('$MNT/proj/other')"
stop

start "allow_other,default_permissions"
chmod 0755 "$T"
chmod 0777 "$MNT/proj/art"
if command -v setpriv >/dev/null; then
	setpriv --reuid 4242 --regid 4242 --clear-groups sh -c "echo mine >'$MNT/proj/art/owned'" ||
		fail "uid 4242 could not create a file in a 0777 HEAD"
	[ "$(stat -c %u:%g "$MNT/proj/art/owned")" = "4242:4242" ] ||
		fail "new file belongs to $(stat -c %u:%g "$MNT/proj/art/owned"), not the caller"
	setpriv --reuid 4242 --regid 4242 --clear-groups sh -c "echo x >'$MNT/proj/art/f'" 2>/dev/null &&
		fail "default_permissions let uid 4242 write a 0644 file of root"
fi
stop
