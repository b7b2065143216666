# Jobs (issue 13, docs/jobs.md): a named run's artifact is committed once, when the run ends,
# not when its files go quiet; `artifs run` commits at CMD's end, prints what it made with
# its inputs, sets message and labels and exits with CMD's status; commit_idle commits a
# run that lives on; a process starts a run of its own with user.artifs.run.new; refusals.
. "$(dirname "$0")/lib.sh"
start
export ARTIFS_MOUNT=$MNT
in=$MNT/p/in out=$MNT/p/out a=$MNT/p/job
mkdir -p "$in" "$out" "$a"
echo data >"$in/data"
setfattr -n user.artifs.commit -v "" "$in" || fail "commit of p/in failed"

# A job that saves its model, evaluates for longer than commit_delay (1 s), then writes its
# metrics: one version holding both, not a first one without the metrics.
ARTIFS_RUN=job-1 bash -c "echo model >'$a/model.pkl'; sleep 2; echo '{}' >'$a/metrics.json'"
wait_version "$a" 1
[ -f "$a/@v1/metrics.json" ] && [ -f "$a/@v1/model.pkl" ] ||
	fail "@v1 of the job holds $(ls "$a/@v1" | tr '\n' ' '), not model.pkl and metrics.json"

# artifs run: committed when it returns (no polling), with its input, message and label.
o=$("$ARTIFS_BIN" run --message trained --label team=ml -- \
	sh -c "cat '$in/@v1/data' >/dev/null; echo w >'$out/weights'") || fail "artifs run failed"
[ -d "$out/@v1" ] || fail "no @v1 of p/out when artifs run returned: $o"
echo "$o" | grep -qx 'artifs://p/out@v1' || fail "artifs run did not print the version: $o"
echo "$o" | grep -qx '  input artifs://p/in@v1' || fail "artifs run did not print the input: $o"
[ "$(getfattr --absolute-names --only-values -n user.artifs.message "$out/@v1")" = trained ] ||
	fail "the message of p/out@v1 is not 'trained'"
[ "$(getfattr --absolute-names --only-values -n user.label.team "$out/@v1")" = ml ] ||
	fail "the label of p/out@v1 is not team=ml"
grep -qx 'artifs://p/in@v1' <(getfattr --absolute-names --only-values -n user.artifs.inputs "$out/@v1") ||
	fail "p/out@v1 lacks its input"

# A real tree from this machine (a Python package) copied by one job: one version equal to
# it when artifs run returns.
src=$(python3 -c 'import email, os; print(os.path.dirname(email.__file__))')
mkdir -p "$MNT/p/tree"
"$ARTIFS_BIN" run -- cp -a "$src" "$MNT/p/tree/" >/dev/null || fail "artifs run -- cp -a $src failed"
diff -r "$src" "$MNT/p/tree/@v1/email" >/dev/null || fail "p/tree@v1 differs from $src"
[ "$(versions "$MNT/p/tree")" = @v1 ] || fail "the copy made versions $(versions "$MNT/p/tree" | tr '\n' ' ')"

# CMD's status is artifs run's, and what a failing CMD wrote is still committed.
rc=0
"$ARTIFS_BIN" run -- sh -c "echo z >'$out/z'; exit 3" >/dev/null || rc=$?
[ $rc -eq 3 ] || fail "artifs run exited $rc for a command that exited 3"
[ -f "$out/@v2/z" ] || fail "what the failing command wrote is not in @v2"
rc=0
"$ARTIFS_BIN" run -- "$T/no-such-command" 2>/dev/null || rc=$?
[ $rc -eq 127 ] || fail "artifs run exited $rc for a missing command, not 127"

# A process starts a run of its own: what it read before is not an input of what it
# writes after (a notebook's next experiment); without it, the read is an input.
python3 - "$MNT" <<'PY' || fail "the run.new script failed"
import os, sys
m = sys.argv[1]
os.makedirs(m + "/p/nb1", exist_ok=True)
os.makedirs(m + "/p/nb2", exist_ok=True)
open(m + "/p/in/@v1/data").read()
open(m + "/p/nb1/f", "w").write("before\n")
os.setxattr(m, "user.artifs.run.new", b"")
open(m + "/p/nb2/f", "w").write("after\n")
PY
wait_version "$MNT/p/nb1" 1
wait_version "$MNT/p/nb2" 1
grep -qx 'artifs://p/in@v1' <(getfattr --absolute-names --only-values -n user.artifs.inputs "$MNT/p/nb1/@v1") ||
	fail "p/nb1@v1, written before the new run, lacks its input"
