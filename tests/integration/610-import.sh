# artifs import (issue 13): a plain folder (a real tree from this machine, with links, modes,
# times and attributes) becomes the next version of an artifact, in one step and exactly:
# what the folder lacks is gone from the version, tags stay, the same folder again makes no
# version; a failed import commits nothing and leaves the HEAD as it was; a killed one
# leaves a draft that is never committed by itself and that status names; refusals.
. "$(dirname "$0")/lib.sh"
start "commit_delay=200"
export ARTIFS_MOUNT=$MNT
a=$MNT/p/a

# listing DIR: every entry below DIR with its type, mode and mtime, and the user.*
# attributes that are not artifs' own: what a version must keep of a folder (diff -r compares the bytes).
listing() {
	python3 - "$1" <<'PY'
import os, sys
top = sys.argv[1]
for d, dirs, files in os.walk(top):
    if d == top:  # the versions and tags of a HEAD are not its files
        dirs[:] = [n for n in dirs if not n.startswith("@")]
        files = [n for n in files if not n.startswith("@")]
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        st = os.lstat(p)
        names = sorted(x for x in os.listxattr(p, follow_symlinks=False)
                       if x.startswith("user.") and not x.startswith("user.artifs."))
        attrs = [(x, os.getxattr(p, x, follow_symlinks=False)) for x in names]
        print(os.path.relpath(p, top), oct(st.st_mode), st.st_mtime_ns, attrs)
PY
}
same_as() { # DIR VERSION-FOLDER WHAT
	diff -r --no-dereference -x "@*" "$1" "$2" >/dev/null || fail "$3: $2 differs from $1"
	diff <(listing "$1" | sort) <(listing "$2" | sort) >"$T/ldiff" ||
		fail "$3: types, modes, times or attributes differ: $(head -5 "$T/ldiff")"
}

src=$T/src
cp -a "$(python3 -c 'import json, os; print(os.path.dirname(json.__file__))')" "$src"
ln -s __init__.py "$src/alias"
ln -s ../missing "$src/dangling"
mkdir -p "$src/empty" "$src/ro"
: >"$src/zero"
echo secret >"$src/ro/key"
chmod 600 "$src/ro/key"
chmod 555 "$src/ro"
setfattr -n user.note -v kept "$src/zero"
setfattr -n user.dir -v d "$src/empty"
mkfifo "$src/pipe"

o=$("$ARTIFS_BIN" import --message first --label team=ml --jobs 4 "$src" "$a" 2>"$T/err") ||
	fail "artifs import failed: $(cat "$T/err")"
