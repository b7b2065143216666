# find by label, metric range, input and time over a generated set of 2,000 versions
# (written straight into a store and indexed by rebuild) returns exactly the expected ones.
. "$(dirname "$0")/lib.sh"
local_store_only
here=$(cd "$(dirname "$0")/.." && pwd)
python3 "$here/gen-versions.py" "$STORE" 2000 20 >"$T/expect.json" || fail "generator failed"
"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" 2>>"$LOG" || fail "rebuild failed"
find_() { "$ARTIFS_BIN" find --state "$STATE" "$@" | sort; }
want() { python3 -c "import json,sys; print('\n'.join(json.load(open('$T/expect.json'))['$1']))"; }
[ "$(find_ --label stage=prod)" = "$(want prod)" ] || fail "find --label stage=prod differs"
[ "$(find_ --metric 'acc>0.99')" = "$(want acc_gt_0.99)" ] || fail "find --metric acc>0.99 differs"
[ "$(find_ --input artifs://gen/a0@v1)" = "$(want input_a0_v1)" ] || fail "find --input differs"
# combined conditions, checked against the generator's rule
got=$(find_ --label stage=prod --metric 'acc>=0.5' --artifact gen/a3)
exp=$(python3 -c "
for i in range(1, 101):
    if i % 10 == 0 and ((i * 37 + 3) % 1000) / 1000 >= 0.5: print(f'artifs://gen/a3@v{i}')" | sort)
[ "$got" = "$exp" ] || fail "combined find differs: got '$got' want '$exp'"
# sort by metric, highest first, and limit
top=$("$ARTIFS_BIN" find --state "$STATE" --project gen --sort metric:acc --limit 3 --format json |
	python3 -c 'import json,sys; print(" ".join("%.3f" % v["metrics"]["acc"] for v in json.load(sys.stdin)))')
exp=$(python3 -c "
v = sorted((((i * 37 + a) % 1000) / 1000 for a in range(20) for i in range(1, 101)), reverse=True)
print(' '.join('%.3f' % x for x in v[:3]))")
[ "$top" = "$exp" ] || fail "sorted find: '$top', want '$exp'"
# time window: day 2 of the month holds versions i with i % 28 == 1
n=$(find_ --since 2026-11-02 --until 2026-11-02T23:59:59Z | wc -l)
exp=$(python3 -c "print(sum(1 for a in range(20) for i in range(1, 101) if i % 28 == 1))")
[ "$n" = "$exp" ] || fail "time window found $n, want $exp"
# bad input to the command
"$ARTIFS_BIN" find --state "$STATE" --metric 'acc>>x' 2>/dev/null && fail "a malformed --metric was accepted"
"$ARTIFS_BIN" find --state "$STATE" --input artifs://gen/nope@v1 2>/dev/null && fail "a missing --input succeeded"
# the mounted view agrees with the index
start
[ "$(getfattr --only-values -n user.metric.acc "$MNT/gen/a1/@v10")" = "0.371" ] || fail "metric not on @v10"
[ "$(getfattr --only-values -n user.artifs.inputs "$MNT/gen/a1/@v10")" = "artifs://gen/a0@v10" ] ||
	fail "inputs not on @v10"
stop
