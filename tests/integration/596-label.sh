# artifs label (issue 13): set, remove and list the labels and metrics of a project, an
# artifact and a version, by path and by URI, as text and JSON; what the filesystem refuses
# comes back with its reason.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
export ARTIFS_MOUNT=$MNT
a=$MNT/p/a
l() { "$ARTIFS_BIN" label "$@"; }
mkdir -p "$a"
echo x >"$a/f"
setfattr -n user.artifs.commit -v one "$a" || fail "commit of v1 failed"

l "$a/@v1" stage=prod owner=ml --metric acc=0.93 >"$T/out" || fail "labelling @v1 failed"
printf 'label owner=ml\nlabel stage=prod\nmetric acc=0.93\n' >"$T/want"
sort "$T/out" | diff "$T/want" - || fail "the listing after setting differs"
[ "$(getfattr --absolute-names --only-values -n user.label.stage "$a/@v1")" = prod ] ||
	fail "user.label.stage is not prod on @v1"
l artifs://p/a@v1 -d owner -d --metric acc >"$T/out" || fail "removing by URI failed"
[ "$(cat "$T/out")" = "label stage=prod" ] || fail "after removing: $(cat "$T/out")"
l --format json artifs://p/a@latest >"$T/out.json" || fail "the JSON listing failed"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d == {"labels": {"stage": "prod"}, "metrics": {}}, d' "$T/out.json" ||
	fail "the JSON listing is $(cat "$T/out.json")"

# A project and an artifact take labels; a metric on the artifact goes with the next version.
l "$MNT/p" team=vision >/dev/null || fail "labelling the project failed"
l "$a" --metric loss=0.5 >/dev/null || fail "a pending metric on the artifact failed"
echo y >"$a/g"
setfattr -n user.artifs.commit -v two "$a" || fail "commit of v2 failed"
l "$a/@v2" | grep -qx 'metric loss=0.5' || fail "@v2 lacks the pending metric: $(l "$a/@v2")"
l "$MNT/p" | grep -qx 'label team=vision' || fail "the project's label is missing"

# Refusals, each with the filesystem's errno and a hint.
l "$a/@v1" --metric acc=high 2>"$T/err" && fail "a metric that is not a number was set"
grep -q 'a metric is a number' "$T/err" || fail "bad metric: $(cat "$T/err")"
l "$a/@v1" -d nosuch 2>"$T/err" && fail "removing a missing label succeeded"
grep -q 'no such label or metric' "$T/err" || fail "missing label: $(cat "$T/err")"
l "$MNT/p" --metric m=1 2>"$T/err" && fail "a metric on a project was set"
grep -q 'metrics on artifacts and versions' "$T/err" || fail "metric on a project: $(cat "$T/err")"
l "$a/@v1/f" k=v 2>"$T/err" && fail "a label on a version file was set"
grep -q 'Read-only file system' "$T/err" || fail "label on a version file: $(cat "$T/err")"
l "$a/@v1" novalue 2>"$T/err" && fail "a label without a value was taken"
grep -q 'give KEY=VALUE' "$T/err" || fail "no value: $(cat "$T/err")"
rc=0
l stage=prod 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "label without a target exited $rc, not 2"
l "$a/@v1" --format 2>"$T/err" && fail "--format without a value was taken"
l "$a/@v1" --format xml 2>"$T/err" && fail "--format xml was taken"
grep -q 'text or json' "$T/err" || fail "bad format: $(cat "$T/err")"
# nothing refused above changed anything
[ "$(l "$a/@v1")" = "label stage=prod" ] || fail "a refused change left a mark: $(l "$a/@v1")"
stop
