# The s3 store on a real Ceph RADOS Gateway on loopback: versions, byte-exact reads, dedup,
# rebuild from the bucket alone, and clear refusals for a wrong secret and a missing bucket.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/two-hosts.inc"
s3_server art
STORE=s3://art/team
start "commit_delay=100"
A=$MNT/proj/model
mkdir -p "$A"
head -c 9000000 /dev/urandom >"$T/one"
cp "$T/one" "$A/w.bin"
wait_version "$A" 1
cmp "$T/one" "$A/@v1/w.bin" || fail "@v1 differs on s3"
python3 -c "
f = open('$A/w.bin', 'r+b'); f.seek(4500000); f.write(b'x' * 4096); f.close()"
wait_version "$A" 2
cmp "$T/one" "$A/@v1/w.bin" || fail "@v1 changed after @v2"
cmp <(python3 -c "
import sys; d = bytearray(open('$T/one', 'rb').read()); d[4500000:4504096] = b'x' * 4096
sys.stdout.buffer.write(d)") "$A/@v2/w.bin" || fail "@v2 differs on s3"
ln -s @v1 "$A/@prod"
setfattr -n user.label.stage -v prod "$A/@v1"
stop

# the bucket alone rebuilds everything; rebuild takes the store options mount takes (the
# endpoint given as an option only)
rm -rf "$STATE"
AWS_ENDPOINT_URL= "$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE,endpoint=$AWS_ENDPOINT_URL" \
	-o "retries=2,cache=$T/cache,cache_size=64M" 2>>"$LOG" || fail "rebuild from s3 failed"
start
cmp "$T/one" "$A/@prod/w.bin" || fail "@prod after rebuild differs"
[ "$(getfattr --only-values -n user.label.stage "$A/@v1")" = prod ] || fail "label lost"
stop

# a wrong secret: the mount fails at start, names the endpoint and the S3 error, not the secret
secret=$AWS_SECRET_ACCESS_KEY
out=$(AWS_SECRET_ACCESS_KEY=not-the-secret-$RANDOM "$ARTIFS_BIN" mount -f \
	-o "store=$STORE,state=$T/s2" "$MNT" 2>&1) && fail "a wrong secret mounted"
echo "$out" | grep -q "$AWS_ENDPOINT_URL" || fail "no endpoint in: $out"
echo "$out" | grep -q "SignatureDoesNotMatch" || fail "no S3 error code in: $out"
echo "$out" | grep -q "not-the-secret" && fail "the secret leaked into: $out"
echo "$out" | grep -qF "$secret" && fail "the real secret leaked into: $out"
out=$("$ARTIFS_BIN" mount -f -o "store=s3://no-such-bucket,state=$T/s3" "$MNT" 2>&1) &&
	fail "a missing bucket mounted"
echo "$out" | grep -q "NoSuchBucket" || fail "no NoSuchBucket in: $out"
mountpoint -q "$MNT" && fail "a refused mount is mounted"
grep -rqF "$secret" "$STATE" && fail "the secret is in the state directory"

# two hosts on one bucket, each with its own state
STORE=s3://art/hosts
STATE=$T/state-hosts
two_hosts
