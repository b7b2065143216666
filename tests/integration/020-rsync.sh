# rsync -a of a 100-file tree into a HEAD makes exactly one version that matches the source.
. "$(dirname "$0")/lib.sh"
start
mkdir "$MNT/proj" "$MNT/proj/data"
src=$T/src
for d in a a/b c; do mkdir -p "$src/$d"; done
for i in $(seq 1 100); do
	case $((i % 4)) in
	0) dir=. ;; 1) dir=a ;; 2) dir=a/b ;; 3) dir=c ;;
	esac
	head -c $((i * 1000 + 7)) /dev/urandom >"$src/$dir/f$i.bin"
done
[ "$(find "$src" -type f | wc -l)" -eq 100 ] || fail "test set-up: expected 100 files"
rsync -a "$src/" "$MNT/proj/data/" || fail "rsync -a into HEAD failed"
wait_version "$MNT/proj/data" 1
# the draft is quiet now; make sure nothing else is pending before counting
diff -r "$src" "$MNT/proj/data/@v1" || fail "@v1 differs from the rsync source"
diff -r "$src" "$MNT/proj/data" --exclude='@*' || fail "HEAD differs from the rsync source"
[ "$(versions "$MNT/proj/data" | wc -l)" -eq 1 ] || fail "expected exactly one version, have: $(versions "$MNT/proj/data" | tr '\n' ' ')"
stop
# after unmount (which commits drafts changed in the session) there is still one version
start
[ "$(versions "$MNT/proj/data" | wc -l)" -eq 1 ] || fail "after remount expected one version, have: $(versions "$MNT/proj/data" | tr '\n' ' ')"
diff -r "$src" "$MNT/proj/data/@v1" || fail "@v1 differs after remount"
stop