[ "$o" = artifs://p/a@v1 ] || fail "artifs import printed '$o', not artifs://p/a@v1"
grep -q "pipe is not a file, folder or link: left out" "$T/err" ||
	fail "the FIFO was not reported as left out: $(cat "$T/err")"
rm "$src/pipe"
same_as "$src" "$a/@v1" "the first import"
[ "$(getfattr --absolute-names --only-values -n user.artifs.message "$a/@v1")" = first ] ||
	fail "the message of @v1 is not 'first'"
[ "$(getfattr --absolute-names --only-values -n user.label.team "$a/@v1")" = ml ] ||
	fail "the label of @v1 is not team=ml"
[ "$(versions "$a")" = @v1 ] || fail "the import made $(versions "$a" | tr '\n' ' ')"
grep -q "^p/a" "$MNT/.artifs/drafts" && fail "a draft is left after the import"

# Changed: a file gone, one new, a file that became a folder and the reverse, an attribute
# gone. The version is the folder exactly; a tag of @v1 stays, and so does @v1.
"$ARTIFS_BIN" tag "$a/@v1" prod || fail "tagging @v1 failed"
rm "$src/decoder.py" "$src/alias"
mkdir "$src/alias"
echo inside >"$src/alias/f"
rm -r "$src/empty"
echo now-a-file >"$src/empty"
setfattr -x user.note "$src/zero"
echo new >"$src/new.txt"
o=$("$ARTIFS_BIN" import "$src" "artifs://p/a") || fail "the second import failed"
[ "$o" = artifs://p/a@v2 ] || fail "the second import printed '$o'"
same_as "$src" "$a/@v2" "the second import"
link_is "$a/@prod" @v1 || fail "@prod is $(readlink "$a/@prod"), not @v1"
[ -f "$a/@v1/decoder.py" ] && [ -d "$a/@v1/empty" ] || fail "@v1 changed"

# The same folder again: no new version, status 0.
o=$("$ARTIFS_BIN" import "$src" "$a") || fail "importing an unchanged folder failed"
echo "$o" | grep -q "no new version" || fail "an unchanged import said '$o'"
[ "$(versions "$a" | tail -1)" = @v2 ] || fail "an unchanged import made a version"

# A failed import (a name artifs refuses at the top of an artifact) commits nothing and
# leaves the HEAD as the newest version.
bad=$T/bad
mkdir "$bad"
echo x >"$bad/@x"
echo y >"$bad/other"
rc=0
"$ARTIFS_BIN" import "$bad" "$a" 2>"$T/err" || rc=$?
[ $rc -eq 1 ] || fail "a failing import exited $rc, not 1"
grep -q "nothing was committed" "$T/err" || fail "the failing import said: $(cat "$T/err")"
[ "$(versions "$a" | tail -1)" = @v2 ] || fail "a failed import made a version"
same_as "$a/@v2" "$a" "the HEAD after a failed import"
grep -q "^p/a" "$MNT/.artifs/drafts" && fail "a failed import left a draft"

# Refusals, each with its reason and status.
refused() { # STATUS PATTERN ARGS...
	local want=$1 pat=$2 rc=0
	shift 2
	"$ARTIFS_BIN" import "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc -eq "$want" ] || fail "artifs import $* exited $rc, not $want"
	grep -q "$pat" "$T/err" || fail "artifs import $*: unclear refusal: $(cat "$T/err")"
}
refused 1 "is not a folder" "$src/zero" "$a"
refused 1 "No such file" "$T/nothing" "$a"
refused 1 "is not an artifact" "$src" "$a/@v1"
refused 1 "is not an artifact" "$src" "$MNT/p"
refused 2 "give a folder and the artifact" "$src"
refused 1 "takes 1 to 64" --jobs 0 "$src" "$a"
refused 1 "not on an artifs mount" "$src" "$T/elsewhere"
refused 1 "overlap" "$a/alias" "$a"
refused 1 "overlap" "$MNT/p" "$a"
# A version of the artifact itself is a folder like any other: its HEAD becomes @v1's tree.
o=$("$ARTIFS_BIN" import "$a/@v1" "$a") || fail "importing @v1 into its own artifact failed"
[ "$(echo "$o" | head -1)" = artifs://p/a@v3 ] || fail "importing @v1 printed '$o'"
echo "$o" | grep -qx '  input artifs://p/a@v1' || fail "p/a@v3 does not name @v1 as its input: $o"
same_as "$a/@v1" "$a/@v3" "@v1 imported again"
o=$("$ARTIFS_BIN" import "$src" "$a") || fail "importing the folder again failed"
[ "$o" = artifs://p/a@v4 ] || fail "importing the folder again printed '$o'"
mkdir -p "$MNT/p/b"
exec 3>"$MNT/p/b/pending" # an open writer: its draft waits for it
echo pending >&3
wait_for grep -q "^p/b" "$MNT/.artifs/drafts" || fail "no draft of p/b"
refused 1 "changes not committed yet" "$src" "$MNT/p/b"
exec 3>&-
[ "$(cat "$MNT/p/b/pending")" = pending ] || fail "the refused import touched p/b's draft"

# Killed during the copy: nothing is committed, also after the quiet time, and status
# names the draft; artifs discard brings the HEAD back, and the artifact commits as before.
big=$T/big
mkdir "$big"
for i in $(seq 3000); do head -c 65536 /dev/urandom >"$big/f$i"; done
"$ARTIFS_BIN" import --jobs 1 "$big" "$a" >/dev/null 2>&1 &
imp=$!
wait_for grep -q "^p/a" "$MNT/.artifs/drafts" || fail "the import made no draft"
kill -STOP "$imp"
grep -q "^p/a	waiting for the import" "$MNT/.artifs/drafts" ||
	fail "status does not say the draft waits for its import: $(cat "$MNT/.artifs/drafts")"
kill -9 "$imp"
wait "$imp" 2>/dev/null || true
# the run is gone now; a plain draft would commit within commit_delay (0.2 s): none may
for i in $(seq 40); do # 2 s: ten times commit_delay, twenty run polls
	[ ! -d "$a/@v5" ] || fail "a killed import was committed"
	sleep 0.05
done
"$ARTIFS_BIN" status "$MNT" | grep -q "p/a	waiting for the import" ||
	fail "artifs status does not name the killed import's draft: $("$ARTIFS_BIN" status "$MNT")"
"$ARTIFS_BIN" discard "$a" || fail "discarding the killed import's draft failed"
same_as "$a/@v2" "$a" "the HEAD after the discard"
echo later >"$a/later"
wait_version "$a" 5
[ "$(cat "$a/@v5/later")" = later ] || fail "@v5 lacks the later file"

# capture=0: refused with the reason (import needs runs).
stop
start "capture=0"
refused 1 "capture=0" "$src" "$MNT/p/c"
stop
