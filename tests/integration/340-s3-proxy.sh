# The s3 store behind a fault-injecting proxy (tests/s3/fault-proxy.py) in front of the real
# RGW: under lost answers to manifest and chunk PUTs, 500/503 bursts, resets and delays, every
# commit makes exactly one version (the @vN folders and the versions/ keys in the bucket,
# listed straight from the RGW), and every version reads back byte for byte, also after a
# remount with a fresh state directory, so that the bytes come from the bucket.
. "$(dirname "$0")/lib.sh"
s3_server art
fault_proxy

ARTS="0 1 2 3 4"
NV=3

# fired: how many requests the current rules hit
fired() {
	curl -sf "$CTL/stats" | python3 -c '
import json, sys; print(sum(r["fired"] for r in json.load(sys.stdin)["rules"]))'
}
# bucket_versions PREFIX: the versions/ keys under PREFIX, listed from the RGW directly
bucket_versions() {
	s3_curl "$RGW/art?list-type=2&prefix=$1%2Fversions%2F" | python3 -c '
import re, sys; print(len(re.findall(r"<Key>", sys.stdin.read())))'
}
# gen DIR ART V: version V's files of artifact ART, into DIR (which holds version V-1's)
gen() {
	python3 - "$@" <<'PY'
import os, random, sys
src, art, v = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(f"{art}-{v}")
def put(name, data):
    path = os.path.join(src, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
put("small.txt", (f"artifact {art} version {v}\n" * (3 + art + v)).encode())
put("mid.bin", r.randbytes(150000 + 20000 * art))
put(f"sub/v{v}.txt", r.randbytes(r.randrange(3000)))
if v == 1:  # 1.5 to 5.1 MiB: one to a few chunks
    put("big.bin", random.Random(f"big-{art}").randbytes(1572864 + art * 921600))
if v == 3:  # a change in the middle of the big file
    with open(os.path.join(src, "big.bin"), "r+b") as f:
        n = f.seek(0, 2)
        f.seek(n // 2)
        f.write(r.randbytes(4096))
PY
}
# sums DIR: a sorted list of "sha256  ./path" of the files below DIR
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
# same_bytes DIR SUMS WHAT: DIR holds exactly the files of SUMS, with their bytes
same_bytes() { [ "$(sums "$1")" = "$(cat "$2")" ] || fail "$3: $1 differs from its source"; }
expect_versions() {
	local want
	want=$(seq 1 "$2" | sed 's/^/@v/' | tr '\n' ' ')
	[ "$(versions "$1" | tr '\n' ' ')" = "$want" ] ||
		fail "$3: $1 has $(versions "$1" | tr '\n' ' '), expected $want"
}

# phase NAME RULES [MOUNT-OPTIONS]: 5 artifacts x 3 versions committed under RULES, then
# read back from the bucket under RULES again by a mount with a fresh state directory.
phase() {
	local name=$1 json=$2 opts="endpoint=http://127.0.0.1:$PP,commit_delay=600000,capture=0${3:+,$3}" a v n
	FIRED=-1
	case " ${ARTIFS_PROXY_PHASES:-$name} " in *" $name "*) ;; *) return 0 ;; esac
	STORE=s3://art/$name
	STATE=$T/state-$name
	# mount without faults (the mount's first requests retry less, to fail fast)
	rules '{"rules": []}'
	start "$opts"
	rules "$json"
	for v in $(seq 1 $NV); do
		for a in $ARTS; do
			mkdir -p "$T/src-$name/$a" "$MNT/p/a$a"
			gen "$T/src-$name/$a" "$a" "$v"
			sums "$T/src-$name/$a" >"$T/sums-$name-$a-$v"
			cp -r "$T/src-$name/$a/." "$MNT/p/a$a/"
			setfattr -n user.artifs.commit -v "v$v" "$MNT/p/a$a" ||
				fail "$name: the commit of a$a v$v failed"
			expect_versions "$MNT/p/a$a" "$v" "$name: after the commit of a$a v$v"
			same_bytes "$MNT/p/a$a/@v$v" "$T/sums-$name-$a-$v" "$name: a$a@v$v"
		done
	done
	n=$(fired)
	[ "$n" -gt 0 ] || fail "$name: no fault fired"
	echo "$name: $n faults while committing"
	FIRED=$n
	stop
	n=$(bucket_versions "$name")
	[ "$n" -eq $((NV * 5)) ] || fail "$name: $n versions/ keys in the bucket, expected $((NV * 5))"

	# a fresh state directory: every version and byte comes from the bucket, under faults
	STATE=$T/state-$name-fresh
	rules '{"rules": []}'
	start "$opts"
	rules "$json"
	for a in $ARTS; do
		wait_for test -d "$MNT/p/a$a/@v$NV" || fail "$name: the fresh mount does not see a$a@v$NV"
		expect_versions "$MNT/p/a$a" $NV "$name: the fresh mount"
		for v in $(seq 1 $NV); do
			same_bytes "$MNT/p/a$a/@v$v" "$T/sums-$name-$a-$v" "$name: fresh a$a@v$v"
		done
	done
	echo "$name: $(fired) faults while reading back"
	stop
	rm -rf "$T/src-$name" "$STATE" "$T/state-$name"
}

