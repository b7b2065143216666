# Issue 9, defects 8 and 9: every store object is untrusted input, and rebuild keeps what it
# replaces. Crafted objects (a version name past any number, an oversized manifest, garbage,
# a manifest stored under another version's name, an oversized label, a bad meta/ object, a
# bad tag, a symlink) are skipped with a log line naming their keys; rebuild and a mount go
# on with the rest, and commits still make versions. Rebuild keeps the old index and its
# drafts' staging files, indexes lineage whatever the artifacts' order, and leaves the old
# index in place when it fails.
. "$(dirname "$0")/lib.sh"
local_store_only

start "commit_delay=600000"
mkdir -p "$MNT/p/a" "$MNT/p/dataset" "$MNT/p/dataset-copy" "$MNT/p/d"
echo one >"$MNT/p/a/f"
setfattr -n user.artifs.commit -v one "$MNT/p/a"
echo two >"$MNT/p/a/f"
setfattr -n user.artifs.commit -v two "$MNT/p/a"
setfattr -n user.label.owner -v team-a "$MNT/p/a/@v1"
echo data >"$MNT/p/dataset/x"
setfattr -n user.artifs.commit -v d "$MNT/p/dataset"
echo copy >"$MNT/p/dataset-copy/x"
setfattr -n user.artifs.inputs -v "artifs://p/dataset@v1" "$MNT/p/dataset-copy"
setfattr -n user.artifs.commit -v c "$MNT/p/dataset-copy"
# A draft kept across a crash: its bytes live in a staging file.
python3 -c "
import os
fd = os.open('$MNT/p/d/draft.txt', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'draft bytes'); os.fsync(fd); os.close(fd)"
crash

V=$STORE/versions/p/a
printf 'garbage' >"$V/99999999999999999999"
printf 'garbage' >"$V/00000000000000000003"
cp "$V/00000000000000000001" "$V/00000000000000000004" # names version 1
truncate -s 65M "$V/00000000000000000005"
mkdir -p "$STORE/meta/p/a/versions"
python3 -c "
import json
print(json.dumps({'labels': {'big': 'x' * 70000, 'ok': 'yes'}}))" >"$STORE/meta/p/a/versions/00000000000000000002.json"
printf 'not json' >"$STORE/meta/p/project.json"
mkdir -p "$STORE/refs/p/a"
printf 'abc' >"$STORE/refs/p/a/badtag"
ln -s /etc "$STORE/versions/p/evil"

# A rebuild that fails half way (its disk fills up) leaves the old index as it was.
SMALL=$T/small
mkdir "$SMALL"
mount -t tmpfs -o size=64m tmpfs "$SMALL" || fail "cannot mount a tmpfs"
CLEANUP_HOOKS+=("umount -l '$SMALL'")
cp -a "$STATE/." "$SMALL/"
used=$(du -sk "$SMALL" | cut -f1)
mount -o remount,size=$((used + 16))k "$SMALL" || fail "cannot shrink the tmpfs"
if "$ARTIFS_BIN" rebuild -o "store=$STORE,state=$SMALL" >>"$LOG" 2>&1; then
	fail "a rebuild on a full disk succeeded"
fi
cmp -s "$STATE/data.mdb" "$SMALL/data.mdb" || fail "a failed rebuild changed or removed the index"
ls "$SMALL" | grep -q index.old && fail "a failed rebuild moved the old index aside"
[ ! -e "$SMALL/rebuild.new" ] || fail "a failed rebuild left its scratch index: $(ls -la "$SMALL/rebuild.new")"
umount "$SMALL"

"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" >>"$LOG" 2>&1 || fail "rebuild failed on a hostile store: $(tail -5 "$LOG")"
for k in 99999999999999999999 00000000000000000003 00000000000000000004 00000000000000000005; do
	grep -q "$k" "$LOG" || fail "no log line names versions/p/a/$k"
done
grep -q "versions/p/a/00000000000000000002.json" "$LOG" || grep -q "meta/p/a/versions/00000000000000000002.json" "$LOG" ||
	fail "no log line names the oversized label's object"
old=$(ls -d "$STATE"/index.old-* | head -1)
[ -n "$old" ] || fail "rebuild kept no old index"
grep -rqs "draft bytes" "$old/staging" || fail "the recovered draft's staging file is not kept beside the old index"

start "commit_delay=600000"
a=$MNT/p/a
[ "$(versions "$a" | tr '\n' ' ')" = "@v1 @v2 " ] || fail "versions after rebuild: $(versions "$a" | tr '\n' ' ')"
[ "$(cat "$a/@v1/f")" = one ] && [ "$(cat "$a/@v2/f")" = two ] || fail "version bytes wrong after rebuild"
[ "$(getfattr --only-values -n user.label.ok "$a/@v2")" = yes ] || fail "the good label next to the oversized one was lost"
if getfattr -n user.label.big "$a/@v2" >/dev/null 2>&1; then fail "the oversized label was installed"; fi
[ "$(getfattr --only-values -n user.label.owner "$a/@v1" 2>/dev/null)" = team-a ] || fail "label owner lost by rebuild"
ARTIFS_STATE=$STATE "$ARTIFS_BIN" lineage artifs://p/dataset-copy@v1 --up --format json | grep -q 'p/dataset@v1' ||
	fail "rebuild lost the lineage of dataset-copy (sorted before its input)"
# Commits still make versions, past every planted number.
echo three >"$a/f"
setfattr -n user.artifs.commit -v three "$a" || fail "a commit after the hostile objects failed: $(tail -3 "$LOG")"
[ "$(readlink "$a/@latest")" = @v6 ] || fail "@latest is $(readlink "$a/@latest"), want @v6 (3, 4 and 5 are taken)"
[ "$(cat "$a/@v6/f")" = three ] || fail "@v6/f wrong"
stop

# A fresh host on the hostile store (refresh): the same versions, and it commits too.
STATE=$T/state2
from=$(wc -l <"$LOG")
start "commit_delay=600000,refresh=1"
[ "$(versions "$a" | tr '\n' ' ')" = "@v1 @v2 @v6 " ] || fail "a fresh host sees: $(versions "$a" | tr '\n' ' ')"
# Refreshes go on (every 1 ms here), but a bad object is fetched and logged once.
for i in 1 2 3; do ls "$a" >/dev/null; ls "$a/" >/dev/null; done
n=$(tail -n +"$((from + 1))" "$LOG" | grep -c "versions/p/a/00000000000000000003" || true)
[ "$n" -eq 1 ] || fail "the bad object versions/p/a/00000000000000000003 was logged $n times by one daemon"
echo four >"$a/f"
setfattr -n user.artifs.commit -v four "$a" || fail "a commit on the fresh host failed"
[ "$(readlink "$a/@latest")" = @v7 ] || fail "fresh host: @latest is $(readlink "$a/@latest")"
stop
echo ok
