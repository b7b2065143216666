# The commands act on artifs mounts only: a path elsewhere (a plain folder, even one that
# holds a .artifs/version of its own) is refused with exit 1 and one line naming it, and
# nothing is changed there. Unknown options are refused, never taken as a path. rebuild
# takes the store options mount takes.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
art=$MNT/proj/art
mkdir -p "$art"
echo data >"$art/f"
"$ARTIFS_BIN" commit -m one "$art" >/dev/null || fail "commit on the mount failed"
[ -d "$art/@v1" ] || fail "no @v1"
plain=$T/plain
mkdir -p "$plain/proj/art" "$T/fake/.artifs" "$T/fake/proj/art"
echo "artifs 0.1.0" >"$T/fake/.artifs/version"
echo x >"$plain/proj/art/f"
export ARTIFS_MOUNT=$MNT

# refused CMD ARGS...: exit 1, a single line on stderr that names the command, nothing on
# stdout.
refused() {
	local rc=0 what="$*"
	"$ARTIFS_BIN" "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc -eq 1 ] || fail "artifs $what: exit $rc, want 1 ($(head -3 "$T/err"))"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "artifs $what: not one line on stderr: $(cat "$T/err")"
	grep -q "^artifs $1: " "$T/err" || fail "artifs $what: message without the command: $(cat "$T/err")"
	[ ! -s "$T/out" ] || fail "artifs $what printed: $(head -3 "$T/out")"
}
# off_mount CMD ARGS...: refused, and the message names the path and says why.
off_mount() {
	refused "$@"
	grep -q "not on an artifs mount" "$T/err" || fail "artifs $*: unclear refusal: $(cat "$T/err")"
}

for dir in "$plain/proj/art" "$T/fake/proj/art"; do
	off_mount commit "$dir"
	off_mount commit -m msg "$dir"
	off_mount discard "$dir"
	off_mount revert "$dir/@v1"
	off_mount label "$dir/@v1" k=v
	off_mount get "$dir/@v1" "$T/get-out"
	off_mount tag "$dir@v1" prod
	off_mount tag -d "$dir" prod
	off_mount cat "$dir/f"
	off_mount prefetch "$dir"
	off_mount status "$dir"
	off_mount stats "$dir"
	off_mount log --state "$STATE" "$dir"
	off_mount lineage --state "$STATE" "$dir/@v1" --up
	off_mount diff --state "$STATE" "$dir/@v1" "$art/@v1"
	off_mount find --state "$STATE" --input "$dir/@v1"
	off_mount commit --input "$dir/@v1" "$art"
	off_mount bench "$dir"
	grep -q "$dir" "$T/err" || fail "the refusal does not name $dir: $(cat "$T/err")"
done
off_mount cat /etc/hostname "$art/f"
# nothing was made or changed off the mount
[ -z "$(getfattr -d -m - --absolute-names "$plain/proj/art" 2>/dev/null)" ] ||
	fail "an xattr was set on the plain folder: $(getfattr -d -m - "$plain/proj/art")"
[ -z "$(find "$plain" "$T/fake" -name '@*')" ] || fail "a tag link was made off the mount: $(find "$plain" -name '@*')"
[ "$(versions "$art")" = "@v1" ] || fail "a refused command made a version: $(versions "$art" | tr '\n' ' ')"
# a URI resolves under $ARTIFS_MOUNT: refused when that is not a mount, named both ways
ARTIFS_MOUNT=$plain off_mount cat artifs://proj/art@v1/f
grep -q "artifs://proj/art@v1/f" "$T/err" || fail "the URI refusal does not name the URI: $(cat "$T/err")"
ARTIFS_MOUNT=$plain off_mount status

