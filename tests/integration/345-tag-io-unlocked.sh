# Tag changes write the store with no index write transaction open and no lock that other
# artifacts need (STYLE.md 5a): while the fault proxy holds the PUT (set, move) or DELETE
# (drop) of refs/p/a/prod, a file is made, written and closed in artifact p/b, p/a's
# versions are listed and its HEAD file is written, and the tag still shows its old value;
# once released, the mount and the bucket (read from the RGW directly) agree on the tag. A
# store write that fails leaves the tag as it was in both, with EIO and a log line. No
# timing: the proxy holds a request until the test releases it.
. "$(dirname "$0")/lib.sh"
s3_server art
fault_proxy

# bucket_ref TAG: the bytes of refs/p/a/TAG in the bucket (from the RGW), or "absent"
bucket_ref() {
	local code
	code=$(s3_curl -o "$T/ref" -w '%{http_code}' "$RGW/art/t/refs/p/a/$1" || true)
	case $code in
	200) cat "$T/ref" ;;
	404) echo absent ;;
	*) fail "GET refs/p/a/$1 from the RGW answered $code" ;;
	esac
}

STORE=s3://art/t
start "endpoint=http://127.0.0.1:$PP,commit_delay=600000,capture=0,retries=1"
A=$MNT/p/a
B=$MNT/p/b
mkdir -p "$A" "$B"
echo one >"$A/f"
setfattr -n user.artifs.commit -v one "$A" || fail "commit of v1 failed"
echo two >"$A/f"
setfattr -n user.artifs.commit -v two "$A" || fail "commit of v2 failed"
echo base >"$B/base"
setfattr -n user.artifs.commit -v base "$B" || fail "commit of p/b failed"

# while_held WHAT N LINK CMD...: runs CMD (a tag change in p/a) in the background while the
# proxy holds its store request; meanwhile p/b takes a new file (file N), p/a is read and
# written, and @prod still points at LINK ("-": not checked), as the index changes only once
# the store has. Then releases the request and checks that CMD succeeded.
# The kernel holds p/a's directory lock for as long as a symlink, rename or unlink in p/a
# runs, so `ls p/a` and lookups of names it has not cached wait in the kernel, never in
# artifs (checked: the stack of such an ls ends in iterate_dir). What artifs decides is
# checked instead: p/a's versions list through cached names, and its HEAD file is read and
# written (an open without O_CREAT takes no directory lock, and the write needs p/a's
# artifact lock, which the store write must not hold).
while_held() {
	local what=$1 n=$2 link=$3 job w
	shift 3
	ls "$A/@v1" "$A/@v2" "$A/f" >/dev/null # names the kernel then has cached
	"$@" &
	job=$!
	wait_for held_is 1 || fail "$what: the proxy never held its request"
	(echo "file $n" >"$B/new$n") &
	w=$!
	wait_for finished "$w" || fail "$what: a create+write+close in p/b waits for the held store request"
	wait "$w" || fail "$what: the create in p/b failed"
	[ "$(cat "$B/new$n")" = "file $n" ] || fail "$what: p/b/new$n reads wrong"
	(ls "$A/@v1" >"$T/ls.out") &
	w=$!
	wait_for finished "$w" || fail "$what: ls of p/a/@v1 waits for the held store request"
	wait "$w" && [ "$(cat "$T/ls.out")" = f ] || fail "$what: ls of p/a/@v1 gave '$(cat "$T/ls.out")'"
	(python3 -c 'import sys; f = open(sys.argv[1], "r+"); f.write(sys.argv[2]); f.truncate(); f.close()' "$A/f" "write $n") &
	w=$!
	wait_for finished "$w" || fail "$what: a write to p/a/f waits for the held store request"
	wait "$w" && [ "$(cat "$A/f")" = "write $n" ] || fail "$what: p/a/f reads '$(cat "$A/f")', want 'write $n'"
	[ "$link" = - ] || link_is "$A/@prod" "$link" ||
		fail "$what: while the store write is held, @prod is '$(readlink "$A/@prod" || true)', want $link"
	finished "$job" && fail "$what: it ended while its store request was held"
	release
	wait_for finished "$job" || fail "$what: it did not end once released"
	wait "$job" || fail "$what: it failed"
	rules '{"rules": []}'
}

# set: the PUT is held
rules '{"rules": [{"method": "PUT", "key": "/refs/p/a/prod", "action": "hold", "first": 1}]}'
while_held "ln -s @v1 @prod" 1 - ln -s @v1 "$A/@prod"
[ "$(bucket_ref prod)" = 1 ] || fail "set: the bucket's refs/p/a/prod holds '$(bucket_ref prod)', want 1"
link_is "$A/@prod" @v1 || fail "set: @prod is '$(readlink "$A/@prod" || true)', want @v1"
[ "$(cat "$A/@prod/f")" = one ] || fail "set: @prod/f does not read v1"

# move: ln -sfn makes a link under a temporary name and renames it over @prod
rules '{"rules": [{"method": "PUT", "key": "/refs/p/a/prod", "action": "hold", "first": 1}]}'
while_held "ln -sfn @v2 @prod" 2 @v1 ln -sfn @v2 "$A/@prod"
[ "$(bucket_ref prod)" = 2 ] || fail "move: the bucket's refs/p/a/prod holds '$(bucket_ref prod)', want 2"
link_is "$A/@prod" @v2 || fail "move: @prod is '$(readlink "$A/@prod" || true)', want @v2"
[ "$(ls -A "$A" | grep -v '^@' | tr '\n' ' ')" = "f " ] || fail "move: the HEAD holds $(ls -A "$A" | tr '\n' ' ')"

