# artifs rm and artifs restore (issue 12): a version or a whole artifact goes from the mount
# of this host at once and of another host within `refresh`, its number is never used
# again, a file of it open now keeps reading, tags pin their version, a removed artifact's
# name cannot be made again, and restore brings back versions, tags, labels and lineage, on
# both hosts, also after a remount and a rebuild. Runs on a local store and, with
# ARTIFS_TEST_STORE=s3, on the S3 test server.
. "$(dirname "$0")/lib.sh"
OPTS="commit_delay=600000,refresh=200"
M2=$T/mnt2 S2=$T/state2
start "$OPTS"
host_up "$M2" "$S2" "$OPTS"
PID2=$HOST_PID
export ARTIFS_MOUNT=$MNT
A=$MNT/p/a B=$M2/p/a
# fails ERRNO-TEXT WHY-TEXT ARGS...: artifs ARGS fails, saying both.
fails() {
	local want=$1 why=$2 out
	shift 2
	if out=$("$ARTIFS_BIN" "$@" 2>&1); then fail "artifs $* succeeded"; fi
	case $out in *"$want"*"$why"*) ;; *) fail "artifs $*: '$out' lacks '$want' and '$why'" ;; esac
}

mkdir -p "$MNT/p/src" "$A"
echo data >"$MNT/p/src/d"
setfattr -n user.artifs.commit -v src "$MNT/p/src"
# host B knows the input before the versions built from it (lineage to a version a host has
# not read yet is not indexed there: not this test's subject)
wait_for test -d "$M2/p/src/@v1" || fail "host B does not see p/src@v1"
for i in 1 2 3; do
	echo "v$i" >"$A/f"
	head -c 300000 /dev/urandom >"$A/big"
	"$ARTIFS_BIN" commit --input artifs://p/src@v1 "$A" >/dev/null || fail "commit $i failed"
done
setfattr -n user.label.team -v vision "$A"
setfattr -n user.label.stage -v two "$A/@v2"
ln -s @v1 "$A/@prod"
cp "$A/@v3/big" "$T/big3"
wait_for test -d "$B/@v3" || fail "host B does not see @v3"
wait_for link_is "$B/@prod" @v1 || fail "host B does not see @prod"
cat "$B/@v3/f" >/dev/null # host B's kernel caches the name @v3

# A version: gone at once here, within refresh there, the HEAD and @latest follow.
exec 7<"$A/@v3/big" # open before the removal: keeps reading
"$ARTIFS_BIN" rm "$A/@v3" | grep -qx "removed $A/@v3" || fail "artifs rm of @v3 failed"
[ ! -e "$A/@v3" ] || fail "@v3 is still there after artifs rm"
link_is "$A/@latest" @v2 || fail "@latest is $(readlink "$A/@latest"), not @v2"
[ "$(cat "$A/f")" = v2 ] || fail "the HEAD did not follow @v2"
cmp - "$T/big3" <&7 || fail "a file of @v3 open before the removal does not read its bytes"
exec 7<&-
wait_for test ! -e "$B/@v3" || fail "host B still shows @v3"
wait_for link_is "$B/@latest" @v2 || fail "host B's @latest did not follow @v2"
[ "$(cat "$B/f")" = v2 ] || fail "host B's HEAD did not follow @v2"
"$ARTIFS_BIN" log "$A" | grep -q '@v3' && fail "artifs log lists the removed @v3"
"$ARTIFS_BIN" find --state "$STATE" --project p | grep -q 'p/a@v3' && fail "find lists @v3"
"$ARTIFS_BIN" lineage --state "$STATE" --down artifs://p/src@v1 >"$T/down" || fail "lineage failed"
grep -q 'p/a@v2' "$T/down" || fail "lineage --down lacks p/a@v2: $(cat "$T/down")"
grep -q 'p/a@v3' "$T/down" && fail "lineage --down lists the removed p/a@v3"

# Refusals, each with its reason.
fails "Device or resource busy" "prod point at v1" rm "$A/@v1"
fails "No such file or directory" "removed already" rm "$A/@v3"
fails "No such file or directory" "no version 9" rm "$A/@v9"
fails "File exists" "not removed" restore "$A/@v2"
fails "Device or resource busy" "prod point at v1" rm "artifs://p/a@prod" # a tag names its version
fails "" "not a project, an artifact or a version" rm "$A/@v2/f"

