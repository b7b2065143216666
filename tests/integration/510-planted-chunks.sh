# Issue 9, defect 4: deduplication never trusts that an object exists. A chunk object
# planted (or damaged) under the name of content a user is about to commit is replaced by
# the commit, and the version and the HEAD read the user's bytes. Runs on a local store and
# (make check's second pass) on S3, of format 1, whose chunk objects are named by content
# (format 2's packs have random names: 560-packs.sh plants their indexes).
. "$(dirname "$0")/lib.sh"

# plant KEY: puts garbage under store key KEY, past the daemon.
plant() {
	if [ "${ARTIFS_TEST_STORE:-local}" = s3 ]; then
		s3_curl -X PUT --data-binary "planted, not a chunk" "$AWS_ENDPOINT_URL/suite/t/$1" >/dev/null ||
			fail "cannot plant $1"
	else
		mkdir -p "$(dirname "$STORE/$1")"
		printf 'planted, not a chunk' >"$STORE/$1"
	fi
}

store_format1
start "commit_delay=600000"
mkdir -p "$MNT/p/a" "$MNT/p/b"
head -c 300000 /dev/urandom >"$T/known.bin"
head -c 200000 /dev/urandom >"$T/other.bin"
sum=$(sha256sum "$T/known.bin" | cut -c1-64)
osum=$(sha256sum "$T/other.bin" | cut -c1-64)
# Files under the smallest chunk size are one chunk named by the file's SHA-256.
plant "chunks/${sum:0:2}/$sum"
cp "$T/known.bin" "$MNT/p/a/known.bin"
setfattr -n user.artifs.commit -v one "$MNT/p/a" || fail "commit failed: $(tail -3 "$LOG")"
cmp "$T/known.bin" "$MNT/p/a/@v1/known.bin" || fail "@v1/known.bin is not the user's bytes"
cmp "$T/known.bin" "$MNT/p/a/known.bin" || fail "the HEAD file is not the user's bytes"
grep -q "damaged; storing it again" "$LOG" || fail "no log line names the replaced object"

# The same content in another artifact is deduplicated against the good object now.
cp "$T/known.bin" "$MNT/p/b/copy.bin"
setfattr -n user.artifs.commit -v one "$MNT/p/b" || fail "commit of p/b failed"
cmp "$T/known.bin" "$MNT/p/b/@v1/copy.bin" || fail "p/b@v1/copy.bin differs"

# A chunk planted after this host stored it is not this defect (the store was changed
# behind artifs' back); but one planted for content this host never stored is replaced on
# every path, also for a file that keeps an older name.
plant "chunks/${osum:0:2}/$osum"
cp "$T/other.bin" "$MNT/p/a/known.bin"
setfattr -n user.artifs.commit -v two "$MNT/p/a" || fail "second commit failed"
cmp "$T/other.bin" "$MNT/p/a/@v2/known.bin" || fail "@v2/known.bin is not the user's bytes"
stop

# A fresh host reads every version from the store alone.
rm -rf "$STATE"
"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" >>"$LOG" 2>&1 || fail "rebuild failed"
start "commit_delay=600000"
cmp "$T/known.bin" "$MNT/p/a/@v1/known.bin" || fail "after rebuild @v1 differs"
cmp "$T/other.bin" "$MNT/p/a/@v2/known.bin" || fail "after rebuild @v2 differs"
cmp "$T/known.bin" "$MNT/p/b/@v1/copy.bin" || fail "after rebuild p/b@v1 differs"
stop
echo ok
