# Issue 11, store format 2 on S3, through the fault proxy: 2,000 small files commit in a
# handful of PUTs (packs, their indexes, the manifest), not one per file; a commit whose pack
# uploads fail makes no version and keeps its draft, which commits once the store answers;
# a fresh state directory with an empty cache reads every file back with one fetch per pack,
# not one per file.
. "$(dirname "$0")/lib.sh"
s3_server art
fault_proxy
STORE=s3://art/packs
opts="endpoint=http://127.0.0.1:$PP,commit_delay=600000,capture=0,retries=1"
start "$opts,refresh=0,cache=$T/cache"
a=$MNT/p/a
mkdir -p "$a"
python3 - "$T/src" <<'PY'
import os, sys
os.makedirs(sys.argv[1])
for i in range(2000):
    with open(f"{sys.argv[1]}/f{i:04d}", "wb") as f:
        f.write(os.urandom(4096))
PY
# matched(N): how many requests rule N of the proxy matched since the rules were set
matched() { curl -sf "$CTL/stats" | python3 -c "import json, sys; print(json.load(sys.stdin)['rules'][$1]['matched'])"; }
rules '{"rules": [{"method": "PUT", "action": "delay", "delay_ms": 0}]}'
cp -r "$T/src/." "$a/"
setfattr -n user.artifs.commit -v one "$a" || fail "the commit of 2,000 files failed"
puts=$(matched 0)
[ "$puts" -le 10 ] || fail "2,000 small files took $puts PUTs"
echo "2,000 files of 4 KiB: $puts PUTs"

# Every pack PUT fails: no version, the draft stays, and it commits once the store answers.
head -c 4096 /dev/urandom >"$T/new"
cp "$T/new" "$a/new"
rules '{"rules": [{"method": "PUT", "key": ".pack", "action": "error", "status": 500}]}'
if setfattr -n user.artifs.commit -v two "$a" 2>/dev/null; then
	fail "a commit whose pack uploads failed made a version"
fi
[ ! -e "$a/@v2" ] || fail "@v2 exists after a failed upload"
if s3_curl -I "$AWS_ENDPOINT_URL/art/packs/versions/p/a/$(printf '%020d' 2)" >/dev/null; then
	fail "a manifest was stored although its pack was not"
fi
rules '{"rules": []}'
setfattr -n user.artifs.commit -v two "$a" || fail "the commit after the store recovered failed"
cmp "$T/new" "$a/@v2/new" || fail "the recovered commit reads wrong"
stop

# A fresh state directory (which reads the versions in from the bucket) and an empty cache:
# every file of @v1 once, one fetch per pack.
STATE=$T/state2
start "$opts,cache=$T/cache2"
rules '{"rules": [{"method": "GET", "key": ".pack", "action": "delay", "delay_ms": 0}]}'
(cd "$T/src" && sha256sum f*) >"$T/sums"
(cd "$a/@v1" && sha256sum -c --quiet "$T/sums") || fail "@v1 reads wrong on a fresh host"
gets=$(matched 0)
npacks=$(grep -o 'GET /art/packs/packs/[^ ]*\.pack -> delay' "$T/proxy.log" | sort -u | wc -l) # since the rule
# A pack is fetched whole into the cache, in ranged GETs of 4 MiB (3 for a pack of 8 MiB).
[ "$npacks" -eq 1 ] && [ "$gets" -le 3 ] ||
	fail "reading 2,000 files took $gets GETs of $npacks packs"
echo "2,000 files read back: $gets GETs of $npacks packs"
stop
