# Issue 9, defect 10: labels, metrics and kinds set on different hosts of one store merge,
# each host sees the others' within `refresh`, removals stick, a fresh host sees them all
# without a rebuild and a rebuild keeps them; an old whole-object versions/<N>.json is a base
# layer under newer per-attribute objects, and a garbage attribute object is skipped with a
# log line. Runs on a local store and, with ARTIFS_TEST_STORE=s3, on the S3 test server.
. "$(dirname "$0")/lib.sh"

# plant KEY FILE: puts FILE into the store as object KEY, behind artifs' back.
plant() {
	if [ "${ARTIFS_TEST_STORE:-local}" = s3 ]; then
		local path
		path=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="/-_.~"))' "$1")
		s3_curl -o /dev/null -X PUT --data-binary "@$2" "$AWS_ENDPOINT_URL/suite/t/$path" ||
			fail "cannot plant $1"
	else
		mkdir -p "$(dirname "$STORE/$1")"
		cp "$2" "$STORE/$1"
	fi
}
# getx PATH NAME: the value (fails when absent); has PATH NAME VALUE: for wait_for.
getx() { getfattr --only-values --absolute-names -n "$2" "$1" 2>/dev/null; }
has() { [ "$(getx "$1" "$2")" = "$3" ]; }
hasnt() { ! getx "$1" "$2" >/dev/null; }
# finds STATE ARGS...: the URIs artifs find prints for the index in STATE.
finds() { local s=$1; shift; "$ARTIFS_BIN" find --state "$s" "$@" | sort | tr '\n' ' '; }

OPTS="commit_delay=60000,refresh=200"
M2=$T/mnt2 S2=$T/state2
start "$OPTS"
host_up "$M2" "$S2" "$OPTS"
PID2=$HOST_PID
A=$MNT/p/a B=$M2/p/a

mkdir -p "$A"
echo one >"$A/f"
setfattr -n user.artifs.commit -v one "$A"
wait_for test -d "$B/@v1" || fail "host B does not see @v1"

# A labels @v1 owner, B labels it stage: both hosts end with both
setfattr -n user.label.owner -v team-a "$A/@v1"
setfattr -n user.label.stage -v prod "$B/@v1"
for h in "$A" "$B"; do
	wait_for has "$h/@v1" user.label.owner team-a || fail "$h/@v1 has no owner=team-a"
	wait_for has "$h/@v1" user.label.stage prod || fail "$h/@v1 has no stage=prod"
done
for s in "$STATE" "$S2"; do
	[ "$(finds "$s" --label owner=team-a)" = "artifs://p/a@v1 " ] || fail "find owner=team-a in $s: $(finds "$s" --label owner=team-a)"
	[ "$(finds "$s" --label stage=prod)" = "artifs://p/a@v1 " ] || fail "find stage=prod in $s: $(finds "$s" --label stage=prod)"
done

# metrics on the version, kind and labels on the artifact, labels on the project
setfattr -n user.metric.acc -v 0.9 "$A/@v1"
setfattr -n user.metric.loss -v 0.25 "$B/@v1"
setfattr -n user.artifs.kind -v model "$A"
setfattr -n user.label.team -v vision "$B"
setfattr -n user.label.dept -v ml "$MNT/p"
setfattr -n user.label.site -v eu "$M2/p"
for m in "$MNT" "$M2"; do
	wait_for has "$m/p/a/@v1" user.metric.acc 0.9 || fail "$m: acc not merged"
	wait_for has "$m/p/a/@v1" user.metric.loss 0.25 || fail "$m: loss not merged"
	wait_for has "$m/p/a" user.artifs.kind model || fail "$m: kind not merged"
	wait_for has "$m/p/a" user.label.team vision || fail "$m: artifact label not merged"
	wait_for has "$m/p" user.label.dept ml || fail "$m: project label dept not merged"
	wait_for has "$m/p" user.label.site eu || fail "$m: project label site not merged"
