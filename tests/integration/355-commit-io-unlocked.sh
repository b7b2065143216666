# A commit uploads with no lock that the artifact's other operations need (STYLE.md 5a),
# and what changes during its upload goes into the next version, none of it lost: while the
# fault proxy holds the PUT of one chunk of p/a's commit, a file is made in p/b, an
# unchanged HEAD file of p/a is read, a file is made in p/a, a staged file whose bytes were
# already cut and the file whose chunk is held are rewritten, an attribute of a HEAD file
# and a pending metric are set. All of these finish while the PUT is held. Once released,
# @v2 is the snapshot, except the file rewritten while it was cut, which is cut again (a
# version never holds bytes a file never held); the draft keeps everything else, and the
# next commit makes it @v3. A fresh state directory reads both back from the bucket. Then a
# copy-up whose chunk GET is held, and two artifacts' quiet commits, one of whose uploads is
# held, block nothing else either. No timing: the proxy holds a request until the test
# releases it.
. "$(dirname "$0")/lib.sh"
s3_server art
fault_proxy

STORE=s3://art/t
store_format1 # holds the PUT of one chunk object by its name
start "endpoint=http://127.0.0.1:$PP,commit_delay=600000,capture=0,retries=1"
A=$MNT/p/a
B=$MNT/p/b
mkdir -p "$A" "$B"
echo one >"$A/f"
echo keep >"$A/keep"
setfattr -n user.artifs.commit -v one "$A" || fail "commit of v1 failed"
echo base >"$B/base"
setfattr -n user.artifs.commit -v base "$B" || fail "commit of p/b failed"

# The draft of v2: a.txt is cut before big (path order), big's one chunk is held.
echo a-old >"$A/a.txt"
head -c 300000 /dev/urandom >"$T/big-old"
head -c 300000 /dev/urandom >"$T/big-new"
cp "$T/big-old" "$A/big"
setfattr -n user.metric.acc -v 0.1 "$A" || fail "setting the pending metric failed"
sha=$(sha256sum "$T/big-old" | cut -c1-64)
rules "{\"rules\": [{\"method\": \"PUT\", \"key\": \"/chunks/${sha:0:2}/$sha\", \"action\": \"hold\", \"first\": 1}]}"
ls "$A/@v1" "$A/keep" "$A/f" "$A/a.txt" "$A/big" >/dev/null # names the kernel then has cached

# artifs commit asks by ioctl: setfattr on p/a would hold the kernel's lock on the folder
# for the whole commit, and the create in p/a below would wait for it in the kernel.
"$ARTIFS_BIN" commit -m two "$A" >"$T/commit.out" 2>"$T/commit.err" &
job=$!
wait_for held_is 1 || fail "the proxy never held big's chunk PUT"

# in_time WHAT CMD...: CMD finishes while the chunk PUT is held
in_time() {
	local what=$1 w
	shift
	"$@" &
	w=$!
	wait_for finished "$w" || fail "$what waits for the held store request"
	wait "$w" || fail "$what failed"
}
in_time "a create+write+close in p/b" sh -c "echo new >'$B/new'"
in_time "a read of an unchanged HEAD file of p/a" sh -c "cat '$A/keep' >'$T/keep.out'"
[ "$(cat "$T/keep.out")" = keep ] || fail "p/a/keep read '$(cat "$T/keep.out")'"
in_time "a create in p/a" sh -c "echo during >'$A/during'"
in_time "a rewrite of p/a/a.txt (already cut)" sh -c "echo a-new >'$A/a.txt'"
in_time "a rewrite of p/a/big (being cut)" cp "$T/big-new" "$A/big"
in_time "a write to p/a/f" python3 -c 'import sys; f = open(sys.argv[1], "r+"); f.write("two\n"); f.truncate(); f.close()' "$A/f"
in_time "setxattr on p/a/f" setfattr -n user.note -v during "$A/f"
in_time "setting the pending metric of p/a" setfattr -n user.metric.acc -v 0.5 "$A"
finished "$job" && fail "the commit ended while its chunk PUT was held"
release
wait_for finished "$job" || fail "the commit did not end once released"
wait "$job" || fail "the commit failed: $(cat "$T/commit.err")"
[ "$(cat "$T/commit.out")" = "$A/@v2" ] || fail "artifs commit printed '$(cat "$T/commit.out")', want $A/@v2"
rules '{"rules": []}'

# same_file A B: the same bytes
same_file() { cmp -s "$1" "$2"; }
V=$A/@v2
[ "$(versions "$A" | tr '\n' ' ')" = "@v1 @v2 " ] || fail "p/a has $(versions "$A" | tr '\n' ' ')"
[ "$(cat "$V/a.txt")" = a-old ] || fail "@v2/a.txt reads '$(cat "$V/a.txt")', want the snapshot's a-old"
same_file "$V/big" "$T/big-new" || fail "@v2/big is not the bytes big had when it was cut again"
[ "$(cat "$V/f")" = one ] || fail "@v2/f reads '$(cat "$V/f")', want one"
[ ! -e "$V/during" ] || fail "@v2 holds the file made during its upload"
[ "$(cat "$V/keep")" = keep ] || fail "@v2/keep reads wrong"
getfattr -n user.note "$V/f" >/dev/null 2>&1 && fail "@v2/f has the attribute set during the upload"
[ "$(getfattr --only-values -n user.metric.acc "$V")" = 0.1 ] ||
	fail "@v2's metric acc is '$(getfattr --only-values -n user.metric.acc "$V" 2>&1)', want 0.1"