# unknown options: refused with a hint, never a path (even when such a path exists)
mkdir -p "$T/cwd/--json" "$T/cwd/-x"
cd "$T/cwd"
for cmd in commit discard revert label get status stats cat prefetch log lineage diff find bench tag rebuild; do
	for opt in --json -x; do
		refused "$cmd" "$opt" "$art"
		grep -q "unknown option '$opt'" "$T/err" || fail "artifs $cmd $opt: $(cat "$T/err")"
		grep -q -- "--help" "$T/err" || fail "artifs $cmd $opt: no usage hint: $(cat "$T/err")"
	done
done
refused mount --json "$T/cwd"
grep -q "unknown option '--json'" "$T/err" || fail "artifs mount --json: $(cat "$T/err")"
refused mount -o "store=$T/s2,state=$T/st2,no_such_option" "$T/cwd"
grep -q "no_such_option" "$T/err" || fail "artifs mount -o no_such_option: $(cat "$T/err")"
[ ! -e "$T/s2" ] && [ ! -e "$T/st2" ] || fail "a refused mount made its store or state"
cd /
# an option without its value
refused commit "$art" -m
grep -q -- "-m needs a value" "$T/err" || fail "commit -m: $(cat "$T/err")"
refused log "$art" --state
refused find --state "$STATE" --limit
refused find --state "$STATE" --limit 3x
refused lineage --state "$STATE" artifs://proj/art@v1 --up --depth -1
# "--" ends the options: a path that starts with '-' is a path
(cd "$T/cwd" && "$ARTIFS_BIN" status -- -x 2>"$T/err") && fail "status -- -x: a plain folder was taken"
grep -q -- "-x: not on an artifs mount" "$T/err" || fail "status -- -x: $(cat "$T/err")"

# the commands still work on the mount, by path and by URI, also from a path inside it
"$ARTIFS_BIN" tag "$art@v1" prod || fail "tag on the mount failed"
[ "$(readlink "$art/@prod")" = "@v1" ] || fail "no @prod"
[ "$("$ARTIFS_BIN" cat artifs://proj/art@prod/f)" = data ] || fail "cat by URI failed"
(cd "$art" && "$ARTIFS_BIN" cat f | grep -qx data) || fail "cat of a relative path failed"
"$ARTIFS_BIN" status "$art" | grep -q "no drafts" || fail "status by a path inside the mount failed"
"$ARTIFS_BIN" stats "$art/@v1" | grep -q '"commits"' || fail "stats by a path inside the mount failed"
"$ARTIFS_BIN" log --state "$STATE" "$art" | grep -q '^@v1 ' || fail "log by path failed"
"$ARTIFS_BIN" log --state "$STATE" -- "$art" | grep -q '^@v1 ' || fail "log -- PATH failed"
"$ARTIFS_BIN" tag -d "$art" prod || fail "tag -d on the mount failed"
stop

# a dead daemon's mount: the path is refused with why, not taken as a plain folder
start "commit_delay=600000"
crash_dir=$art
kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=
refused commit "$crash_dir"
grep -qi "not connected" "$T/err" || fail "commit on a dead mount: $(cat "$T/err")"
unmount_any "$MNT"

# rebuild takes the store options mount takes (one parser), and refuses the others
"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE,endpoint=${AWS_ENDPOINT_URL:-http://127.0.0.1:9},retries=2" \
	-o "cache=$T/cache,cache_size=1G,map_size=64MiB" 2>>"$LOG" ||
	fail "rebuild refused the store options mount takes"
refused rebuild -o "store=$STORE,state=$STATE,cache_size=1X"
grep -q "cache_size=1X" "$T/err" || fail "rebuild cache_size=1X: $(cat "$T/err")"
refused rebuild -o "store=$STORE,state=$STATE,bogus=1"
grep -q "unknown option 'bogus=1'" "$T/err" || fail "rebuild bogus=1: $(cat "$T/err")"
refused rebuild -o "store=$STORE,state=$STATE,rcache=32M"
grep -q "rcache=32M" "$T/err" || fail "rebuild rcache=: $(cat "$T/err")"
refused rebuild "$STORE"
start "commit_delay=600000"
[ "$(cat "$art/@v1/f")" = data ] || fail "@v1 lost after the rebuild"
stop
