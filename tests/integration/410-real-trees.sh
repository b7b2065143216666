# Real trees from this machine: a Python site-packages folder and /usr/share/doc, copied into
# artifacts with rsync -a, cp -a and tar, each become exactly one version equal to the source:
# bytes (diff -r), types, modes, sizes, symlink targets and mtimes, in the HEAD and in @v1, and
# again after a remount, and after rm -rf of the artifact folder and artifs restore; fsck
# --deep of the store is clean, also after gc purged one of them and deleted its packs. The same copy into a plain folder on the local disk is the reference
# (tar keeps whole seconds only, so the source itself is not).
#
# ARTIFS_REAL_TREES="DIR..." replaces the two trees; ARTIFS_REAL_TREES_MB (default 100) bounds
# each: a larger tree is cut to its first top-level entries (byte order) that fit.
. "$(dirname "$0")/lib.sh"
# On S3 each small file is one PUT today (store format 2 packs them): 10,000 files take
# minutes there. The trees run on the local store; ARTIFS_REAL_TREES_S3=1 runs them on S3 too.
if [ "${ARTIFS_TEST_STORE:-local}" != local ] && [ -z "${ARTIFS_REAL_TREES_S3:-}" ]; then
	echo "skip: real trees run on the local store (ARTIFS_REAL_TREES_S3=1 for S3)"
	exit 77
fi
limit_mb=${ARTIFS_REAL_TREES_MB:-100}
delay=3000   # ms of quiet before a commit: the copies below never pause that long

if [ -n "${ARTIFS_REAL_TREES:-}" ]; then
	read -r -a trees <<<"$ARTIFS_REAL_TREES"
else
	py=/usr/bin/python3
	[ -x "$py" ] || py=python3
	sp=$("$py" - <<'PY'
import os, site
# the site-packages (or dist-packages) folder of this machine with the most entries
c = [d for d in site.getsitepackages() + ['/usr/lib/python3/dist-packages'] if os.path.isdir(d)]
c.sort(key=lambda d: -len(os.listdir(d)))
print(c[0] if c else '')
PY
)
	trees=()
	[ -n "$sp" ] && trees+=("$sp")
	[ -d /usr/share/doc ] && trees+=(/usr/share/doc)
fi
[ ${#trees[@]} -gt 0 ] || { echo "skip: no site-packages and no /usr/share/doc here"; exit 77; }

# src_of N DIR: a private copy of DIR (at most $limit_mb MiB) in $T/src-N, fixed for the test.
src_of() {
	local n=$1 dir=$2 dst=$T/src-$1 total=0 s e limit=$((limit_mb * 1024))
	mkdir -p "$dst"
	if [ "$(du -sk "$dir" | cut -f1)" -le $limit ]; then
		cp -a "$dir/." "$dst/"
	else
		while IFS= read -r -d '' e; do
			s=$(du -sk "$dir/$e" | cut -f1)
			[ $((total + s)) -le $limit ] || continue
			total=$((total + s))
			cp -a "$dir/$e" "$dst/"
		done < <(cd "$dir" && find . -mindepth 1 -maxdepth 1 -printf '%P\0' | LC_ALL=C sort -z)
	fi
	echo "$n: $dir -> $(du -sm "$dst" | cut -f1) MiB, $(find "$dst" | wc -l) entries" >&2
}

# copy METHOD SRC DST: one tool's copy of the contents of SRC into the existing folder DST.
copy() {
	case $1 in
	rsync) rsync -a "$2/" "$3/" ;;
	cp) cp -a "$2/." "$3/" ;;
	tar) (cd "$2" && tar -cf - .) | (cd "$3" && tar -xf -) ;;
	esac
}

# listing DIR: one line per entry below DIR (top-level @ names are artifs' own): type, mode,
# size (not of folders), mtime in ns, path, symlink target. Byte order.
listing() {
	(cd "$1" && find . -mindepth 1 -path './@*' -prune -o \
		\( -type d -printf 'd %m - %T@ %P\n' \) -o -printf '%y %m %s %T@ %P -> %l\n') | LC_ALL=C sort
}

problems=0
problem() {
	echo "FAIL: $*" >&2
	problems=$((problems + 1))
}

# same REF DIR WHAT: DIR has REF's tree.
same() {
	if ! diff -r --no-dereference -x '@*' "$1" "$2" >"$T/diff.out" 2>&1; then
		problem "$3: diff -r differs from the reference: $(head -5 "$T/diff.out")"
	fi
	listing "$1" >"$T/l.ref"
	listing "$2" >"$T/l.got" || true
	if ! diff "$T/l.ref" "$T/l.got" >"$T/l.diff"; then
		problem "$3: types/modes/sizes/mtimes/targets differ ($(grep -c '^[<>]' "$T/l.diff") lines; < reference, > artifs):
$(head -10 "$T/l.diff")"
	fi
}

