# artifs fsck (issue 12): a clean store is clean (exit 0, also --deep, also as JSON, also
# beside a live mount); each fault class it claims to find, planted into a local store, is
# found and named by its key (exit 1), and is gone from the report once undone.
. "$(dirname "$0")/lib.sh"
local_store_only
start "commit_delay=600000"
a=$MNT/p/a
mkdir -p "$a"
head -c 3000000 /dev/urandom >"$a/big"
echo small >"$a/s"
setfattr -n user.artifs.commit -v one "$a"
echo two >"$a/s"
setfattr -n user.artifs.commit -v two "$a"
O="store=$STORE,state=$STATE"
# fsck_finds WHAT [--deep]: fsck exits 1 and one problem line holds WHAT.
fsck_finds() {
	local what=$1 out rc=0
	shift
	out=$("$ARTIFS_BIN" fsck "$@" -o "$O" 2>/dev/null) || rc=$?
	[ $rc = 1 ] || fail "fsck $* exited $rc, not 1, for '$what': $out"
	echo "$out" | grep -q "^problem	.*$what" || fail "fsck $* did not report '$what': $out"
}
clean() {
	local out
	out=$("$ARTIFS_BIN" fsck "$@" -o "$O" 2>/dev/null) || fail "fsck $* of a clean store failed: $out"
	echo "$out" | grep -q "0 problems" || fail "fsck $* says: $out"
}

clean
clean --deep
"$ARTIFS_BIN" fsck --deep --format json -o "$O" >"$T/j" || fail "fsck --format json failed"
python3 - "$T/j" <<'PY' || fail "fsck's JSON is not what it should be: $(cat "$T/j")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["versions"] == 2 and j["packs"] >= 1 and j["chunks_verified"] > 0, j
assert j["deep"] is True and j["problems"] == [], j
PY

pack=$(find "$STORE/packs" -name '*.pack' -size +1M | head -n 1)
idx=${pack%.pack}.idx
key=${pack#"$STORE/"}
[ -f "$pack" ] && [ -f "$idx" ] || fail "no pack of the big file in the store"
cp "$pack" "$T/pack.bak"
cp "$idx" "$T/idx.bak"

# A byte of a frame flipped: only --deep reads it.
python3 - "$pack" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(1000000)
    b = f.read(1)
    f.seek(1000000)
    f.write(bytes([b[0] ^ 0xFF]))
PY
clean
fsck_finds "$key	frame [0-9]*: damaged" --deep
cp "$T/pack.bak" "$pack"
clean --deep

# A pack cut short, and a pack gone.
truncate -s 100000 "$pack"
fsck_finds "$key	100000 bytes, its index says"
rm "$pack"
fsck_finds "$key	missing (named by versions/p/a/"
cp "$T/pack.bak" "$pack"

# Its index gone, and damaged.
rm "$idx"
fsck_finds "$key	its index is missing"
cp "$T/idx.bak" "$idx"
printf 'x' | dd of="$idx" bs=1 seek=50 conv=notrunc 2>/dev/null
fsck_finds "$key	its index is not valid"
cp "$T/idx.bak" "$idx"
clean --deep

# A planted manifest that is none, and one the index has but the store lost.
printf 'garbage' >"$STORE/versions/p/a/00000000000000000009"
fsck_finds "versions/p/a/00000000000000000009	not a valid manifest"
rm "$STORE/versions/p/a/00000000000000000009"
mv "$STORE/versions/p/a/00000000000000000001" "$T/m1"
fsck_finds "versions/p/a/00000000000000000001	missing, but this host's index has p/a@v1"
mv "$T/m1" "$STORE/versions/p/a/00000000000000000001"
clean

# Refusals: an unknown option, a bad format.
if "$ARTIFS_BIN" fsck --bogus -o "$O" 2>/dev/null; then fail "fsck took --bogus"; fi
if "$ARTIFS_BIN" fsck --format xml -o "$O" 2>/dev/null; then fail "fsck took --format xml"; fi

# --repair: a planted object at a version key goes to lost+found/ (kept, not deleted); a
# manifest of a newer format stays where it is; index drift is repaired only unmounted.
printf 'garbage' >"$STORE/versions/p/a/00000000000000000009"
out=$("$ARTIFS_BIN" fsck --repair -o "$O" 2>/dev/null) || fail "fsck --repair of a planted manifest: $out"
echo "$out" | grep -q "^repaired	versions/p/a/00000000000000000009	.*lost+found/" ||
	fail "fsck --repair did not say what it did: $out"
[ "$(cat "$STORE/lost+found/versions/p/a/00000000000000000009")" = garbage ] ||
	fail "the planted object is not in lost+found/"
[ ! -e "$STORE/versions/p/a/00000000000000000009" ] || fail "the planted object stays"
clean
printf '{"artifs_manifest": 99}' >"$STORE/versions/p/a/00000000000000000009"
fsck_finds "versions/p/a/00000000000000000009	a manifest of a newer format" --repair
[ -e "$STORE/versions/p/a/00000000000000000009" ] || fail "--repair moved a newer manifest"
rm "$STORE/versions/p/a/00000000000000000009"
mv "$STORE/versions/p/a/00000000000000000001" "$T/m1"
fsck_finds "$STATE	not repaired: a mount uses this index" --repair

# Refusals: an unknown option, a bad format.
if "$ARTIFS_BIN" fsck --bogus -o "$O" 2>/dev/null; then fail "fsck took --bogus"; fi
if "$ARTIFS_BIN" fsck --format xml -o "$O" 2>/dev/null; then fail "fsck took --format xml"; fi
stop
out=$("$ARTIFS_BIN" fsck --repair -o "$O" 2>/dev/null) || fail "fsck --repair unmounted: $out"
echo "$out" | grep -q "^repaired	$STATE	the index was made anew" || fail "fsck --repair: $out"
clean
mv "$T/m1" "$STORE/versions/p/a/00000000000000000001"
"$ARTIFS_BIN" rebuild -o "$O" >"$T/rb" 2>&1 || fail "rebuild after putting v1 back failed: $(cat "$T/rb")"
clean --deep # with no mount too