# The number is never used again.
echo v4 >"$A/f"
"$ARTIFS_BIN" commit "$A" | grep -q '@v4$' || fail "the next commit is not @v4"
[ ! -e "$A/@v3" ] || fail "@v3 came back with a commit"

# A fresh host never reads the removed version in, and its number stays taken there; restored
# from that host (which only the store tells it is removed), it is back on all three.
M3=$T/mnt3
host_up "$M3" "$T/state3" "$OPTS"
PID3=$HOST_PID
wait_for test -d "$M3/p/a/@v4" || fail "host C does not see @v4"
[ ! -e "$M3/p/a/@v3" ] || fail "host C shows the removed @v3"
"$ARTIFS_BIN" restore "$M3/p/a/@v3" >/dev/null || fail "artifs restore of @v3 on host C failed"
[ "$(cat "$M3/p/a/@v3/f")" = v3 ] || fail "host C does not read the restored @v3"
fusermount3 -u "$M3"
wait $PID3 || fail "third daemon exited non-zero"
wait_for test -d "$B/@v3" || fail "host B does not see the restored @v3"
[ "$(cat "$B/@v3/f")" = v3 ] || fail "host B does not read the restored @v3"
wait_for test -d "$A/@v3" || fail "host A does not see the restored @v3"
cmp "$A/@v3/big" "$T/big3" || fail "the restored @v3 reads other bytes"
link_is "$A/@latest" @v4 || fail "@latest moved off @v4 with the restore"

# The whole artifact: tagged versions and labels go with it, and come back.
echo draft >"$A/g"
fails "Device or resource busy" "not committed" rm "$A"
"$ARTIFS_BIN" discard "$A" || fail "discard failed"
"$ARTIFS_BIN" rm "artifs://p/a" >/dev/null || fail "artifs rm of the artifact failed"
[ ! -e "$A" ] || fail "the artifact folder is still there"
ls "$MNT/p" | grep -qx a && fail "ls of the project still lists the artifact"
wait_for test ! -e "$B" || fail "host B still shows the artifact"
expect_errno EEXIST "os.mkdir('$A')"
grep -q "an artifact of this name was removed" "$MNT/.artifs/errors" ||
	fail "the mkdir refusal's reason is not in .artifs/errors"
stop
start "$OPTS" # the removal is kept in the index
[ ! -e "$A" ] || fail "the artifact came back with a remount"
"$ARTIFS_BIN" restore "$B" >/dev/null || fail "artifs restore of the artifact on host B failed"
for m in "$MNT" "$M2"; do
	wait_for test -d "$m/p/a/@v4" || fail "$m does not show the restored artifact"
	[ "$(versions "$m/p/a" | tr '\n' ' ')" = "@v1 @v2 @v3 @v4 " ] ||
		fail "$m shows versions $(versions "$m/p/a" | tr '\n' ' ')"
	wait_for link_is "$m/p/a/@prod" @v1 || fail "$m lost @prod"
	[ "$(getfattr --only-values --absolute-names -n user.label.team "$m/p/a")" = vision ] || fail "$m lost the label"
	[ "$(getfattr --only-values --absolute-names -n user.label.stage "$m/p/a/@v2")" = two ] ||
		fail "$m lost @v2's label"
	getfattr --only-values --absolute-names -n user.artifs.inputs "$m/p/a/@v2" | grep -q 'p/src@v1' ||
		fail "$m lost @v2's lineage"
	[ "$(cat "$m/p/a/f")" = v4 ] || fail "$m's HEAD is not @v4"
done

