#!/bin/sh
# SPDX-License-Identifier: MIT
# Writes the man pages artifs.1 and mount.artifs.8 into DIR from the binary's own --help
# texts, so that they say what --help says: artifs(1) has a section per command.
# Usage: tools/mkman.sh BIN DIR
set -eu
bin=$1 dir=$2
mkdir -p "$dir"
ver=$("$bin" --version 2>/dev/null | head -1 || echo artifs)
# roff: a text block, lines kept as they are, backslashes and leading dots escaped
block() { printf '.nf\n'; sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"; printf '.fi\n'; }
{
	printf '.TH ARTIFS 1 "" "%s" "User Commands"\n' "$ver"
	printf '.SH NAME\nartifs \\- a FUSE filesystem for machine-learning artifacts\n'
	printf '.SH SYNOPSIS\n.B artifs\n.I command\n[options] [args]\n'
	printf '.SH DESCRIPTION\n'
	"$bin" --help | block
	printf '.SH COMMANDS\n'
	for c in $("$bin" --help | sed -n '/^commands:/,/^$/{s/^  \([a-z]*\) .*/\1/p}'); do
		printf '.SS %s\n' "$c"
		"$bin" "$c" --help | block
	done
	printf '.SH SEE ALSO\n.BR mount.artifs (8),\n.BR fusermount3 (1),\n.BR getfattr (1)\n'
} >"$dir/artifs.1"
{
	printf '.TH MOUNT.ARTIFS 8 "" "%s" "System Administration"\n' "$ver"
	printf '.SH NAME\nmount.artifs \\- mount an artifs store (artifs mount)\n'
	printf '.SH SYNOPSIS\n.B mount.artifs\n.I store mountpoint\n[\\-o options]\n'
	printf '.SH DESCRIPTION\n'
	"$bin" mount --help | block
	printf '.SH SEE ALSO\n.BR artifs (1),\n.BR mount (8),\n.BR fstab (5)\n'
} >"$dir/mount.artifs.8"