# drop: the DELETE is held
rules '{"rules": [{"method": "DELETE", "key": "/refs/p/a/prod", "action": "hold", "first": 1}]}'
while_held "rm @prod" 3 @v2 rm "$A/@prod"
[ "$(bucket_ref prod)" = absent ] || fail "drop: the bucket still holds refs/p/a/prod: $(bucket_ref prod)"
[ ! -L "$A/@prod" ] || fail "drop: @prod is still in the mount"

# a failing PUT: nothing is made, EIO, and the log names the key
rules '{"rules": [{"method": "PUT", "key": "/refs/p/a/bad", "action": "error", "status": 500}]}'
expect_errno EIO "os.symlink('@v1', '$A/@bad')"
[ ! -L "$A/@bad" ] || fail "failed set: @bad is in the mount"
if ls -A "$A" | grep -qx '@bad'; then fail "failed set: @bad is listed"; fi
[ "$(bucket_ref bad)" = absent ] || fail "failed set: the bucket holds refs/p/a/bad"
grep -q "cannot write refs/p/a/bad to the store" "$LOG" || fail "failed set: no log line names refs/p/a/bad"

# a failing move: the tag stays where it was, and ln's temporary link goes
rules '{"rules": []}'
ln -s @v1 "$A/@bad" || fail "set-up of the failing move: ln -s @v1 @bad failed"
rules '{"rules": [{"method": "PUT", "key": "/refs/p/a/bad", "action": "error", "status": 500}]}'
ln -sfn @v2 "$A/@bad" 2>/dev/null && fail "failed move: ln -sfn succeeded"
link_is "$A/@bad" @v1 || fail "failed move: @bad is '$(readlink "$A/@bad" || true)', want @v1"
[ "$(bucket_ref bad)" = 1 ] || fail "failed move: the bucket's refs/p/a/bad holds '$(bucket_ref bad)', want 1"
[ "$(ls -A "$A" | grep -v '^@' | tr '\n' ' ')" = "f " ] || fail "failed move: the HEAD holds $(ls -A "$A" | tr '\n' ' ')"

# a failing DELETE: the tag stays in both
rules '{"rules": [{"method": "DELETE", "key": "/refs/p/a/bad", "action": "error", "status": 500}]}'
expect_errno EIO "os.unlink('$A/@bad')"
link_is "$A/@bad" @v1 || fail "failed drop: @bad is '$(readlink "$A/@bad" || true)', want @v1"
[ "$(bucket_ref bad)" = 1 ] || fail "failed drop: the bucket's refs/p/a/bad holds '$(bucket_ref bad)', want 1"
grep -q "cannot delete refs/p/a/bad from the store" "$LOG" || fail "failed drop: no log line names refs/p/a/bad"

# renaming a tag: the new name is written, the old one deleted, in the store and the mount
rules '{"rules": []}'
mv "$A/@bad" "$A/@good" || fail "mv @bad @good failed"
link_is "$A/@good" @v1 || fail "mv: @good is '$(readlink "$A/@good" || true)', want @v1"
[ ! -L "$A/@bad" ] || fail "mv: @bad is still in the mount"
[ "$(bucket_ref good)" = 1 ] && [ "$(bucket_ref bad)" = absent ] ||
	fail "mv: the bucket holds good=$(bucket_ref good) bad=$(bucket_ref bad)"

# a rename whose DELETE of the old name fails: both names stay, in the mount as in the bucket
rules '{"rules": [{"method": "DELETE", "key": "/refs/p/a/good", "action": "error", "status": 500}]}'
expect_errno EIO "os.rename('$A/@good', '$A/@best')"
link_is "$A/@good" @v1 && link_is "$A/@best" @v1 ||
	fail "failed mv: @good is '$(readlink "$A/@good" || true)', @best '$(readlink "$A/@best" || true)', want @v1 both"
[ "$(bucket_ref good)" = 1 ] && [ "$(bucket_ref best)" = 1 ] ||
	fail "failed mv: the bucket holds good=$(bucket_ref good) best=$(bucket_ref best), want 1 both"
rules '{"rules": []}'

# no tag change made a version (p/a's draft holds the writes to f)
[ "$(versions "$A" | tr '\n' ' ')" = "@v1 @v2 " ] || fail "the versions of p/a are $(versions "$A" | tr '\n' ' ')"
stop

# a fresh state directory reads the same tags from the bucket
STATE=$T/state-fresh
start "endpoint=http://127.0.0.1:$PP,commit_delay=600000,capture=0"
wait_for link_is "$A/@good" @v1 || fail "fresh mount: @good is '$(readlink "$A/@good" || true)', want @v1"
link_is "$A/@best" @v1 || fail "fresh mount: @best is '$(readlink "$A/@best" || true)', want @v1"
[ ! -L "$A/@prod" ] && [ ! -L "$A/@bad" ] || fail "fresh mount: a dropped tag came back: $(ls -A "$A" | tr '\n' ' ')"
stop
echo ok
