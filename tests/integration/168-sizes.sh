# Size options take K, M, G, T (powers of 1024, optionally followed by iB) and nothing else:
# rcache=32M is 32 MiB (it was read as 32 bytes, and a 20 MiB read then fetched 282 MB from
# the store), and a malformed size is refused with exit 1 and a message naming the option,
# before anything is made.
. "$(dirname "$0")/lib.sh"

# refused_opt OPTION: mount -o OPTION fails at once, exit 1, naming it; no store, no state.
refused_opt() {
	local rc=0
	timeout 20 "$ARTIFS_BIN" mount -f -o "store=$T/s2,state=$T/st2,$1" "$MNT" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc -eq 1 ] || fail "-o $1: exit $rc, want 1 ($(cat "$T/err"))"
	grep -qF -- "${1%%=*}" "$T/err" || fail "-o $1: the message does not name the option: $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "-o $1: not one line: $(cat "$T/err")"
	[ ! -e "$T/s2" ] && [ ! -e "$T/st2" ] || fail "-o $1: the refused mount made its store or state"
	! mountpoint -q "$MNT" || fail "-o $1 mounted"
}
for opt in rcache cache_size map_size; do
	for bad in 32X -1 "" 32MB 1.5G " 32M" +32M 32M+ 0x10 99999999999999999999 17179869184G \
		16777216T 32MiBs M; do
		refused_opt "$opt=$bad"
	done
	refused_opt "$opt"
done
grep -q "too big" <("$ARTIFS_BIN" mount -f -o "rcache=17179869184G" "$MNT" 2>&1) ||
	fail "an overflowing size is not called too big"
for opt in retries commit_delay refresh; do
	for bad in -1 abc 5s "" 4294967296; do
		refused_opt "$opt=$bad"
	done
done
refused_opt "capture=yes"
# the bench's sizes go through the same parser
rc=0
"$ARTIFS_BIN" bench --big-size 4X "$MNT/proj/art" 2>"$T/err" || rc=$?
[ $rc -eq 1 ] && grep -q -- "--big-size 4X" "$T/err" || fail "bench --big-size 4X: exit $rc: $(cat "$T/err")"

# accepted: every spelling of the units, with the sizes they mean
start "rcache=32M,cache_size=1G,map_size=64MiB,commit_delay=600000"
stop
for ok in 33554432 32768K 32768k 32M 32m 32MiB 32mib; do
	start "rcache=$ok,map_size=1g,cache_size=1T,commit_delay=600000"
	stop
done

# rcache=32M holds a 20 MiB file's chunks: reading it once fetches it about once
start "rcache=32M,commit_delay=600000"
mkdir -p "$MNT/proj/art"
head -c $((20 << 20)) /dev/urandom >"$MNT/proj/art/big"
setfattr -n user.artifs.commit -v big "$MNT/proj/art" || fail "commit failed"
stop
start "rcache=32M,commit_delay=600000"
cat "$MNT/proj/art/@v1/big" >/dev/null || fail "cannot read @v1/big"
fetched=$("$ARTIFS_BIN" stats "$MNT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["daemon"]["bytes_fetched"])')
[ "$fetched" -le $((24 << 20)) ] || fail "reading 20 MiB with rcache=32M fetched $fetched bytes"
[ "$fetched" -ge $((20 << 20)) ] || fail "reading 20 MiB fetched only $fetched bytes: a stale counter?"
stop