done
for s in "$STATE" "$S2"; do
	[ "$(finds "$s" --metric 'acc>0.5' --metric 'loss<0.3')" = "artifs://p/a@v1 " ] ||
		fail "find by both metrics in $s: $(finds "$s" --metric 'acc>0.5' --metric 'loss<0.3')"
done
# the last writer of a name wins, on both hosts
setfattr -n user.artifs.kind -v dataset "$B"
for m in "$MNT" "$M2"; do
	wait_for has "$m/p/a" user.artifs.kind dataset || fail "$m: kind change not seen"
done

# the same name written on both hosts at once: both end with one of the two values
setfattr -n user.label.race -v from-a "$A/@v1" &
r1=$!
setfattr -n user.label.race -v from-b "$B/@v1" &
r2=$!
wait $r1 && wait $r2 || fail "a concurrent label write failed"
agree() { local x; x=$(getx "$A/@v1" user.label.race) && [ "$x" = "$(getx "$B/@v1" user.label.race)" ]; }
wait_for agree || fail "the hosts disagree on a concurrently written label: $(getx "$A/@v1" user.label.race) / $(getx "$B/@v1" user.label.race)"
case $(getx "$A/@v1" user.label.race) in from-a | from-b) ;; *) fail "race label is '$(getx "$A/@v1" user.label.race)'" ;; esac
# names with bytes outside [A-Za-z0-9._-], and one that is 255 bytes long once UTF-8
LONG=user.label.$(python3 -c "print('\u00e9' * 122)")
setfattr -n "user.label.a b/c" -v spaced "$A/@v1"
setfattr -n "$LONG" -v long "$B/@v1"
wait_for has "$B/@v1" "user.label.a b/c" spaced || fail "a name with a space and a slash did not travel"
wait_for has "$A/@v1" "$LONG" long || fail "a 255-byte name did not travel"

# a removal on A disappears on B, and stays gone after B sets another label
setfattr -x user.label.owner "$A/@v1"
wait_for hasnt "$B/@v1" user.label.owner || fail "removal of owner not seen on B"
setfattr -n user.label.note -v n1 "$B/@v1"
setfattr -x user.metric.acc "$B/@v1"
wait_for has "$A/@v1" user.label.note n1 || fail "A does not see B's note"
wait_for hasnt "$A/@v1" user.metric.acc || fail "A does not see B's removal of acc"
for h in "$A" "$B"; do
	hasnt "$h/@v1" user.label.owner || fail "owner came back on $h"
	has "$h/@v1" user.label.stage prod || fail "stage lost on $h"
done
for s in "$STATE" "$S2"; do
	[ -z "$(finds "$s" --label owner=team-a)" ] || fail "find still finds owner=team-a in $s"
	[ -z "$(finds "$s" --metric 'acc>0')" ] || fail "find still finds acc in $s"
done

# an old-style whole object for @v2 is its base; newer attribute objects win over it
echo two >"$A/f"
setfattr -n user.artifs.commit -v two "$A"
python3 -c "
import json
print(json.dumps({'labels': {'legacy': 'old', 'stage': 'old-stage', 'gone': 'x'},
                  'metrics': {'m': '1.5'}}))" >"$T/v2.json"
plant meta/p/a/versions/00000000000000000002.json "$T/v2.json"
setfattr -n user.label.stage -v new "$A/@v2"
# garbage next to good objects: bad content, a content that does not match its name's hash
# (newer than the good stage=prod), and a name that is no stamp
printf 'zzz' >"$T/junk"
printf 'vevil' >"$T/evil"
V1=meta/p/a/@vattrs/00000000000000000001
plant "$V1/user.label.junk/01000000000000000000-0123456789abcdef" "$T/junk"
plant "$V1/user.label.stage/09000000000000000000-0123456789abcdef" "$T/evil"
plant "$V1/user.label.odd/not-a-stamp" "$T/junk"

