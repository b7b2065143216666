# Bash completion (issue 13): make install puts it where bash-completion finds it; it offers
# the commands, each command's options and mount's -o names as the binary's --help gives
# them, keeps the earlier items of an -o list, and completes CMD after artifs run --.
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
