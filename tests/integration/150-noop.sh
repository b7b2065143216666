# A draft whose tree ends up equal to the newest version makes no version: creating and
# removing a file, or rewriting the same bytes.
. "$(dirname "$0")/lib.sh"
start "commit_delay=100"
A="$MNT/proj/art"
mkdir -p "$A"
echo one >"$A/f"
setfattr -n user.artifs.commit -v first "$A"
[ -d "$A/@v1" ] || fail "no @v1 after the commit"
echo tmp >"$A/scratch"
rm "$A/scratch"
setfattr -n user.artifs.commit -v again "$A"
echo one >"$A/f"
setfattr -n user.artifs.commit -v same "$A"
[ "$(versions "$A" | wc -l)" -eq 1 ] || fail "a draft equal to @v1 made a version: $(versions "$A" | tr '\n' ' ')"
[ -z "$(ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" status | grep proj/art)" ] || fail "the no-op draft is still listed"
stop
