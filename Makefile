# artifs: one plain Makefile. `make` builds build/artifs, `make test` installs what the tests
# need (make deps), then runs the unit and integration tests. Overrides go in config.mk.
-include config.mk

PREFIX ?= /usr/local
SBINDIR ?= /sbin
BUILD ?= build
CC ?= cc
PKGS = fuse3 lmdb libzstd libcrypto jansson libcurl expat
DEPS_APT = build-essential pkg-config libfuse3-dev fuse3 liblmdb-dev libzstd-dev libssl-dev \
	libjansson-dev libcurl4-openssl-dev libexpat1-dev libcriterion-dev attr rsync \
	python3 tar coreutils procps util-linux graphviz

# pkg-config is asked when a recipe first needs the flags, not when this file is read, so that
# `make deps all` builds in one go on a fresh machine; once asked, the answer is kept.
pkg_flags = $(or $(shell pkg-config $1 $(PKGS) 2>/dev/null),$(error pkg-config does not know \
	all of $(PKGS): 'make deps' installs them))
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(call pkg_flags,--cflags))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $$(call pkg_flags,--libs))$(PKG_LIBS)

OPTFLAGS ?= -O2 -g
ALL_CFLAGS = $(OPTFLAGS) -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2 -Wno-format-truncation \
	-D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -MMD -MP $(PKG_CFLAGS)
ifeq ($(DEV),1)
ALL_CFLAGS += -Werror
endif
ALL_CFLAGS += $(CFLAGS)
LDLIBS += $(PKG_LIBS) -lpthread
LDFLAGS += $(EXTRA_LDFLAGS)
export ASAN_OPTIONS ?= detect_leaks=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1

LIB_SRC := $(wildcard backends/*.c meta/*.c fs/*.c)
TOOL_SRC := $(wildcard tools/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test unit check asan install deps clean bench soak

all: $(BUILD)/artifs

# With deps among the goals, nothing is compiled before it ran (make -j included).
$(LIB_OBJ) $(TOOL_OBJ) $(UNIT_BIN): | $(filter deps,$(MAKECMDGOALS))

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libartifs.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/artifs: $(TOOL_OBJ) $(BUILD)/libartifs.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libartifs.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libartifs.a $(LDLIBS) -lcriterion

# Installs every build and test dependency from Debian's packages; a no-op when present.
deps:
	@missing=""; for p in $(DEPS_APT); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends $$missing; \
	fi

# test_s3 runs its contract suite against a real Ceph RGW that tests/s3 starts on loopback;
# tests/lint/layers.py first checks that the files of fs/ call each other in no cycle.
unit: $(UNIT_BIN)
	tests/lint/layers.py $(BUILD)
	@fail=0; for t in $(UNIT_BIN); do echo "== $$t"; \
		case $$t in *test_s3) tests/s3/with-server.sh $$t --jobs 2 || fail=1 ;; \
		*) $$t --jobs 2 || fail=1 ;; esac; done; exit $$fail

# The integration suite on a local store, then the local-store scenarios again on S3.
check: $(BUILD)/artifs
	ARTIFS_BIN=$(abspath $(BUILD)/artifs) tests/integration/run.sh
	ARTIFS_BIN=$(abspath $(BUILD)/artifs) ARTIFS_TEST_STORE=s3 tests/integration/run.sh

# The README's test command: dependencies, build, unit tests, integration tests.
test: deps
	$(MAKE) all $(UNIT_BIN)
	$(MAKE) unit
	$(MAKE) check

asan: deps
	$(MAKE) BUILD=build-asan OPTFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" all unit check

# The bench suite (tests/bench/run.sh, docs/benchmarks.md): artifs next to native, passthrough
# FUSE, s3fs and rclone, interleaved in one run, one table; never fails on speed. QUICK=1: every
# scenario at small sizes (< 2 min). Root.
bench: $(BUILD)/artifs
	ARTIFS_BIN=$(abspath $(BUILD)/artifs) QUICK=$(QUICK) tests/bench/run.sh

# Long randomized runs: the model-based test over many seeds and thousands of operations,
# with kill -9, remount and rebuild checks (tests/model/README.md; SOAK_* variables).
soak: $(BUILD)/artifs
	ARTIFS_BIN=$(abspath $(BUILD)/artifs) tests/model/soak.sh
	GC_ROUNDS=$${GC_ROUNDS:-400} GC_SEEDS="$${GC_SEEDS:-1 2 3 4 5 6}" \
		ARTIFS_BIN=$(abspath $(BUILD)/artifs) bash tests/integration/645-gc-hosts.sh

# libFuzzer targets for the store-facing parsers (docs/fuzz.md); FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	FUZZ_OUT=$(abspath $(BUILD))/fuzz tests/fuzz/run.sh $(FUZZ_SECONDS)

# mount(8) looks for mount.<type> in /sbin: SBINDIR puts the helper link there.
# The man pages, made from the binary's --help (tools/mkman.sh): artifs.1 and mount.artifs.8.
$(BUILD)/man/artifs.1: $(BUILD)/artifs tools/mkman.sh
	sh tools/mkman.sh $(BUILD)/artifs $(BUILD)/man

install: $(BUILD)/artifs $(BUILD)/man/artifs.1
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SBINDIR)
	install -m 755 $(BUILD)/artifs $(DESTDIR)$(PREFIX)/bin/artifs
	ln -sf $(PREFIX)/bin/artifs $(DESTDIR)$(SBINDIR)/mount.artifs
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 644 tools/artifs-completion.bash \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/artifs
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 644 $(BUILD)/man/artifs.1 $(DESTDIR)$(PREFIX)/share/man/man1/artifs.1
	install -m 644 $(BUILD)/man/mount.artifs.8 $(DESTDIR)$(PREFIX)/share/man/man8/mount.artifs.8

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d)