# every manifest PUT loses its first answer (the server stored it): the retry meets 412
phase lost-manifest '{"rules": [
	{"method": "PUT", "key": "/versions/", "action": "drop", "per_key_first": 1, "max": 40}]}'
[ "$FIRED" -lt 0 ] || [ "$FIRED" -eq $((NV * 5)) ] || fail "lost-manifest: $FIRED answers lost, expected one per commit"
n=$(grep -c "412 to a resent create, but the object holds our bytes" "$LOG" || true)
[ "$FIRED" -lt 0 ] || [ "$n" -ge 1 ] || fail "lost-manifest: no log line for a recognised own write"

# every manifest PUT gets no answer at all, however often it is retried
phase no-answer '{"rules": [
	{"method": "PUT", "key": "/versions/", "action": "drop", "per_key_first": 3}]}' retries=2

# every pack and pack index PUT (store format 2) loses its first answer
phase lost-pack '{"rules": [
	{"method": "PUT", "key": "/packs/", "action": "drop", "per_key_first": 1}]}'

# bursts of 503 SlowDown and 500 InternalError, on any request
phase errors '{"seed": 3, "rules": [
	{"action": "error", "status": 503, "prob": 0.02, "burst": 3},
	{"action": "error", "status": 500, "prob": 0.03, "burst": 2}]}'

# resets: after the server stored a manifest, and before forwarding anything
phase resets '{"seed": 5, "rules": [
	{"method": "PUT", "key": "/versions/", "action": "reset", "per_key_first": 1},
	{"action": "reset", "forward": false, "prob": 0.08}]}'

# slow answers: a few hundred ms before manifest answers, and on some other requests
phase delays '{"seed": 9, "rules": [
	{"method": "PUT", "key": "/versions/", "action": "delay", "delay_ms": 300, "after": true},
	{"action": "delay", "delay_ms": 200, "prob": 0.03}]}'

# A commit that failed after its manifest was stored (every answer lost): committing the
# draft again makes no second version; the first one is read in (refresh off: nothing else
# would find it).
if case " ${ARTIFS_PROXY_PHASES:-retry} " in *" retry "*) true ;; *) false ;; esac; then
	STORE=s3://art/retry
	STATE=$T/state-retry
	rules '{"rules": []}'
	start "endpoint=http://127.0.0.1:$PP,commit_delay=600000,capture=0,retries=2,refresh=0"
	mkdir -p "$MNT/p/r"
	echo retried >"$MNT/p/r/f"
	rules '{"rules": [
		{"method": "PUT", "key": "/versions/", "action": "drop", "first": 1},
		{"key": "/versions/", "action": "reset", "forward": false}]}'
	if setfattr -n user.artifs.commit -v one "$MNT/p/r" 2>/dev/null; then
		echo "retry: the first commit succeeded under lost answers (the backend recognised it)"
	fi
	[ "$(bucket_versions retry)" -eq 1 ] || fail "retry: the manifest PUT did not reach the bucket"
	rules '{"rules": []}'
	setfattr -n user.artifs.commit -v again "$MNT/p/r" || fail "retry: the second commit failed"
	[ "$(bucket_versions retry)" -eq 1 ] || fail "retry: a second manifest was written: $(bucket_versions retry) keys"
	expect_versions "$MNT/p/r" 1 "retry"
	[ "$(cat "$MNT/p/r/@v1/f")" = retried ] || fail "retry: @v1/f is wrong"
	ARTIFS_MOUNT=$MNT "$ARTIFS_BIN" status | grep -q "p/r" && fail "retry: a draft is left"
	stop
fi
echo ok
