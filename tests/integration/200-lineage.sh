# Lineage: captured reads per run, declared inputs, both directions, DOT output, rebuild.
. "$(dirname "$0")/lib.sh"
start "commit_delay=100"
A=$MNT/proj
mkdir -p "$A/dataset" "$A/model" "$A/a" "$A/b" "$A/c" "$A/m1" "$A/m2"
lin() { "$ARTIFS_BIN" lineage --state "$STATE" "$@"; }
inputs() { getfattr --only-values -n user.artifs.inputs "$1" 2>/dev/null | sort; }

# two dataset versions; @latest is @v2
echo "x,y" >"$A/dataset/train.csv"
setfattr -n user.artifs.commit -v one "$A/dataset"
echo "x,y,z" >"$A/dataset/train.csv"
setfattr -n user.artifs.commit -v two "$A/dataset"

# a Python job, its own process group: reads @latest, writes a model
setsid python3 - "$A" <<'PY'
import sys
root = sys.argv[1]
data = open(f"{root}/dataset/@latest/train.csv").read()
open(f"{root}/model/model.pkl", "w").write(data.upper())
PY
wait_version "$A/model" 1
[ "$(inputs "$A/model/@v1")" = "artifs://proj/dataset@v2" ] ||
	fail "model@v1 inputs: '$(inputs "$A/model/@v1")', want exactly dataset@v2"

# bash -c 'cat a/@v2/x > b/y' captures a@v2 (not a@v1, not the tag)
echo 1 >"$A/a/x"; setfattr -n user.artifs.commit "$A/a"
echo 2 >"$A/a/x"; setfattr -n user.artifs.commit "$A/a"
setsid bash -c "cat '$A/a/@v2/x' > '$A/b/y'"
wait_version "$A/b" 1
[ "$(inputs "$A/b/@v1")" = "artifs://proj/a@v2" ] || fail "b@v1 inputs: '$(inputs "$A/b/@v1")'"

# reads through a tag record the tagged version
ln -s @v1 "$A/a/@prod"
setsid bash -c "cat '$A/a/@prod/x' > '$A/c/y'"
wait_version "$A/c" 1
[ "$(inputs "$A/c/@v1")" = "artifs://proj/a@v1" ] || fail "c@v1 inputs: '$(inputs "$A/c/@v1")'"

# two runs at once with different ARTIFS_RUN values do not mix (same process group)
ARTIFS_RUN=r1 python3 -c "
import time; d = open('$A/a/@v1/x').read(); time.sleep(0.3); open('$A/m1/out', 'w').write(d)" &
p1=$!
ARTIFS_RUN=r2 python3 -c "
import time; d = open('$A/dataset/@v1/train.csv').read(); time.sleep(0.3); open('$A/m2/out', 'w').write(d)" &
p2=$!
wait $p1 $p2
wait_version "$A/m1" 1
wait_version "$A/m2" 1
[ "$(inputs "$A/m1/@v1")" = "artifs://proj/a@v1" ] || fail "m1 inputs: '$(inputs "$A/m1/@v1")'"
[ "$(inputs "$A/m2/@v1")" = "artifs://proj/dataset@v1" ] || fail "m2 inputs: '$(inputs "$A/m2/@v1")'"

# declared and captured inputs combine
setfattr -n user.artifs.inputs -v "artifs://proj/dataset@v1" "$A/model"
setsid bash -c "cat '$A/a/@v2/x' >> '$A/model/model.pkl'"
wait_version "$A/model" 2
want=$(printf 'artifs://proj/a@v2\nartifs://proj/dataset@v1\n' | sort)
[ "$(inputs "$A/model/@v2")" = "$want" ] || fail "model@v2 inputs: '$(inputs "$A/model/@v2")'"
lin artifs://proj/model@v2 --up --format json | python3 -c '
import json, sys
g = json.load(sys.stdin)
hows = {(e["input"], e["how"]) for e in g["edges"] if e["output"] == "artifs://proj/model@v2"}
assert hows == {("artifs://proj/dataset@v1", "declared"), ("artifs://proj/a@v2", "captured")}, hows
' || fail "lineage --up json of model@v2 is wrong"

