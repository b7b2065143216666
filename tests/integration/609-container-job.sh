# Jobs in containers (issue 13): a job in its own mount and pid namespaces (unshare) sees the
# mount through bind mounts: its input artifact read-only, its output artifact writable. What
# it writes becomes one version when it ends, with the input it read as lineage; writes to
# the read-only input are refused. docs/containers.md.
. "$(dirname "$0")/lib.sh"
unshare --mount --pid --fork --mount-proc true 2>/dev/null ||
	{ echo "skip: no mount and pid namespaces here (unshare)"; exit 77; }
start
in=$MNT/p/in out=$MNT/p/out
mkdir -p "$in" "$out"
echo data >"$in/data"
setfattr -n user.artifs.commit -v "" "$in" || fail "commit of p/in failed"
job=$T/job
mkdir -p "$job"
unshare --mount --pid --fork --mount-proc bash -c '
	set -e
	mount --make-rprivate /
	mkdir -p "$1/in" "$1/out"
	mount --bind "$2" "$1/in" && mount -o remount,bind,ro "$1/in"
	mount --bind "$3" "$1/out"
	[ "$$" = 1 ] || { echo "not in a pid namespace of its own" >&2; exit 3; }
	if echo x 2>/dev/null >"$1/in/planted"; then echo "the read-only input took a write" >&2; exit 4; fi
	cat "$1/in/@v1/data" >"$1/out/copy"
	echo done >"$1/out/result"
' job "$job" "$in" "$out" || fail "the job in its namespaces failed ($?)"
wait_version "$out" 1
[ "$(cat "$out/@v1/copy")" = data ] && [ -f "$out/@v1/result" ] || fail "@v1 lacks the job's files"
[ ! -e "$in/planted" ] || fail "the job wrote into its read-only input"
grep -qx 'artifs://p/in@v1' <(getfattr --absolute-names --only-values -n user.artifs.inputs "$out/@v1") ||
	fail "p/out@v1 lacks its input p/in@v1"
[ -z "$(versions "$in" | grep -v '^@v1$')" ] || fail "the input got a new version"
stop
