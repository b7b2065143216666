# cp makes @v1; a second write makes @v2 and leaves @v1 byte-identical; @latest follows.
. "$(dirname "$0")/lib.sh"
start "commit_delay=100"
mkdir "$MNT/proj" "$MNT/proj/model"
head -c 300000 /dev/urandom >"$T/one"
cp "$T/one" "$MNT/proj/model/model.bin"
wait_version "$MNT/proj/model" 1
cmp "$T/one" "$MNT/proj/model/@v1/model.bin" || fail "@v1 differs from what was written"
[ "$(readlink "$MNT/proj/model/@latest")" = "@v1" ] || fail "@latest is not @v1"

head -c 200000 /dev/urandom >"$T/two"
cp "$T/two" "$MNT/proj/model/model.bin"
wait_version "$MNT/proj/model" 2
cmp "$T/two" "$MNT/proj/model/@v2/model.bin" || fail "@v2 differs"
cmp "$T/one" "$MNT/proj/model/@v1/model.bin" || fail "@v1 changed after @v2"
wait_for link_is "$MNT/proj/model/@latest" @v2 || fail "@latest is not @v2"
cmp "$T/two" "$MNT/proj/model/model.bin" || fail "HEAD does not show the newest version"
[ "$(versions "$MNT/proj/model" | wc -l)" -eq 2 ] || fail "expected exactly two versions"
stop