# the HEAD kept every change, as a draft
[ "$(cat "$A/a.txt")" = a-new ] && [ "$(cat "$A/during")" = during ] && [ "$(cat "$A/f")" = two ] ||
	fail "the HEAD lost a change: a.txt='$(cat "$A/a.txt")' during='$(cat "$A/during")' f='$(cat "$A/f")'"
same_file "$A/big" "$T/big-new" || fail "the HEAD's big is not big-new"
[ "$(getfattr --only-values -n user.note "$A/f")" = during ] || fail "HEAD f lost user.note"
grep -q '^p/a' "$MNT/.artifs/drafts" || fail "p/a has no draft after the commit: $(cat "$MNT/.artifs/drafts")"
[ "$(cat "$B/new")" = new ] || fail "p/b/new reads wrong"

setfattr -n user.artifs.commit -v three "$A" || fail "commit of v3 failed"
V=$A/@v3
[ -d "$V" ] || fail "the draft left by the commit made no @v3: $(versions "$A" | tr '\n' ' ')"
[ "$(cat "$V/a.txt")" = a-new ] && [ "$(cat "$V/during")" = during ] && [ "$(cat "$V/f")" = two ] ||
	fail "@v3 lacks a change made during v2's upload"
[ "$(getfattr --only-values -n user.note "$V/f")" = during ] || fail "@v3/f lacks user.note"
[ "$(getfattr --only-values -n user.metric.acc "$V")" = 0.5 ] ||
	fail "@v3's metric acc is '$(getfattr --only-values -n user.metric.acc "$V" 2>&1)', want 0.5"
if grep -q '^p/a' "$MNT/.artifs/drafts"; then fail "p/a still has a draft after @v3"; fi
stop

# a fresh state directory reads the same versions from the bucket
STATE=$T/state-fresh
start "endpoint=http://127.0.0.1:$PP,commit_delay=600000,capture=0"
[ "$(versions "$A" | tr '\n' ' ')" = "@v1 @v2 @v3 " ] || fail "fresh mount: p/a has $(versions "$A" | tr '\n' ' ')"
same_file "$A/@v2/big" "$T/big-new" && [ "$(cat "$A/@v2/a.txt")" = a-old ] && [ "$(cat "$A/@v3/a.txt")" = a-new ] ||
	fail "fresh mount: @v2 or @v3 reads wrong"

# A copy-up (an open for writing of a HEAD file whose bytes are in the store) fetches with
# the artifact's lock dropped: while the GET of f's chunk is held (this state's cache is
# empty), a file is made in p/a and another of its HEAD files is read.
sha=$(printf 'two\n' | sha256sum | cut -c1-64)
rules "{\"rules\": [{\"method\": \"GET\", \"key\": \"/chunks/${sha:0:2}/$sha\", \"action\": \"hold\", \"first\": 1}]}"
python3 -c 'import sys; f = open(sys.argv[1], "r+"); f.seek(0, 2); f.write("three\n"); f.close()' "$A/f" &
job=$!
wait_for held_is 1 || fail "copy-up: the proxy never held the GET of f's chunk"
in_time "a create in p/a during a copy-up" sh -c "echo x >'$A/during-copy-up'"
in_time "a read of p/a/a.txt during a copy-up" sh -c "cat '$A/a.txt' >'$T/a.out'"
[ "$(cat "$T/a.out")" = a-new ] || fail "copy-up: a.txt read '$(cat "$T/a.out")'"
finished "$job" && fail "copy-up: the write ended while its chunk GET was held"
release
wait_for finished "$job" || fail "copy-up: the write did not end once released"
wait "$job" || fail "copy-up: the write failed"
[ "$(cat "$A/f")" = "$(printf 'two\nthree')" ] || fail "copy-up: f reads '$(cat "$A/f")'"
rules '{"rules": []}'
stop

# Quiet commits (commit_delay=0: at the last close) of two artifacts run side by side: while
# p/a's waits for its held chunk PUT, p/b's is made.
start "endpoint=http://127.0.0.1:$PP,commit_delay=0,capture=0"
head -c 200000 /dev/urandom >"$T/q"
sha=$(sha256sum "$T/q" | cut -c1-64)
rules "{\"rules\": [{\"method\": \"PUT\", \"key\": \"/chunks/${sha:0:2}/$sha\", \"action\": \"hold\", \"first\": 1}]}"
na=$(versions "$A" | wc -l)
cp "$T/q" "$A/q"
wait_for held_is 1 || fail "quiet: the proxy never held p/a's chunk PUT"
nb=$(versions "$B" | wc -l)
echo more >"$B/more"
wait_version "$B" $((nb + 1))
[ "$(versions "$A" | wc -l)" = "$na" ] || fail "quiet: p/a has $(versions "$A" | tr '\n' ' ') while its upload is held"
release
wait_version "$A" $((na + 1))
same_file "$A/@v$((na + 1))/q" "$T/q" || fail "quiet: @v$((na + 1))/q reads wrong"
rules '{"rules": []}'
stop
echo ok
