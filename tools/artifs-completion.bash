# SPDX-License-Identifier: MIT
# Bash completion for artifs (installed by make install as
# share/bash-completion/completions/artifs). Commands, their options and mount's -o names
# are read from the artifs binary's own --help, so they never fall out of step with it;
# everything else completes as paths.

_artifs_commands() {
	"$1" --help 2>/dev/null | sed -n '/^commands:/,/^$/{s/^  \([a-z]*\) .*/\1/p}'
}

_artifs_options() { # BIN CMD: the options its --help names
	"$1" "$2" --help 2>/dev/null | grep -oE '(^|[][ |])--?[a-z][a-z-]*' |
		sed 's/^[][ |]*//' | sort -u
}

_artifs_mount_names() { # BIN: mount's -o NAME= items
	"$1" mount --help 2>/dev/null | sed -n 's/^  \([a-z_]*=\).*/\1/p;s/^  \(allow_other\|nonempty\) .*/\1/p'
}

_artifs() {
	local bin=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} prev cmd i
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_artifs_commands "$bin")" -- "$cur")
		return
	fi
	cmd=${COMP_WORDS[1]}
	# artifs run ... -- CMD: complete CMD and its arguments as a command line.
	if [ "$cmd" = run ]; then
		for ((i = 2; i < COMP_CWORD; i++)); do
			if [ "${COMP_WORDS[i]}" = -- ]; then
				if declare -F _command_offset >/dev/null; then
					_command_offset $((i + 1))
				else
					mapfile -t COMPREPLY < <(compgen -c -- "$cur")
				fi
				return
			fi
		done
	fi
	case "$prev:$cmd" in
	-o:mount | -o:rebuild | -o:config | -o:fsck | -o:gc)
		# An -o list: complete its last item, keeping the items before it.
		local pre=
		[[ $cur == *,* ]] && pre=${cur%,*},
		compopt -o nospace 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -P "$pre" -W "$(_artifs_mount_names "$bin")" -- \
			"${cur##*,}")
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_artifs_options "$bin" "$cmd")" -- "$cur")
		return
	fi
	compopt -o default 2>/dev/null
	mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

complete -F _artifs artifs
