# S3 faults: with the server stopped, cached reads go on, uncached reads fail with EIO after
# the retry budget, a commit fails but keeps its draft and succeeds once the server is back;
# a corrupted object in the bucket fails that file only; the cache stays within its bound.
. "$(dirname "$0")/lib.sh"
s3_server art
STORE=s3://art/f
store_format1 # plants a chunk object
start "commit_delay=60000,retries=1,refresh=0"
A=$MNT/proj/data
mkdir -p "$A"
head -c 6000000 /dev/urandom >"$T/a"
head -c 6000000 /dev/urandom >"$T/b"
head -c 3000000 /dev/urandom >"$T/d"
cp "$T/a" "$A/a"
setfattr -n user.artifs.commit -v a "$A"
cp "$T/b" "$A/b"
cp "$T/d" "$A/d"
setfattr -n user.artifs.commit -v bd "$A"
cmp "$T/a" "$A/@v2/a" || fail "a differs"           # a's chunks are now in the disk cache
"$ARTIFS_BIN" stats "$MNT" | python3 -c '
import json, sys; s = json.load(sys.stdin)
assert s["cache"]["objects"] > 0 and s["s3"]["gets"] > 0, s' || fail "stats lack cache or s3 counters"

# a corrupted object: EIO for d only
dchunk=$(s3_curl "$AWS_ENDPOINT_URL/art/f/versions/proj/data/00000000000000000002" |
	python3 -c '
import json, sys
m = json.load(sys.stdin)
print([e for e in m["entries"] if e["path"] == "d"][0]["chunks"][0][0])')
s3_curl -X PUT --data-binary "not a chunk" "$AWS_ENDPOINT_URL/art/f/chunks/${dchunk:0:2}/$dchunk" >/dev/null ||
	fail "could not overwrite the chunk object"
expect_errno EIO "open('$A/@v2/d', 'rb').read()"
grep -q "chunk $dchunk" "$LOG" || fail "no log line names the damaged chunk"
cmp "$T/a" "$A/@v2/a" || fail "a is not readable beside the damaged d"

# the server goes away
s3_stop
sync; echo 3 >/proc/sys/vm/drop_caches
cmp "$T/a" "$A/@v2/a" || fail "a cached file is not readable offline"
expect_errno EIO "open('$A/@v2/b', 'rb').read()"
grep -q "after 2 attempt" "$LOG" || fail "the failed read does not log its attempts"
echo draft >"$A/c"
setfattr -n user.artifs.commit -v c "$A" 2>/dev/null && fail "a commit succeeded with the store down"
[ ! -e "$A/@v3" ] || fail "a half version appeared"
[ "$(cat "$A/c")" = draft ] || fail "the draft lost its data"
ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" status | grep -q proj/data || fail "the draft is not listed"

# and comes back
s3_restart
setfattr -n user.artifs.commit -v c "$A" || fail "the commit failed after the server came back"
[ "$(cat "$A/@v3/c")" = draft ] || fail "@v3 lacks the draft"
cmp "$T/b" "$A/@v3/b" || fail "b is not readable after the server came back"
stop

# the cache never exceeds its bound while reading a file three times its size
rm -rf "$T/cache"
start "cache=$T/cache,cache_size=4000000,refresh=0"
head -c 12000000 /dev/urandom >"$T/big"
mkdir -p "$MNT/proj/big"
cp "$T/big" "$MNT/proj/big/f"
setfattr -n user.artifs.commit -v big "$MNT/proj/big"
python3 - "$MNT/proj/big/@v1/f" "$T/cache" "$T/big" <<'PY' || fail "cache bound exceeded or bytes wrong"
import os, sys
path, cache, ref = sys.argv[1:]
def used():
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(cache)
               for f in fs if not f.startswith(".tmp"))
got, peak = bytearray(), 0
with open(path, "rb") as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        got += b
        peak = max(peak, used())
assert peak <= 4000000, peak
assert bytes(got) == open(ref, "rb").read()
PY
stop