# --down from a dataset version lists every version built from it
down=$(lin artifs://proj/dataset@v1 --down --format json | python3 -c '
import json, sys
print(" ".join(sorted(n["uri"] for n in json.load(sys.stdin)["nodes"][1:])))')
[ "$down" = "artifs://proj/m2@v1 artifs://proj/model@v2" ] || fail "--down of dataset@v1: '$down'"
lin artifs://proj/dataset@v2 --down | grep -q "artifs://proj/model@v1" || fail "--down text misses model@v1"
lin artifs://proj/model@v2 --up --depth 5 --format dot >"$T/g.dot"
dot -Tsvg "$T/g.dot" >"$T/g.svg" || fail "dot rejected the DOT output"
grep -q "<svg" "$T/g.svg" || fail "no SVG from dot"
grep -q 'shape=ellipse' "$T/g.dot" || fail "runs are not drawn as ellipses"
lin artifs://proj/dataset@latest --up --depth 1 >/dev/null || fail "lineage of @latest failed"

# refusals
expect_errno ENOENT "os.setxattr('$A/model', 'user.artifs.inputs', b'artifs://proj/dataset@v9')"
expect_errno ENOENT "os.setxattr('$A/model', 'user.artifs.inputs', b'artifs://proj/nope@v1')"
expect_errno EINVAL "os.setxattr('$A/model', 'user.artifs.inputs', b'not a uri')"
expect_errno EINVAL "os.setxattr('$A/model/@v1', 'user.metric.acc', b'high')"
grep -q "names no existing version" "$LOG" || fail "no log line for a missing declared input"
"$ARTIFS_BIN" lineage --state "$STATE" artifs://proj/model@v9 --up 2>/dev/null && fail "lineage of a missing version succeeded"

# artifs log: newest first, with the producing command, inputs and labels
"$ARTIFS_BIN" log --state "$STATE" artifs://proj/model >"$T/log.txt" || fail "artifs log failed"
head -1 "$T/log.txt" | grep -q '^@v2 ' || fail "artifs log does not start with @v2: $(head -1 "$T/log.txt")"
grep -q 'input  artifs://proj/dataset@v1' "$T/log.txt" || fail "artifs log misses the declared input"
grep -q 'by root: bash -c cat' "$T/log.txt" || fail "artifs log misses the producer command: $(cat "$T/log.txt")"
"$ARTIFS_BIN" log --state "$STATE" "$A/model" | grep -q '^@v1 ' || fail "artifs log by path failed"
grep -qE '^@v2  [0-9T:Z-]+  [0-9.]+ (bytes?|KiB|MiB) in [0-9]+ files?' "$T/log.txt" ||
	fail "artifs log gives no size in words: $(head -1 "$T/log.txt")"
[ "$("$ARTIFS_BIN" log --state "$STATE" --limit 1 artifs://proj/model | grep -c '^@v')" = 1 ] ||
	fail "artifs log --limit 1 shows more than one version"
"$ARTIFS_BIN" log --state "$STATE" --format json artifs://proj/model | python3 -c '
import json, sys
v = json.load(sys.stdin)
assert [x["version"] for x in v] == [2, 1], v
assert v[0]["uri"] == "artifs://proj/model@v2", v[0]["uri"]
assert "artifs://proj/dataset@v1" in v[0]["inputs"], v[0]["inputs"]
assert v[0]["producer"]["command"].startswith("bash -c cat"), v[0]["producer"]
assert isinstance(v[0]["bytes"], int) and v[0]["files"] >= 1' || fail "artifs log --format json is wrong"
"$ARTIFS_BIN" log --state "$STATE" --format yaml artifs://proj/model 2>/dev/null &&
	fail "artifs log took --format yaml"

# everything survives a rebuild from the store alone
setfattr -n user.label.stage -v prod "$A/model/@v2"
stop
"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" 2>>"$LOG" || fail "rebuild failed"
start "commit_delay=100"
[ "$(inputs "$A/model/@v2")" = "$want" ] || fail "inputs lost in rebuild: '$(inputs "$A/model/@v2")'"
lin artifs://proj/dataset@v1 --down | grep -q "artifs://proj/model@v2" || fail "--down lost in rebuild"
[ "$("$ARTIFS_BIN" find --state "$STATE" --label stage=prod)" = "artifs://proj/model@v2" ] ||
	fail "label index lost in rebuild"
stop
