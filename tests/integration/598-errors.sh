# Reasons users can see (issue 13): every refusal of a request is kept in .artifs/errors
# (time, pid and command, what, errno, why), the newest ones shown by artifs status, and
# logged to the state directory's log file too; names with control characters stay on one
# line; the file keeps the last 64.
. "$(dirname "$0")/lib.sh"
start
export ARTIFS_MOUNT=$MNT
[ -z "$(cat "$MNT/.artifs/errors")" ] || fail ".artifs/errors is not empty at first"
mkdir "$MNT/my project" 2>/dev/null && fail "mkdir of 'my project' succeeded"
line=$(tail -n 1 "$MNT/.artifs/errors")
echo "$line"
IFS=$'\t' read -r when who what err why <<<"$line"
[[ $when =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9:]{8}Z$ ]] || fail "the time is '$when'"
[[ $who =~ ^pid\ [0-9]+\ \(mkdir\)$ ]] || fail "the process is '$who'"
[ "$what" = "mkdir my project" ] || fail "what is '$what'"
[ "$err" = "EINVAL (Invalid argument)" ] || fail "the errno is '$err'"
[ -n "$why" ] || fail "no reason is given"
"$ARTIFS_BIN" status | grep -qF "refused	$line" || fail "artifs status does not show it: $("$ARTIFS_BIN" status)"
grep -qE '^20[0-9-]+T[0-9:]+Z artifs\[[0-9]+\]: notice: mkdir my project: names use only' "$STATE/log" ||
	fail "the state directory's log lacks the refusal: $(tail -n 3 "$STATE/log")"

# A write into a version, from Python: its command and a reason.
mkdir -p "$MNT/p/a"
echo x >"$MNT/p/a/f"
setfattr -n user.artifs.commit -v one "$MNT/p/a" || fail "commit failed"
python3 -c 'import sys; open(sys.argv[1], "w")' "$MNT/p/a/@v1/f" 2>/dev/null && fail "a version file opened for writing"
tail -n 1 "$MNT/.artifs/errors" | grep -qP '\tpid [0-9]+ \(python3\)\topen for writing .*\tEROFS \(Read-only file system\)\tversions are read-only$' ||
	fail "the EROFS refusal reads '$(tail -n 1 "$MNT/.artifs/errors")'"

# A name with a newline is one line; only the last 64 refusals are kept.
mkdir "$MNT/bad
name" 2>/dev/null && fail "mkdir of a name with a newline succeeded"
tail -n 1 "$MNT/.artifs/errors" | grep -qF 'mkdir bad?name' || fail "the newline was not replaced: $(tail -n 2 "$MNT/.artifs/errors")"
for i in $(seq 70); do mkdir "$MNT/x y$i" 2>/dev/null || true; done
[ "$(wc -l <"$MNT/.artifs/errors")" = 64 ] || fail ".artifs/errors holds $(wc -l <"$MNT/.artifs/errors") lines"
tail -n 1 "$MNT/.artifs/errors" | grep -qF 'mkdir x y70' || fail "the newest refusal is not last"
[ "$("$ARTIFS_BIN" status | grep -c '^refused')" = 10 ] || fail "artifs status shows $("$ARTIFS_BIN" status | grep -c '^refused') refusals, not 10"
stop
