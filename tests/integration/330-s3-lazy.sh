# Lazy reads from S3, counted with artifs stats: a cold 1 MiB read in the middle of a
# 512 MiB file fetches at most two chunks; with the cache wiped, a full read fetches every
# chunk exactly once.
. "$(dirname "$0")/lib.sh"
s3_server art
STORE=s3://art/lazy
store_format1 # counts chunk objects; format 2 fetches whole packs (360-s3-packs.sh)
# objects fetched from the bucket: misses of the chunk cache (a large object may take
# several ranged GETs, so the GET count is not the object count)
gets() { "$ARTIFS_BIN" stats "$MNT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cache"]["misses"])'; }
start "refresh=0,cache=$T/cache"
mkdir -p "$MNT/proj/big"
head -c $((512 << 20)) /dev/urandom >"$T/big"
cp "$T/big" "$MNT/proj/big/f"
setfattr -n user.artifs.commit -v big "$MNT/proj/big"
stop
nchunks=$(s3_curl "$AWS_ENDPOINT_URL/art/lazy/versions/proj/big/00000000000000000001" |
	python3 -c 'import json,sys; m=json.load(sys.stdin); print(len([e for e in m["entries"] if e["path"]=="f"][0]["chunks"]))')

rm -rf "$T/cache"
start "refresh=0,cache=$T/cache"
before=$(gets)
python3 -c "
f = open('$MNT/proj/big/@v1/f', 'rb'); f.seek(256 << 20); b = f.read(1 << 20)
assert b == open('$T/big', 'rb').read()[256 << 20:257 << 20]" || fail "the middle MiB differs"
after=$(gets)
[ $((after - before)) -le 2 ] || fail "a 1 MiB read fetched $((after - before)) objects"
stop

rm -rf "$T/cache"
start "refresh=0,cache=$T/cache"
before=$(gets)
cmp "$T/big" "$MNT/proj/big/@v1/f" || fail "the full read differs"
after=$(gets)
[ $((after - before)) -eq "$nchunks" ] || fail "a full read fetched $((after - before)) objects for $nchunks chunks"
stop
