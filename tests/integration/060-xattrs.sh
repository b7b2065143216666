# Labels, metrics, kind, lineage and per-file user xattrs through getfattr/setfattr and Python.
. "$(dirname "$0")/lib.sh"
start "commit_delay=600000"
mkdir "$MNT/proj" "$MNT/proj/art"
proj=$MNT/proj
art=$proj/art
head -c 100000 /dev/urandom >"$T/data"
cp "$T/data" "$art/data.bin"
setfattr -n user.artifs.commit -v first "$art" || fail "commit of v1 failed"
[ -d "$art/@v1" ] || fail "no @v1 after commit"

# getx PATH NAME: the value of one attribute (fails when absent)
getx() { getfattr --only-values --absolute-names -n "$2" "$1"; }

# labels on project, artifact and version; still writable on a version
for p in "$proj" "$art" "$art/@v1"; do
	setfattr -n user.label.k -v "value for $(basename "$p")" "$p" || fail "setfattr user.label.k on $p failed"
	[ "$(getx "$p" user.label.k)" = "value for $(basename "$p")" ] || fail "user.label.k round trip on $p: got '$(getx "$p" user.label.k || true)'"
done
setfattr -n user.label.k -v changed "$art/@v1" || fail "changing a label on @v1 failed"
[ "$(getx "$art/@v1" user.label.k)" = changed ] || fail "label on @v1 did not change"
setfattr -x user.label.k "$art/@v1" || fail "removing a label from @v1 failed"
if getx "$art/@v1" user.label.k >/dev/null 2>&1; then fail "label still on @v1 after setfattr -x"; fi

# a metric on a version
setfattr -n user.metric.acc -v 0.93 "$art/@v1" || fail "setfattr user.metric.acc on @v1 failed"
[ "$(getx "$art/@v1" user.metric.acc)" = 0.93 ] || fail "user.metric.acc on @v1: got '$(getx "$art/@v1" user.metric.acc || true)'"

# kind on the artifact
setfattr -n user.artifs.kind -v model "$art" || fail "setfattr user.artifs.kind failed"
[ "$(getx "$art" user.artifs.kind)" = model ] || fail "user.artifs.kind: got '$(getx "$art" user.artifs.kind || true)'"
[ "$(getx "$art" user.artifs.version)" = 1 ] || fail "HEAD user.artifs.version: got '$(getx "$art" user.artifs.version || true)', want 1"

# system attributes of @v1
getfattr -d -m - --absolute-names "$art/@v1" >"$T/v1.attrs" || fail "getfattr -d -m - @v1 failed"
grep -qx 'user.artifs.uri="artifs://proj/art@v1"' "$T/v1.attrs" || fail "@v1 uri missing or wrong: $(cat "$T/v1.attrs")"
grep -qx 'user.artifs.version="1"' "$T/v1.attrs" || fail "@v1 version missing or wrong: $(cat "$T/v1.attrs")"
grep -qE '^user.artifs.digest="sha256:[0-9a-f]{64}"$' "$T/v1.attrs" || fail "@v1 digest missing or malformed: $(cat "$T/v1.attrs")"
grep -qE '^user.artifs.created="[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z"$' "$T/v1.attrs" ||
	fail "@v1 created missing or not RFC 3339 UTC: $(cat "$T/v1.attrs")"
grep -qx 'user.artifs.message="first"' "$T/v1.attrs" || fail "@v1 message missing or wrong: $(cat "$T/v1.attrs")"

# a file's digest is the sha256 of its bytes
want="sha256:$(sha256sum "$T/data" | cut -d' ' -f1)"
[ "$(getx "$art/@v1/data.bin" user.artifs.digest)" = "$want" ] || fail "file digest is '$(getx "$art/@v1/data.bin" user.artifs.digest || true)', want $want"
[ "$(getx "$art/@v1/data.bin" user.artifs.uri)" = "artifs://proj/art@v1/data.bin" ] || fail "file uri is '$(getx "$art/@v1/data.bin" user.artifs.uri || true)'"

# Python on a HEAD file: set, get, list; carried into the next version, read-only there
python3 - "$art" <<'PY' || fail "python xattr round trip on a HEAD file failed"
import os, sys
art = sys.argv[1]
p = os.path.join(art, "notes.txt")
with open(p, "w") as f:
    f.write("hello\n")
os.setxattr(p, "user.foo", b"bar baz")
assert os.getxattr(p, "user.foo") == b"bar baz", os.getxattr(p, "user.foo")
assert "user.foo" in os.listxattr(p), os.listxattr(p)
os.setxattr(p, "user.empty", b"")
assert os.getxattr(p, "user.empty") == b""
os.removexattr(p, "user.empty")
assert "user.empty" not in os.listxattr(p), os.listxattr(p)
PY

# a metric and inputs on HEAD go with the next version
setfattr -n user.metric.x -v 2.5 "$art" || fail "setfattr user.metric.x on HEAD failed"
[ "$(getx "$art" user.metric.x)" = 2.5 ] || fail "user.metric.x on HEAD: got '$(getx "$art" user.metric.x || true)'"
# declared inputs are pinned: @latest is stored as the version it names now
setfattr -n user.artifs.inputs -v "artifs://proj/art@latest" "$art" || fail "setfattr user.artifs.inputs on HEAD failed"
setfattr -n user.artifs.commit -v second "$art" || fail "commit of v2 failed"
[ -d "$art/@v2" ] || fail "no @v2 after commit"
[ "$(getx "$art/@v2" user.metric.x)" = 2.5 ] || fail "user.metric.x did not go with @v2: got '$(getx "$art/@v2" user.metric.x 2>&1 || true)'"
[ "$(getx "$art/@v2" user.artifs.inputs)" = "artifs://proj/art@v1" ] || fail "user.artifs.inputs on @v2: got '$(getx "$art/@v2" user.artifs.inputs 2>&1 || true)'"
if getx "$art/@v1" user.metric.x >/dev/null 2>&1; then fail "the HEAD metric leaked onto @v1"; fi
[ "$(getx "$art/@v1" user.metric.acc)" = 0.93 ] || fail "@v1 lost its metric after @v2"
[ "$(getx "$art" user.artifs.version)" = 2 ] || fail "HEAD user.artifs.version: got '$(getx "$art" user.artifs.version || true)', want 2"

python3 - "$art" <<'PY' || fail "user.foo was not carried into @v2 read-only"
import errno, os, sys
art = sys.argv[1]
p = os.path.join(art, "@v2", "notes.txt")
assert os.getxattr(p, "user.foo") == b"bar baz", os.getxattr(p, "user.foo")
assert "user.foo" in os.listxattr(p), os.listxattr(p)
for op in (lambda: os.setxattr(p, "user.foo", b"x"), lambda: os.removexattr(p, "user.foo")):
    try:
        op()
    except OSError as e:
        assert e.errno in (errno.EROFS, errno.EPERM), e
    else:
        raise SystemExit("changing user.foo on a version file succeeded")
assert os.getxattr(p, "user.foo") == b"bar baz"
# the HEAD copy is still writable
os.setxattr(os.path.join(art, "notes.txt"), "user.foo", b"new")
assert os.getxattr(p, "user.foo") == b"bar baz"
PY

# labels survive on project and artifact
[ "$(getx "$proj" user.label.k)" = "value for proj" ] || fail "project label lost"
[ "$(getx "$art" user.label.k)" = "value for art" ] || fail "artifact label lost"
stop
