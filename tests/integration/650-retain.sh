# Retention (issue 12, docs/gc.md "Retention"): artifs retain sets a project's or an
# artifact's policy (the shared attribute user.artifs.retain; a bad one is refused), gc
# --dry-run lists what the policies would remove and writes nothing, and gc removes exactly
# the versions no rule keeps: the newest, the last N, the tagged ones and every input of a
# kept version (lineage, across artifacts) stay; an artifact's own policy replaces its
# project's. What it removed disappears from the mount, is restorable until purged, and a
# second run purges it. Local store, or the S3 test server with ARTIFS_TEST_STORE=s3.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000,refresh=200"
export ARTIFS_MOUNT=$MNT
gc() { "$ARTIFS_BIN" gc --removed-grace 0 --grace 0 --skew 0 "$@" -o "store=$STORE"; }
commit() { "$ARTIFS_BIN" commit "$@" >/dev/null || fail "commit $* failed"; }
D=$MNT/p/data M=$MNT/p/model Y=$MNT/p/young
mkdir -p "$D" "$M" "$Y"
for i in 1 2 3 4; do
	echo "data $i" >"$D/rows"
	commit "$D"
	echo "young $i" >"$Y/f"
	commit "$Y"
done
# model@v1 (tagged @prod) was built from data@v2, model@v3 from data@v4; model@v2 from v3
for i in 1 2 3; do
	echo "model $i" >"$M/w"
	commit --input "artifs://p/data@v$((i + 1))" "$M"
done
ln -s @v1 "$M/@prod"

# Policies: the project keeps the newest only; p/young keeps what is younger than a day.
rc=0
"$ARTIFS_BIN" retain "$MNT/p" bogus 2>"$T/err" || rc=$?
[ $rc = 2 ] || fail "artifs retain with a bad policy exited $rc"
grep -q "last=N" "$T/err" || fail "artifs retain with a bad policy: $(cat "$T/err")"
expect_errno EINVAL "os.setxattr('$D', 'user.artifs.retain', b'last=0')"
"$ARTIFS_BIN" retain "$MNT/p" last=1 || fail "artifs retain of the project failed"
"$ARTIFS_BIN" retain artifs://p/young younger=1d || fail "artifs retain of p/young failed"
"$ARTIFS_BIN" retain "$MNT/p" | grep -qx "$MNT/p: last=1" || fail "artifs retain does not show it"
[ "$(getfattr --only-values -n user.artifs.retain "$Y" 2>/dev/null)" = younger=1d ] ||
	fail "user.artifs.retain of p/young is not what artifs retain set"
"$ARTIFS_BIN" retain "$MNT/p/young/@v1" last=1 2>/dev/null && fail "retain of a version succeeded"

find_store() { if [ -d "$STORE" ]; then find "$STORE" -type f -printf '%P %s\n' | sort; fi; }
find_store >"$T/before"
out=$(gc --dry-run) || fail "gc --dry-run failed: $out"
echo "$out" | grep "^would remove" | sort >"$T/would"
printf 'would remove p/data@v1\nwould remove p/data@v3\nwould remove p/model@v2\n' >"$T/want"
diff "$T/want" "$T/would" || fail "gc --dry-run would remove other versions: $out"
echo "$out" | grep -q "retain: 3 versions would be removed" || fail "gc --dry-run: $out"
find_store >"$T/after"
cmp -s "$T/before" "$T/after" || fail "gc --dry-run changed the store"

out=$(gc) || fail "gc failed: $out"
echo "$out" | grep -q "retain: 3 versions removed by policy" || fail "gc: $out"
wait_for test ! -e "$D/@v1" || fail "p/data@v1 is still on the mount after gc removed it"
for v in data/@v2 data/@v4 model/@v1 model/@v3 young/@v1 young/@v4; do
	[ -d "$MNT/p/$v" ] || fail "p/$v went, but a rule keeps it"
done
[ ! -e "$D/@v3" ] && [ ! -e "$M/@v2" ] || fail "a version no rule keeps stays"
[ "$(cat "$M/@prod/w")" = "model 1" ] || fail "@prod does not read model@v1"

# Restorable until purged; the next run removes it again (the policy still says so), and
# a run after that purges the three.
"$ARTIFS_BIN" restore "$D/@v1" >/dev/null || fail "restore of a version gc removed failed"
[ "$(cat "$D/@v1/rows")" = "data 1" ] || fail "the restored p/data@v1 reads wrong"
gc >/dev/null || fail "gc run 2 failed"
out=$(gc) || fail "gc run 3 failed: $out"
echo "$out" | grep -q "kept, 1 purged" || fail "gc run 3 did not purge the re-removed p/data@v1: $out"
out=$("$ARTIFS_BIN" restore "$D/@v3" 2>&1) && fail "restore of a purged version succeeded"
case $out in *"purged by gc"*) ;; *) fail "restore of a purged version: $out" ;; esac

# --clear: no policy, nothing more is removed.
"$ARTIFS_BIN" retain "$MNT/p" --clear || fail "artifs retain --clear failed"
"$ARTIFS_BIN" retain "$MNT/p" | grep -q "no policy" || fail "the policy stays after --clear"
echo "data 5" >"$D/rows"
commit "$D"
out=$(gc --dry-run) || fail "gc --dry-run failed"
echo "$out" | grep -q "retain: 0 versions" || fail "gc without policies: $out"
stop
echo "ok"
