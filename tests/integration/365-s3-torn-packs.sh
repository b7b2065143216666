# Issue 11, store format 2 on S3 through the fault proxy: a torn pack upload never becomes
# part of a version, and a daemon killed (kill -9) in the middle of a commit never leaves a
# manifest in the bucket that names a pack the bucket lacks.
#  1. Every pack PUT is torn (the proxy forwards half the body, then closes both
#     connections): the commit fails, no version and no manifest; the draft still reads
#     right and commits once the store answers.
#  2. The first pack PUT of a commit is torn: its retry stores the pack whole and the commit
#     succeeds.
#  3. The daemon is killed while the proxy holds (a) the second pack PUT of a commit (which
#     then goes on without its client), (b) the manifest PUT, which the server never sees,
#     (c) the manifest PUT's answer after the server stored it. (a) and (b) make no version
#     and the draft commits on the next mount; (c) made the version, which the next mount
#     finds in the bucket.
# After each, every manifest in the bucket names only packs and indexes the bucket holds, and
# a fresh host (new state directory, empty cache) reads every version it lists right.
. "$(dirname "$0")/lib.sh"
s3_server art
fault_proxy
STORE=s3://art/t
opts="endpoint=http://127.0.0.1:$PP,commit_delay=600000,capture=0,retries=1"
a=$MNT/p/a
declare -A want # version number -> the folder of source files it must hold

# consistent N: the bucket holds N manifests, and each names only packs whose .pack and .idx
# objects exist.
consistent() {
	python3 - "$1" "$AWS_ENDPOINT_URL" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" <<'PY'
import json, re, subprocess, sys
n, url, key, secret = sys.argv[1:]
def get(path):
    return subprocess.run(["curl", "-sf", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user",
                           f"{key}:{secret}", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                           f"{url}/art{path}"], check=True, capture_output=True).stdout
def keys(prefix):
    q = prefix.replace("/", "%2F")  # signed as sent: encoded, keys in order
    return set(re.findall(r"<Key>([^<]*)</Key>", get(f"?list-type=2&prefix={q}").decode()))
have = keys("t/packs/")
manifests = sorted(keys("t/versions/"))
bad = 0
if len(manifests) != int(n):
    print(f"{len(manifests)} manifests in the bucket, not {n}")
    bad += 1
for m in manifests:
    doc = json.loads(get("/" + m))
    for name, _digest in doc.get("packs", []):
        for ext in ("pack", "idx"):
            k = f"t/packs/{name[:2]}/{name}.{ext}"
            if k not in have:
                print(f"{m} names {k}, which the bucket lacks")
                bad += 1
sys.exit(1 if bad else 0)
PY
}
# fresh_reads: a host with a new state directory and an empty cache reads every version
# listed in want right, and lists no other.
fresh_reads() {
	local s=$STATE v
	STATE=$T/fresh.$1
	start "$opts,cache=$T/fresh-cache.$1"
	for v in "${!want[@]}"; do
		diff -r "${want[$v]}" "$a/@v$v" >/dev/null || fail "$1: a fresh host reads @v$v wrong"
	done
	[ "$(ls -d "$a"/@v* 2>/dev/null | wc -l)" = "${#want[@]}" ] ||
		fail "$1: a fresh host lists $(ls -d "$a"/@v* | xargs -n1 basename | tr '\n' ' ')"
	stop
	STATE=$s
}
# clear: removes the HEAD's entries (not its @ names)
clear() { find "$a" -mindepth 1 -maxdepth 1 ! -name '@*' -exec rm -rf {} +; }
# src N MIB: a folder of new content, a file of MIB MiB and 50 small files
src() {
	mkdir -p "$T/src$1"
	head -c "$(($2 << 20))" /dev/urandom >"$T/src$1/big"
	for i in $(seq 50); do head -c 3000 /dev/urandom >"$T/src$1/s$i"; done
}

start "$opts,cache=$T/cache"
mkdir -p "$a"

# 1. Every pack PUT torn.
src 1 12
cp -r "$T/src1/." "$a/"
rules '{"rules": [{"method": "PUT", "key": ".pack", "action": "cut"}]}'
if setfattr -n user.artifs.commit -v one "$a" 2>/dev/null; then
	fail "a commit whose pack uploads were all torn made a version"
fi
[ ! -e "$a/@v1" ] || fail "@v1 exists after torn uploads"
grep -q 'cut after' "$T/proxy.log" || fail "the proxy never cut a pack upload"
diff -r "$T/src1" "$a" -x '@*' >/dev/null || fail "the draft reads wrong after torn uploads"
consistent 0 || fail "a manifest names a missing pack after torn uploads"
rules '{"rules": []}'
setfattr -n user.artifs.commit -v one "$a" || fail "the commit after torn uploads failed"
want[1]=$T/src1
diff -r "$T/src1" "$a/@v1" >/dev/null || fail "@v1 reads wrong"

# 2. The first pack PUT torn, its retry whole.
clear
src 2 12
cp -r "$T/src2/." "$a/"
rules '{"rules": [{"method": "PUT", "key": ".pack", "action": "cut", "first": 1}]}'
setfattr -n user.artifs.commit -v two "$a" || fail "a commit with one torn pack upload failed"
want[2]=$T/src2
consistent 2 || fail "a manifest names a missing pack after a retried torn upload"
stop
fresh_reads "torn"

# 3. kill -9 at three points of a commit: whatever the bucket then holds is consistent, and
# the draft (kept in the state directory) commits on the next mount.
n=2
for point in pack2 manifest manifest-stored; do
	case $point in
	pack2) rule='{"method": "PUT", "key": ".pack", "action": "hold", "skip": 1, "first": 1}' ;;
	manifest) rule='{"method": "PUT", "key": "/versions/", "action": "hold", "forward": false}' ;;
	manifest-stored) rule='{"method": "PUT", "key": "/versions/", "action": "hold", "after": true}' ;;
	esac
	start "$opts,cache=$T/cache"
	clear
	src "$point" 20
	cp -r "$T/src$point/." "$a/"
	rules "{\"rules\": [$rule]}"
	"$ARTIFS_BIN" commit -m "$point" "$a" >/dev/null 2>&1 &
	job=$!
	wait_for held_is 1 || fail "$point: the proxy never held the request"
	crash
	wait "$job" 2>/dev/null || true
	release
	rules '{"rules": []}'
	if [ $point = manifest-stored ]; then stored=$((n + 1)); else stored=$n; fi
	consistent $stored || fail "$point: a manifest names a missing pack after kill -9"
	start "$opts,cache=$T/cache"
	n=$((n + 1))
	if [ $point = manifest-stored ]; then
		[ -e "$a/@v$n" ] || fail "$point: the version whose manifest was stored is missing"
	else
		[ ! -e "$a/@v$n" ] || fail "$point: a version appeared though its manifest was not stored"
		setfattr -n user.artifs.commit -v "$point again" "$a" ||
			fail "$point: the draft did not commit after kill -9"
	fi
	want[$n]=$T/src$point
	diff -r "$T/src$point" "$a/@v$n" >/dev/null || fail "$point: @v$n reads wrong"
	consistent $n || fail "$point: a manifest names a missing pack after the next commit"
	stop
done
fresh_reads "killed"
echo "torn pack uploads and kill -9 during commits left every manifest whole"
