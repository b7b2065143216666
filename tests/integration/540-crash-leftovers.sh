# Issue 9, defects 11 and 12: open handles and crash leftovers.
# - a reader opened before another descriptor's copy-up reads the new bytes;
# - the producer's command line is redacted;
# - after a crash: inodes unlinked while open and their staging files are freed at the next
#   mount; a staging file lost in a crash is an error (EIO and a reason in artifs status),
#   never an empty file; a version whose index transaction the crash lost is read in, so
#   committing the recovered draft makes no duplicate.
. "$(dirname "$0")/lib.sh"
local_store_only
getx() { getfattr --only-values --absolute-names -n "$2" "$1"; }

start "commit_delay=600000,refresh=0"
a=$MNT/p/a
mkdir -p "$a"
echo old-bytes >"$a/f"
setfattr -n user.artifs.commit -v one "$a"
python3 - "$a/f" <<'PY' || fail "a reader opened before a copy-up read stale bytes"
import os, sys
f = sys.argv[1]
r = os.open(f, os.O_RDONLY)
assert os.pread(r, 100, 0) == b"old-bytes\n"
w = os.open(f, os.O_WRONLY | os.O_TRUNC)
os.write(w, b"new-bytes!\n")
os.close(w)
got = os.pread(r, 100, 0)
os.close(r)
assert got == b"new-bytes!\n", got
PY

# Producer redaction.
python3 - "$a/g" --password=hunter2 --api-key sk-abc123 HF_TOKEN=tok456 https://u:pw789@example.org/x <<'PY'
import sys
open(sys.argv[1], "w").write("g\n")
PY
setfattr -n user.artifs.commit -v two "$a"
prod=$(getx "$a/@v2" user.artifs.producer)
for s in hunter2 sk-abc123 tok456 pw789; do
	case $prod in *"$s"*) fail "the producer keeps a secret ($s): $prod" ;; esac
done
case $prod in *"--password=***"*) ;; *) fail "the producer does not show the redacted option: $prod" ;; esac

# Declared inputs @v1 and @v10 are two inputs (no substring de-duplication).
mkdir -p "$MNT/p/x"
for i in $(seq 10); do
	echo "$i" >"$MNT/p/x/f"
	setfattr -n user.artifs.commit -v "x$i" "$MNT/p/x"
done
setfattr -n user.artifs.inputs -v "artifs://p/x@v1
artifs://p/x@v10" "$a"
echo in >"$a/inputs.txt"
setfattr -n user.artifs.commit -v inputs "$a"
ins=$(getx "$a/@v3" user.artifs.inputs)
for want in artifs://p/x@v1 artifs://p/x@v10; do
	printf '%s\n' "$ins" | grep -qx "$want" || fail "declared inputs @v1 and @v10 became: $ins"
done

# Unlinked while open, then a crash.
exec 7<>"$a/g"
echo more >&7
rm "$a/g"
staged=$(ls "$STATE/staging" | wc -l)
[ "$staged" -ge 1 ] || fail "no staging file for the open, unlinked file"
crash
exec 7>&-
# A draft file whose staging file is lost.
start "commit_delay=600000,refresh=0"
grep -q "sweep: freed 1 inode" "$LOG" || fail "the sweep did not free the inode unlinked while open: $(grep sweep "$LOG")"
[ "$(ls "$STATE/staging" | wc -l)" -eq 0 ] || fail "staging files left after the sweep: $(ls "$STATE/staging")"
python3 -c "
import os
fd = os.open('$a/lost', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'lost bytes'); os.fsync(fd); os.close(fd)"
crash
rm -f "$STATE"/staging/*
start "commit_delay=600000,refresh=0"
expect_errno EIO "open('$a/lost').read()"
if setfattr -n user.artifs.commit -v three "$a" 2>/dev/null; then fail "a draft whose staging file is lost committed"; fi
[ ! -d "$a/@v4" ] || fail "a version was made without the lost bytes"
ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" status | grep "p/a" | grep -q "staging file is missing" ||
	fail "artifs status does not say why the draft does not commit: $(ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" status)"
"$ARTIFS_BIN" discard "$a" || fail "discard failed"
stop

# A version the index lost: host 2 commits the tree host 1 has as a crashed draft.
start "commit_delay=600000,refresh=0"
echo same >"$a/h"
python3 -c "
import os
fd = os.open('$a/h', os.O_RDONLY); os.fsync(fd); os.close(fd)"
crash
MNT1=$MNT STATE1=$STATE
MNT=$T/mnt2 STATE=$T/state2
mkdir -p "$MNT"
start "commit_delay=600000"
[ "$(cat "$MNT/p/a/f")" = new-bytes! ] || fail "host 2 does not see the HEAD of @v2"
echo same >"$MNT/p/a/h"
setfattr -n user.artifs.commit -v by-host-2 "$MNT/p/a"
[ -d "$MNT/p/a/@v4" ] || fail "host 2 made no @v4"
stop
MNT=$MNT1 STATE=$STATE1
start "commit_delay=600000,refresh=0"
[ -d "$a/@v4" ] || fail "the mount did not read in @v4 for the recovered draft"
"$ARTIFS_BIN" commit "$a" >/dev/null || fail "artifs commit of the recovered draft failed: $(tail -3 "$LOG")"
[ ! -d "$a/@v5" ] || fail "committing the recovered draft made a duplicate @v5"
stop
echo ok
