# tar -x into a HEAD, commit, tar -c of @v1: same files, modes, mtimes and symlink.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
mkdir "$MNT/proj" "$MNT/proj/bundle"
art=$MNT/proj/bundle
src=$T/src
mkdir -p "$src/conf/deep/er" "$src/bin"
head -c 50000 /dev/urandom >"$src/data.bin"
echo "lr: 0.1" >"$src/conf/train.yaml"
echo "secret" >"$src/conf/deep/er/key"
printf '#!/bin/sh\necho hi\n' >"$src/bin/run.sh"
: >"$src/empty"
ln -s conf/train.yaml "$src/link"
chmod 0644 "$src/data.bin" "$src/conf/train.yaml" "$src/empty"
chmod 0755 "$src/bin/run.sh"
chmod 0600 "$src/conf/deep/er/key"
chmod 0700 "$src/conf/deep"
chmod 0755 "$src/conf" "$src/bin" "$src/conf/deep/er"
touch -d '2021-03-04 05:06:07' "$src/data.bin"
touch -d '2019-12-31 23:59:59' "$src/conf/train.yaml"
touch -d '2020-06-15 12:00:00' "$src/conf/deep/er/key" "$src/bin/run.sh" "$src/empty"
touch -h -d '2018-01-01 00:00:00' "$src/link"
touch -d '2017-07-07 07:07:07' "$src/conf/deep/er" "$src/conf/deep" "$src/conf" "$src/bin"
tar -c -f "$T/in.tar" -C "$src" . || fail "tar -c of the source failed"

tar -x -f "$T/in.tar" -C "$art" || fail "tar -x into HEAD failed"
setfattr -n user.artifs.commit -v "from tar" "$art" || fail "commit failed"
[ -d "$art/@v1" ] || fail "no @v1 after commit"

tar -c -f "$T/out.tar" -C "$art/@v1" . || fail "tar -c of @v1 failed"
# tar -tvf listings, without the '.' entry (the @v1 root has no write bits)
listing() { tar -tvf "$1" --utc | grep -vE ' \./?$' | awk '{$2=""; print}' | sort -k5; }
listing "$T/in.tar" >"$T/in.lst"
listing "$T/out.tar" >"$T/out.lst"
diff "$T/in.lst" "$T/out.lst" || fail "tar listing of @v1 differs from the input archive"

# python lstat of every path: type, permission bits, size, mtime (seconds), link target
snap() {
	python3 - "$1" <<'PY'
import os, stat, sys
root = sys.argv[1]
for dp, dns, fns in os.walk(root):
    for n in sorted(dns + fns):
        p = os.path.join(dp, n)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        kind = "l" if stat.S_ISLNK(st.st_mode) else "d" if stat.S_ISDIR(st.st_mode) else "f"
        size = st.st_size if kind == "f" else 0
        tgt = os.readlink(p) if kind == "l" else ""
        perm = "" if kind == "l" else oct(stat.S_IMODE(st.st_mode))
        print(rel, kind, perm, size, int(st.st_mtime), tgt)
PY
}
snap "$src" | sort >"$T/src.st"
snap "$art/@v1" | sort >"$T/v1.st"
diff "$T/src.st" "$T/v1.st" || fail "lstat of @v1 differs from the source"
diff -r "$src" "$art/@v1" || fail "file contents of @v1 differ"
# extract the @v1 archive again locally: bytes identical
mkdir "$T/back"
tar -x -f "$T/out.tar" -C "$T/back" || fail "tar -x of the @v1 archive failed"
diff -r "$src" "$T/back" || fail "round-tripped tree differs"
stop
