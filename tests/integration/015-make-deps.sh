# The README's first command, `make deps all`, builds in one go on a machine where the
# -dev packages are not installed yet: pkg-config must be asked after deps has run, not when
# the Makefile is read. Simulated in a copy of the sources, without apt: on PATH, a
# dpkg-query that reports every package missing, an apt-get (and sudo) that only drops a
# marker, and a pkg-config that fails until the marker exists.
set -euo pipefail

if [ "${ARTIFS_TEST_STORE:-local}" != local ]; then
	echo "skip: builds, does not mount"
	exit 77
fi
command -v pkg-config >/dev/null || { echo "skip: no pkg-config"; exit 77; }
here=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/artifs-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# The inner makes build this copy as a fresh machine would, whatever make runs this test
# (make asan passes BUILD= and flags down through MAKEFLAGS).
# make exports its command-line variables into the environment, too.
unset MAKEFLAGS MAKELEVEL MFLAGS MAKEOVERRIDES BUILD OPTFLAGS EXTRA_LDFLAGS CFLAGS LDFLAGS \
	LDLIBS CC DEV
mkdir -p "$T/src" "$T/bin"
tar -C "$here" -c Makefile backends meta fs tools | tar -C "$T/src" -x
real_pc=$(command -v pkg-config)
cat >"$T/bin/pkg-config" <<EOF
#!/bin/sh
[ -e "$T/installed" ] || exit 1
exec "$real_pc" "\$@"
EOF
cat >"$T/bin/dpkg-query" <<'EOF'
#!/bin/sh
exit 1
EOF
cat >"$T/bin/apt-get" <<EOF
#!/bin/sh
echo "apt-get \$*" >>"$T/apt.log"
case "\$1" in install) : >"$T/installed" ;; esac
EOF
cat >"$T/bin/sudo" <<'EOF'
#!/bin/sh
exec "$@"
EOF
chmod +x "$T/bin/"*

# The fake really hides the flags: without the marker the build cannot find fuse_lowlevel.h.
PATH=$T/bin:$PATH make -C "$T/src" -s all >"$T/nodeps.out" 2>&1 &&
	fail "the build worked without deps: the fake pkg-config hides nothing"
[ ! -e "$T/src/build/artifs" ] || fail "test set-up: a binary without flags"
grep -q "make deps" "$T/nodeps.out" ||
	fail "no hint to run make deps when pkg-config fails: $(tail -3 "$T/nodeps.out")"
rm -rf "$T/src/build"

# One invocation, also in parallel: deps installs, then the build asks pkg-config.
PATH=$T/bin:$PATH make -C "$T/src" -j2 deps all >"$T/out" 2>&1 ||
	fail "make deps all failed in one go: $(tail -5 "$T/out")"
grep -q '^apt-get install' "$T/apt.log" || fail "deps did not call apt-get install"
[ -x "$T/src/build/artifs" ] || fail "no build/artifs after make deps all"
"$T/src/build/artifs" --version >/dev/null || fail "the binary does not run"
echo "ok"