# rm -rf of the artifact folder is artifs rm of the artifact: it exits 0, publishes no
# empty version, keeps the tags; so does Python's shutil.rmtree. A plain rm of @latest is
# still refused, and a project holding removed artifacts is not removed.
expect_errno EPERM "os.unlink('$A/@latest')"
rm -rf "$A" || fail "rm -rf of the artifact folder failed"
[ ! -e "$A" ] || fail "the artifact folder is still there after rm -rf"
wait_for test ! -e "$B" || fail "host B still shows the artifact after rm -rf"
"$ARTIFS_BIN" status "$MNT" | grep -q 'p/a' && fail "rm -rf left a draft"
"$ARTIFS_BIN" restore "$A" >/dev/null || fail "restore after rm -rf failed"
[ "$(versions "$A" | tr '\n' ' ')" = "@v1 @v2 @v3 @v4 " ] || fail "rm -rf made or lost a version"
link_is "$A/@prod" @v1 || fail "rm -rf dropped @prod"
[ "$(cat "$A/f")" = v4 ] || fail "the HEAD after rm -rf and restore is not @v4"
python3 -c 'import shutil, sys; shutil.rmtree(sys.argv[1])' "$A" || fail "shutil.rmtree failed"
[ ! -e "$A" ] || fail "the artifact folder is still there after shutil.rmtree"
# rm -rf of the project folder removes the project (restorable) on both hosts; restore
# brings back every artifact it held, also p/a that shutil.rmtree removed before.
rm -rf "$MNT/p" || fail "rm -rf of the project failed"
[ ! -e "$MNT/p" ] || fail "the project is still there after rm -rf"
wait_for test ! -e "$M2/p" || fail "host B still shows the project after rm -rf"
expect_errno EEXIST "os.mkdir('$MNT/p')"
grep -q "a project of this name was removed" "$MNT/.artifs/errors" ||
	fail "the project mkdir refusal's reason is not in .artifs/errors"
fails "No such file or directory" "removed already" rm "artifs://p"
"$ARTIFS_BIN" restore "artifs://p" >/dev/null || fail "restore of the project failed"
fails "File exists" "not removed" restore "$MNT/p"
for m in "$MNT" "$M2"; do
	wait_for test -d "$m/p/a/@v4" || fail "$m does not show the restored project's p/a"
	wait_for test -f "$m/p/src/@v1/d" || fail "$m does not show the restored project's p/src"
	wait_for link_is "$m/p/a/@prod" @v1 || fail "$m lost @prod with the project"
	[ "$(getfattr --only-values --absolute-names -n user.label.team "$m/p/a")" = vision ] ||
		fail "$m lost the label with the project"
done
cmp "$A/@v3/big" "$T/big3" || fail "the restored project reads other bytes"

# artifs rm of a project: a draft anywhere refuses it before anything changes; removed on
# host B, it goes from host A within refresh, an empty artifact with it.
mkdir "$MNT/p/empty"
echo draft >"$MNT/p/src/new"
fails "Device or resource busy" "p/src has changes not committed" rm "$MNT/p"
[ -d "$A/@v4" ] && [ -d "$MNT/p/empty" ] || fail "a refused project removal changed something"
"$ARTIFS_BIN" discard "$MNT/p/src" || fail "discard of p/src failed"
"$ARTIFS_BIN" rm "$M2/p" | grep -qx "removed $M2/p" || fail "artifs rm of the project on host B failed"
[ ! -e "$M2/p" ] || fail "host B still shows the project"
wait_for test ! -e "$MNT/p" || fail "host A still shows the project host B removed"
"$ARTIFS_BIN" restore "$MNT/p" >/dev/null || fail "restore of the project on host A failed"
wait_for test -d "$M2/p/a/@v4" || fail "host B does not show the project host A restored"
[ -d "$MNT/p/empty" ] || fail "the empty artifact did not come back with its project"

# A rebuild from the store keeps removals.
"$ARTIFS_BIN" rm "$A/@v2" >/dev/null || fail "artifs rm of @v2 failed"
stop
"$ARTIFS_BIN" rebuild -o "store=$STORE,state=$STATE" >>"$LOG" 2>&1 || fail "rebuild failed"
start "$OPTS"
[ "$(versions "$A" | tr '\n' ' ')" = "@v1 @v3 @v4 " ] ||
	fail "after a rebuild: versions $(versions "$A" | tr '\n' ' ')"
"$ARTIFS_BIN" restore "$A/@v2" >/dev/null || fail "restore of @v2 after the rebuild failed"
[ "$(getfattr --only-values --absolute-names -n user.label.stage "$A/@v2")" = two ] || fail "@v2's label after rebuild"

# A draft that removes every file is never published by itself (here: by the unmount),
# only by an explicit commit.
rm -r "$A/f" "$A/big"
stop
start "$OPTS"
[ "$(versions "$A" | tr '\n' ' ')" = "@v1 @v2 @v3 @v4 " ] || fail "the emptied HEAD was published"
"$ARTIFS_BIN" status "$MNT" | grep -q "p/a" || fail "the emptied HEAD is no draft"
"$ARTIFS_BIN" commit "$A" | grep -q '@v5$' || fail "an explicit commit of the empty HEAD failed"
fusermount3 -u "$M2"
wait $PID2 || fail "second daemon exited non-zero"
stop