i=0
arts=()
for tree in "${trees[@]}"; do
	src_of $i "$tree"
	i=$((i + 1))
done
# Each tree is copied twice, with two different tools.
plan=()
for ((k = 0; k < i; k++)); do
	if [ $((k % 2)) -eq 0 ]; then plan+=("$k rsync" "$k cp"); else plan+=("$k rsync" "$k tar"); fi
done

start "commit_delay=$delay"
mkdir "$MNT/real"
for p in "${plan[@]}"; do
	read -r k m <<<"$p"
	art=$MNT/real/t$k-$m
	mkdir "$art" "$T/ref-$k-$m"
	copy "$m" "$T/src-$k" "$T/ref-$k-$m" || fail "$m into a plain folder failed"
	copy "$m" "$T/src-$k" "$art" || problem "$m of $(basename "${trees[$k]}") into $art failed"
	arts+=("$k $m")
done

# the quiet timer commits each artifact: poll every @latest, 40 s at most in all
deadline=$((SECONDS + 40))
for p in "${arts[@]}"; do
	read -r k m <<<"$p"
	art=$MNT/real/t$k-$m
	while ! link_is "$art/@latest" @v1 && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
	if ! link_is "$art/@latest" @v1; then
		problem "$m of ${trees[$k]}: no @v1 after the copy (waited up to 40 s in all)"
	fi
done
if grep -q 'error' "$LOG"; then
	echo "daemon errors (count, line):" >&2
	grep 'error' "$LOG" | sort | uniq -c | sort -rn | head -5 >&2
fi
sleep $((2 * delay / 1000))   # a second version would have come by now
check_all() {
	local p k m art
	for p in "${arts[@]}"; do
		read -r k m <<<"$p"
		art=$MNT/real/t$k-$m
		[ "$(versions "$art" | tr '\n' ' ')" = "@v1 " ] ||
			problem "$1: $m of ${trees[$k]}: expected exactly @v1, have: $(versions "$art" | tr '\n' ' ')"
		same "$T/ref-$k-$m" "$art" "$1: HEAD of $m of ${trees[$k]}"
		if [ -d "$art/@v1" ]; then same "$T/ref-$k-$m" "$art/@v1" "$1: @v1 of $m of ${trees[$k]}"; fi
	done
}
check_all "before remount"
stop
start "commit_delay=$delay"
check_all "after remount"
# fsck --deep of the real trees' store is clean; rm -rf of each artifact folder removes it
# (exit 0, nothing left of it on the mount), and artifs restore brings back @v1 and the HEAD
# as they were (docs/lifecycle.md).
out=$("$ARTIFS_BIN" fsck --deep -o "store=$STORE,state=$STATE" 2>&1) ||
	problem "fsck --deep of the real trees' store: $out"
for p in "${arts[@]}"; do
	read -r k m <<<"$p"
	art=$MNT/real/t$k-$m
	rm -rf "$art" 2>"$T/rm.err" || problem "rm -rf of $art failed: $(head -3 "$T/rm.err")"
	[ ! -e "$art" ] || problem "$art is still there after rm -rf"
	"$ARTIFS_BIN" restore "$art" >/dev/null || problem "artifs restore of $art failed"
done
check_all "after rm -rf and restore"
# gc (docs/gc.md): every artifact of the first tree (its copies share their chunks) removed
# and purged, its packs deleted over two runs; every other artifact still reads as its
# reference from the store, and fsck --deep is clean.
read -r k0 _ <<<"${arts[0]}"
kept=()
for p in "${arts[@]}"; do
	read -r k m <<<"$p"
	if [ "$k" = "$k0" ]; then
		rm -rf "$MNT/real/t$k-$m" || problem "rm -rf of real/t$k-$m before gc failed"
	else
		kept+=("$p")
	fi
done
if [ "${STORE#s3://}" = "$STORE" ]; then
	find "$STORE/packs" -type f -exec touch -d '-1 hour' {} + # as if committed an hour ago
	grace=0
else
	grace=1 # S3 keeps its own times: the packs must be a second old
	sleep 1.1
fi
for run in 1 2; do
	out=$("$ARTIFS_BIN" gc --removed-grace 0 --grace $grace --skew 0 -o "store=$STORE" 2>&1) ||
		problem "gc run $run over the real trees: $out"
	[ "$grace" = 0 ] || sleep 1.1
done
echo "$out" | grep -q "deleted: [1-9]" || problem "gc deleted no pack of the removed tree: $out"
arts=("${kept[@]}")
stop
start "commit_delay=$delay"
check_all "after gc"
out=$("$ARTIFS_BIN" fsck --deep -o "store=$STORE,state=$STATE" 2>&1) ||
	problem "fsck --deep after gc: $out"
stop
[ $problems -eq 0 ] || fail "$problems problems (above)"