[ -z "$(getfattr --absolute-names --only-values -n user.artifs.inputs "$MNT/p/nb2/@v1" 2>/dev/null)" ] ||
	fail "p/nb2@v1, written after user.artifs.run.new, has inputs from before"

# Refusals.
expect_errno EINVAL "os.setxattr('$MNT', 'user.artifs.run.end', b'')"
expect_errno EINVAL "os.setxattr('$MNT', 'user.artifs.run.end', b'a\x01b')"
expect_errno EPERM "os.setxattr('$MNT', 'user.artifs.run.bogus', b'x')"
# ARTIFS_IOC_RUN_END (fs/fs.h: _IOW('a', 2, 152 + 3840 bytes)) on anything but the root.
expect_errno ENOTTY "import fcntl; fcntl.ioctl(os.open('$out', os.O_RDONLY), (1 << 30) | (3992 << 16) | (ord('a') << 8) | 2, bytearray(3992))"
expect_errno EINVAL "import fcntl; fcntl.ioctl(os.open('$MNT', os.O_RDONLY), (1 << 30) | (3992 << 16) | (ord('a') << 8) | 2, bytearray(3992))"
expect_errno EINVAL "os.setxattr('$MNT', 'user.artifs.run.begin', b'id\\nmessage')"
rc=0
"$ARTIFS_BIN" run 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "artifs run without a command exited $rc, not 2"
o=$("$ARTIFS_BIN" run --message m -- python3 -c 'import sys; print(sys.argv[1])' --help 2>/dev/null) || fail "artifs run -- CMD --help failed"
[ "$(echo "$o" | head -1)" = --help ] || fail "artifs run took CMD's --help for its own: $o"
rc=0
"$ARTIFS_BIN" run --label nokey -- true 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "artifs run --label without = exited $rc, not 2"
stop

# commit_idle: a named run that lives on has its draft committed after that much quiet.
start "commit_idle=300"
c=$MNT/p/long
mkdir -p "$c"
ARTIFS_RUN=job-long bash -c "echo a >'$c/f'; exec sleep 60" &
job=$!
wait_version "$c" 1
kill "$job"
wait "$job" 2>/dev/null || true
stop

# With capture off no run is followed: artifs run says so and fails.
start "capture=0"
rc=0
err=$("$ARTIFS_BIN" run -- true 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "artifs run with capture=0 exited $rc, not 1"
echo "$err" | grep -q 'capture=0' || fail "artifs run with capture=0 said: $err"
expect_errno ENOTSUP "os.setxattr('$MNT', 'user.artifs.run.new', b'')"
grep -q 'user.artifs.run.new.*capture is off' "$MNT/.artifs/errors" ||
	fail "the refusal of run.new gives no reason: $(cat "$MNT/.artifs/errors")"
stop

# Lineage pictures name a run by its command, and a run that reads what it wrote itself
# draws no loop.
start
export ARTIFS_MOUNT=$MNT
x=$MNT/p/x y=$MNT/p/y
mkdir -p "$x" "$y"
"$ARTIFS_BIN" run -- sh -c "echo a >'$x/f' && setfattr -n user.artifs.commit -v '' '$x' &&
	cat '$x/@v1/f' >/dev/null && echo b >'$y/g'" >/dev/null || fail "the self-reading run failed"
grep -qx 'artifs://p/x@v1' <(getfattr --absolute-names --only-values -n user.artifs.inputs "$y/@v1") ||
	fail "p/y@v1 lacks its input p/x@v1"
"$ARTIFS_BIN" lineage artifs://p/y@v1 --up --format dot >"$T/y.dot" || fail "lineage --format dot failed"
grep -q 'shape=ellipse, label="sh -c' "$T/y.dot" || fail "the run is not named by its command: $(cat "$T/y.dot")"
! grep -q 'label="captured"' "$T/y.dot" || fail "a run that read its own output draws a loop: $(cat "$T/y.dot")"
stop
