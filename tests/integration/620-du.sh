# artifs du (issue 12, "where the space goes"): logical and stored bytes per version,
# artifact, project and in total, from the index: a version's ADDED counts only chunks no
# earlier version of its artifact has, chunks shared by files, versions and artifacts are
# stored once, compressible files store less than their size, and the total agrees with
# the packs in the store; refusals.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
export ARTIFS_MOUNT=$MNT
commit() { setfattr -n user.artifs.commit -v "" "$1" || fail "commit of $1 failed"; }
mkdir -p "$MNT/p/a" "$MNT/p/b" "$MNT/q/c"
head -c 4194304 /dev/urandom >"$T/r"
head -c 1048576 /dev/urandom >"$T/more"
cp "$T/r" "$MNT/p/a/f"
commit "$MNT/p/a"
cat "$T/more" >>"$MNT/p/a/f"
commit "$MNT/p/a"
cp "$T/r" "$MNT/p/b/g"
cp "$T/r" "$MNT/p/b/h"
commit "$MNT/p/b"
python3 -c 'import sys; sys.stdout.write("".join("line %d of a log\n" % i for i in range(250000)))' >"$MNT/q/c/log"
commit "$MNT/q/c"

"$ARTIFS_BIN" du --format json >"$T/all.json" || fail "artifs du failed"
"$ARTIFS_BIN" du --format json "$MNT/p/a" >"$T/a.json" || fail "artifs du p/a failed"
"$ARTIFS_BIN" du --format json artifs://p/a@latest >"$T/latest.json" || fail "artifs du p/a@latest failed"
python3 - "$T" "$(stat -c %s "$MNT/q/c/log")" <<'PY' || fail "artifs du's figures are wrong"
import json, sys
t, logsize = sys.argv[1], int(sys.argv[2])
rows = {r["uri"]: r for r in json.load(open(t + "/all.json"))}
ver = {r["uri"]: r for r in json.load(open(t + "/a.json"))}
latest = json.load(open(t + "/latest.json"))
def check(ok, what):
    if not ok:
        print("du:", what, file=sys.stderr)
        sys.exit(1)
MiB = 1 << 20
v1, v2, a = ver["artifs://p/a@v1"], ver["artifs://p/a@v2"], ver["artifs://p/a"]
check(v1["logical"] == 4 * MiB and v2["logical"] == 5 * MiB, f"logical sizes {v1} {v2}")
check(4 * MiB <= v1["stored"] <= 4.05 * MiB, f"v1 stores {v1['stored']}")
check(v1["added"] == v1["stored"], "v1 added what it stores")
# v2 appended 1 MiB: it adds that and at most the chunk the old end was cut in (128 KiB)
check(MiB <= v2["added"] <= MiB + 200 * 1024, f"v2 added {v2['added']}")
check(a["logical"] == 9 * MiB and a["versions"] == 2, f"artifact {a}")
check(a["stored"] == v1["stored"] + v2["added"], f"artifact stored {a['stored']}")
check([r["uri"] for r in json.load(open(t + "/a.json"))] ==
      ["artifs://p/a@v1", "artifs://p/a@v2", "artifs://p/a"], "rows of p/a out of order")
check(len(latest) == 1 and latest[0] == v2, f"@latest gives {latest}")
b = rows["artifs://p/b"]
check(b["logical"] == 8 * MiB and b["stored"] == v1["stored"], f"two copies of r store once: {b}")
p = rows["artifs://p"]
check(p["stored"] == a["stored"], f"p/b shares every chunk with p/a: project stores {p['stored']}")
c = rows["artifs://q/c"]
check(c["logical"] == logsize and c["stored"] < logsize / 3, f"a text log stores {c}")
tot = rows["total"]
check(tot["stored"] == p["stored"] + rows["artifs://q"]["stored"], f"total {tot}")
check(tot["logical"] == a["logical"] + b["logical"] + c["logical"], f"total logical {tot}")
open(t + "/total", "w").write(str(tot["stored"]))
PY
# The stored total is what the packs hold, up to their frame headers and indexes.
if [ "${ARTIFS_TEST_STORE:-local}" = local ]; then
	packs=$(find "$STORE/packs" -name '*.pack' -printf '%s\n' | awk '{ s += $1 } END { print s }')
	tot=$(cat "$T/total")
	[ "$tot" -le "$packs" ] && [ "$tot" -ge $((packs * 95 / 100)) ] ||
		fail "du's total $tot is not what the packs hold ($packs)"
fi
# Text: a header, human sizes, one row per artifact, project and the total.
"$ARTIFS_BIN" du >"$T/text" || fail "artifs du (text) failed"
head -1 "$T/text" | grep -q "LOGICAL.*STORED.*ADDED" || fail "no header: $(head -1 "$T/text")"
grep -q "9.0 MiB .* artifs://p/a (2 versions)" "$T/text" || fail "text row of p/a: $(cat "$T/text")"
grep -q " total$" "$T/text" || fail "no total row: $(cat "$T/text")"

# Refusals.
refused() { # PATTERN ARGS...
	local pat=$1 rc=0
	shift
	"$ARTIFS_BIN" du "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc -eq 1 ] || fail "artifs du $* exited $rc, not 1"
	grep -q "$pat" "$T/err" || fail "artifs du $*: unclear refusal: $(cat "$T/err")"
	[ ! -s "$T/out" ] || fail "artifs du $* printed: $(cat "$T/out")"
}
refused "no such project, artifact or version" "$MNT/p/zz"
refused "no such project, artifact or version" artifs://nope
refused "no such project, artifact or version" "$MNT/p/a/@v9"
refused "takes text or json" --format xml
refused "unknown option" --bogus
refused "one target" "$MNT/p" "$MNT/q"
refused "not on an artifs mount" "$T"
stop
