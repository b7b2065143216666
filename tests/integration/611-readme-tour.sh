# The README's tour as a test (issue 13): its mount command (the daemon in the background,
# on the embedded local store under a fresh $HOME) and each line of its "Then try it" block,
# as written there, with /artifacts and build/artifs replaced by this test's mount and
# binary. A line must succeed; a line's comment that promises a version ("@v1 appears")
# or a listing ("# @latest  @v1  model.bin") is checked. A README whose tour no longer
# works fails here.
. "$(dirname "$0")/lib.sh"
local_store_only
readme=$(cd "$(dirname "$0")/../.." && pwd)/README.md
export HOME=$T/home
unset XDG_DATA_HOME XDG_CONFIG_HOME
mkdir -p "$HOME"

# as_here LINE: the line with this test's mount and binary.
as_here() {
	local l=${1//\/artifacts/$MNT}
	echo "${l//build\/artifs/$ARTIFS_BIN}"
}

# The mount: the "build/artifs mount" step of the line that installs, builds and mounts.
mline=$(grep -m1 'build/artifs mount /artifacts' "$readme") || fail "the README has no mount command"
IFS='&' read -ra steps <<<"${mline//&&/&}"
for s in "${steps[@]}"; do
	s=$(echo "$s" | sed 's/^ *//; s/ *$//')
	case $s in
	make\ *) ;; # built already
	*) eval "$(as_here "$s")" >>"$LOG" 2>&1 || fail "README step failed: $s" ;;
	esac
done
wait_for mountpoint -q "$MNT" || fail "the README's mount command did not mount"
[ -d "$HOME/.local/share/artifs/store" ] || fail "the mount did not use the embedded store under \$HOME"

block=$(awk '/^Then try it:/ { f = 1; next } f && /^```sh/ { g = 1; next } g && /^```/ { exit } g { print }' "$readme")
[ -n "$block" ] || fail "the README has no 'Then try it' block"
n=0
while IFS= read -r line; do
	[ -n "$line" ] || continue
	cmd=${line%%#*} note=""
	[[ $line == *"#"* ]] && note=${line#*# }
	n=$((n + 1))
	case $cmd in
	fusermount3*)
		eval "$(as_here "$cmd")" || fail "README line failed: $line"
		wait_for sh -c "! mountpoint -q '$MNT'" || fail "the README's unmount left the mount"
		wait_for sh -c "! pgrep -f -- '[a]rtifs mount $MNT' >/dev/null" || fail "the daemon did not exit"
		continue
		;;
	esac
	out=$(eval "$(as_here "$cmd")" 2>&1) || fail "README line failed: $line: $out"
	# "@vN appears ...": poll for it
	if [[ $note =~ ^(@v[0-9]+)\ appears ]]; then
		dir=$(as_here "$(echo "$cmd" | grep -o '/artifacts/[^ ]*' | tail -1)")
		dir=${dir%/*}
		wait_for test -d "$dir/${BASH_REMATCH[1]}" || fail "no ${BASH_REMATCH[1]} in $dir after: $line"
	fi
	# "ls DIR  # names": the listing is those names
	if [[ $cmd == ls\ * ]] && [ -n "$note" ]; then
		[ "$(echo $out)" = "$(echo $note)" ] || fail "README line '$line' lists '$(echo $out)'"
	fi
done <<<"$block"
[ $n -ge 5 ] || fail "the README's tour has only $n lines"

# What the tour claims to have made, read back from a fresh mount of the same store.
"$ARTIFS_BIN" mount -f "$MNT" >>"$LOG" 2>&1 &
PID=$!
wait_for mountpoint -q "$MNT" || fail "the remount did not come up"
m=$MNT/demo/model
[ "$(cat "$m/@v1/model.bin")" = weights ] || fail "demo/model@v1 does not hold the tour's file"
link_is "$m/@prod" @v1 || fail "the tour's tag @prod is $(readlink "$m/@prod")"
[ "$(getfattr --absolute-names --only-values -n user.label.stage "$m/@v1")" = prod ] ||
	fail "the tour's label is missing"
stop