# a third host, fresh state, no rebuild: sees everything, the base under the newer objects
M3=$T/mnt3 S3=$T/state3
host_up "$M3" "$S3" "$OPTS"
PID3=$HOST_PID
C=$M3/p/a
check_all() { # check_all MOUNT: what every host ends with
	local m=$1
	has "$m/p/a/@v1" user.label.stage prod || fail "$m: @v1 stage is '$(getx "$m/p/a/@v1" user.label.stage)'"
	has "$m/p/a/@v1" user.label.note n1 || fail "$m: @v1 note"
	has "$m/p/a/@v1" user.metric.loss 0.25 || fail "$m: @v1 loss"
	hasnt "$m/p/a/@v1" user.label.owner || fail "$m: @v1 owner came back"
	hasnt "$m/p/a/@v1" user.metric.acc || fail "$m: @v1 acc came back"
	hasnt "$m/p/a/@v1" user.label.junk || fail "$m: the garbage label was installed"
	has "$m/p/a" user.artifs.kind dataset || fail "$m: kind"
	has "$m/p/a" user.label.team vision || fail "$m: artifact label"
	has "$m/p" user.label.dept ml || fail "$m: project label dept"
	has "$m/p" user.label.site eu || fail "$m: project label site"
}
wait_for has "$C/@v1" user.label.note n1 || fail "the fresh host does not see @v1's labels"
check_all "$M3"
has "$C/@v2" user.label.legacy old || fail "fresh host: the base label of @v2 is missing"
has "$C/@v2" user.metric.m 1.5 || fail "fresh host: the base metric of @v2 is missing"
has "$C/@v2" user.label.stage new || fail "fresh host: the base overrode a newer object (stage=$(getx "$C/@v2" user.label.stage))"
[ "$(finds "$S3" --label stage=prod)" = "artifs://p/a@v1 " ] || fail "find stage=prod on the fresh host: $(finds "$S3" --label stage=prod)"
[ "$(finds "$S3" --label legacy=old)" = "artifs://p/a@v2 " ] || fail "find legacy=old on the fresh host"
# a removal of a base value sticks too
setfattr -x user.label.gone "$C/@v2"
for k in "$V1/user.label.junk/01000000000000000000-0123456789abcdef" \
	"$V1/user.label.stage/09000000000000000000-0123456789abcdef" "$V1/user.label.odd/not-a-stamp"; do
	grep -qF "$k" "$LOG" || fail "no log line names $k"
done
# the hosts go on after the garbage
setfattr -n user.label.after -v yes "$A/@v1"
wait_for has "$B/@v1" user.label.after yes || fail "B stopped merging after the garbage"
check_all "$MNT"
check_all "$M2"

for m in "$M2" "$M3"; do fusermount3 -u "$m"; done
wait $PID2 || fail "second daemon exited non-zero"
wait $PID3 || fail "third daemon exited non-zero"
stop

# a rebuild of a fresh state keeps every merged attribute
STATE=$T/state4
"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" 2>>"$LOG" || fail "rebuild failed"
[ "$(finds "$STATE" --label stage=prod)" = "artifs://p/a@v1 " ] || fail "rebuild: find stage=prod"
[ -z "$(finds "$STATE" --label owner=team-a)" ] || fail "rebuild: owner came back"
[ "$(finds "$STATE" --metric 'm>1')" = "artifs://p/a@v2 " ] || fail "rebuild: base metric m"
start "$OPTS"
check_all "$MNT"
has "$A/@v1" user.label.after yes || fail "rebuild: @v1 after"
has "$A/@v2" user.label.stage new || fail "rebuild: @v2 stage is '$(getx "$A/@v2" user.label.stage)'"
has "$A/@v2" user.label.legacy old || fail "rebuild: @v2 base label"
hasnt "$A/@v2" user.label.gone || fail "rebuild: the removed base label came back"
stop
echo ok
