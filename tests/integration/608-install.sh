# make install (issue 13): the man pages artifs(1), with a section per command, and
# mount.artifs(8), made from --help; bash completion where bash-completion finds it, which
# offers the commands, each command's options and mount's -o names as the binary's --help
# gives them, keeps the earlier items of an -o list, and completes CMD after artifs run --.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")/../.." && pwd)
make -s -C "$here" install BUILD="$(dirname "$ARTIFS_BIN")" DESTDIR="$T/root" PREFIX=/usr \
	>/dev/null || fail "make install failed"
comp=$T/root/usr/share/bash-completion/completions/artifs
[ -f "$comp" ] || fail "make install did not install the completion"
words() { # WORD...: what completing the last word offers, on one line
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _artifs
		echo "${COMPREPLY[*]}"' _ "$comp" "$ARTIFS_BIN" "$@"
}
[ "$(words co)" = "commit config" ] || fail "artifs co<TAB> offers '$(words co)'"
[ "$(words log --)" = "--format --limit --state" ] || fail "artifs log --<TAB> offers '$(words log --)'"
[ "$(words mount -o st)" = "store= state=" ] || fail "mount -o st<TAB> offers '$(words mount -o st)'"
[ "$(words mount -o cache=/c,commit_i)" = "cache=/c,commit_idle=" ] ||
	fail "an -o list loses its items: '$(words mount -o cache=/c,commit_i)'"
words run -- pytho | grep -qw python3 || fail "artifs run -- pytho<TAB> offers '$(words run -- pytho)'"
mkdir -p "$T/dir/sub"
[ "$(words status "$T/dir/s")" = "$T/dir/sub" ] || fail "paths do not complete: '$(words status "$T/dir/s")'"

# The man pages say what --help says.
m1=$T/root/usr/share/man/man1/artifs.1 m8=$T/root/usr/share/man/man8/mount.artifs.8
[ -f "$m1" ] && [ -f "$m8" ] || fail "make install did not install the man pages"
for c in $("$ARTIFS_BIN" --help | sed -n '/^commands:/,/^$/{s/^  \([a-z]*\) .*/\1/p}'); do
	grep -qx ".SS $c" "$m1" || fail "artifs(1) has no section for $c"
	first=$("$ARTIFS_BIN" "$c" --help | head -1)
	grep -qF -- "$first" "$m1" || fail "artifs(1) lacks $c's usage line: $first"
done
grep -qF -- "$("$ARTIFS_BIN" mount --help | grep -m1 commit_idle=)" "$m8" || fail "mount.artifs(8) lacks the options"
if command -v man >/dev/null; then
	man -l "$m1" 2>&1 | grep -q "artifs run" || fail "artifs(1) does not render"
fi
