# ci-tools: small C tools for structured, correlated CI pipeline logs.
# make [all] | demo | check | check-busy | lint | sanitize | fuzz | bench |
# deps | install | uninstall | clean

VERSION = 0.1.0
PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
SHAREDIR = $(PREFIX)/share/ci-tools
# Bash loadables: Debian's bash looks in $(PREFIX)/lib/bash for /usr/local.
BASHLIBDIR = $(PREFIX)/lib/bash
B ?= build

CC ?= cc
CFLAGS ?= -O2 -g
# The project's flags come after the user's, and -w and -Wno-* are dropped
# from CFLAGS, so that a user's CFLAGS cannot switch the warnings off.
CI_CFLAGS = -std=c11 -D_GNU_SOURCE -DCI_VERSION='"$(VERSION)"' \
	-Wall -Wextra -Wpedantic -Wshadow -Werror
ALL_CFLAGS = $(filter-out -w -Wno-%,$(CFLAGS)) $(CI_CFLAGS)

# A tool is one file, tools/ci-NAME.c, a folder of them, tools/ci-NAME/
# (*.c and its own headers, *.h), or a script, tools/ci-NAME.sh.
TOOLS = $(sort $(patsubst tools/%.c,%,$(wildcard tools/ci-*.c)) \
	$(patsubst tools/%/,%,$(wildcard tools/ci-*/)) $(SCRIPTS))
SCRIPTS = $(patsubst tools/%.sh,%,$(wildcard tools/ci-*.sh))
src = $(wildcard tools/$(1).c tools/$(1)/*.c)
BINS = $(TOOLS:%=$(B)/%)
# lib/, a piece a line by layer, with the tools that link it (ci_sh: the
# shell library's builtin; all: every tool and ci_sh).
# Base:
LIB  = buf      # byte buffers, JSON strings: all
LIB += err      # messages with the program's name, stdout discipline: all
LIB += num      # numbers from the command line: all but ci-report
LIB += time     # UTC timestamps, the one ISO-8601 parser: all but ci-runid
LIB += file     # atomic replacement: ci-log ci-step ci-testpar ci-deploy ci_sh
LIB += proc     # process groups, signals: ci-step ci-testpar
LIB += lines    # bounded line splitting: ci-log ci-step ci-testpar
# Writing entries:
LIB += runid    # run ids: all
LIB += mask     # CI_MASK secrets as ***: all
LIB += diag     # compiler diagnostics: ci-log ci-step ci-testpar ci-deploy ci_sh
LIB += entry    # the entry writer, one write(): ci-log ci-step ci-testpar ci-deploy ci_sh
LIB += github   # GITHUB_ENV, GITHUB_OUTPUT: ci-runid ci-step ci-testpar
LIB += trace    # W3C trace context ids: ci-runid ci-step ci-report
# Reading logs back:
LIB += ndjson   # NDJSON in large blocks: ci-step ci-report
LIB += logcheck # the schema's rules, JSON shapes: ci-step ci-deploy ci-report
LIB += outcome  # a completion's outcome: ci-step ci-testpar ci-report
LIB += cases    # a suite attempt's test cases: ci-step ci-testpar ci-report
LIB += runs     # runs, steps, attempts from entries: ci-step ci-testpar ci-report
LIB += readlog  # the one log reader: ci-step ci-report
LIBSRC = $(LIB:%=lib/%.c)
ifneq ($(filter-out $(LIBSRC),$(wildcard lib/*.c)),)
$(error lib/ has pieces the list above does not name: $(filter-out $(LIBSRC),$(wildcard lib/*.c)))
endif

# Libraries each tool links beyond lib/ (pkg-config names). Only ci-deploy
# links libgit2, and ci-runid and ci-log link nothing, so they start fast.
PKGS_ci-runid =
PKGS_ci-log =
PKGS_ci-step = libcjson
PKGS_ci-testpar = libcjson expat
PKGS_ci-deploy = libcjson libgit2
PKGS_ci-report = libcjson
# The shell library's builtins (tools/ci_sh.c): a bash loadable object,
# built against the headers of Debian's bash-builtins (BASH_INC) and lib/
# compiled again as position-independent code, never with sanitizers (bash
# itself is not built with them). Skipped, with a notice, without the headers.
BASH_INC ?= /usr/include/bash
SO = $(if $(wildcard $(BASH_INC)/builtins.h),$(B)/ci_sh.so)
SO_CFLAGS = $(filter-out -fsanitize%,$(ALL_CFLAGS)) -fPIC -fvisibility=hidden

pkg = $(if $(PKGS_$(1)),$(shell pkg-config $(2) $(PKGS_$(1))))

all: $(BINS) $(SO)
ifeq ($(SO),)
	@echo "make: no $(BASH_INC)/builtins.h (Debian package bash-builtins): the library's builtin ci_sh.so skipped" >&2
endif

$(B)/lib/%.o: lib/%.c lib/ci.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libci.a: $(LIBSRC:lib/%.c=$(B)/lib/%.o)
	rm -f $@
	$(AR) rcs $@ $^

$(SCRIPTS:%=$(B)/%): $(B)/%: tools/%.sh
	@mkdir -p $(@D)
	sed 's/@VERSION@/$(VERSION)/' $< > $@.tmp && chmod +x $@.tmp && mv $@.tmp $@

.SECONDEXPANSION:
$(B)/ci-%: $$(call src,ci-$$*) $$(wildcard tools/ci-$$*/*.h) $(B)/libci.a lib/ci.h
	$(CC) $(ALL_CFLAGS) $(call pkg,ci-$*,--cflags) -Ilib -o $@ \
		$(call src,ci-$*) $(B)/libci.a $(LDFLAGS) $(call pkg,ci-$*,--libs) -lm

$(B)/pic/%.o: lib/%.c lib/ci.h
	@mkdir -p $(@D)
	$(CC) $(SO_CFLAGS) -c -o $@ $<

$(B)/libci-pic.a: $(LIBSRC:lib/%.c=$(B)/pic/%.o)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/ci_sh.so: tools/ci_sh.c $(B)/libci-pic.a lib/ci.h
	$(CC) $(SO_CFLAGS) -Ilib -isystem $(BASH_INC) -isystem $(BASH_INC)/include \
		-isystem $(BASH_INC)/builtins -shared -o $@ $< $(B)/libci-pic.a $(LDFLAGS)

# libFuzzer targets, fuzz/NAME.c, one per reader of outside input, and the
# tool whose files each links besides lib/, its main renamed (records
# includes tools/ci-log.c, for its static reader).
FUZZ = $(patsubst fuzz/%.c,%,$(wildcard fuzz/*.c))
FUZZ_TOOL_state = ci-deploy
FUZZ_TOOL_tap = ci-testpar
FUZZ_TOOL_junit = ci-testpar
FUZZ_TOOL_conf = ci-testpar
FUZZ_LDFLAGS_conf = -Wl,--wrap=exit
FUZZ_SECONDS = 10
FUZZ_CC = clang
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all
fuzz_tool = $(if $(FUZZ_TOOL_$(1)),$(call src,$(FUZZ_TOOL_$(1))))
fuzz_pkg = $(shell pkg-config $(2) libcjson $(PKGS_$(FUZZ_TOOL_$(1))))

$(B)/fuzz-%: fuzz/%.c $(wildcard tools/*.c tools/*/*.[ch]) $(B)/libci.a lib/ci.h
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -Dmain=ci_tool_main \
		$(call fuzz_pkg,$*,--cflags) -Ilib -o $@ $< $(call fuzz_tool,$*) \
		$(B)/libci.a $(LDFLAGS) $(FUZZ_LDFLAGS_$*) $(call fuzz_pkg,$*,--libs) -lm

deps:
	@sh scripts/deps.sh

# The main job: this repository's own pipeline, run with its own tools.
demo: deps
	@$(MAKE) -s --no-print-directory all
	@PATH="$(abspath $(B)):$$PATH" scripts/local-ci/run.sh --profile $(PROFILE)
PROFILE = dev

# Every bench/ script; one table of ratios in bench/results.md.
bench: all
	@bench/run.sh

lint:
	clang-format --dry-run --Werror lib/*.[ch] $(wildcard tools/*.c tools/*/*.[ch] fuzz/*.c)
	mandoc -Tlint -Wwarning man/*.1 man/*.7
	bash -n scripts/lib/ci.sh scripts/local-ci/run.sh tools/ci-*.sh
	sh -n scripts/deps.sh fuzz/run.sh

check: deps
	@$(MAKE) --no-print-directory all
	@CI_BUILD=$(abspath $(B)) tests/run.sh

# The suite again, with every processor kept busy and TERM=dumb: no test may
# depend on a quiet machine or on the caller's terminal.
check-busy: deps
	@$(MAKE) --no-print-directory all
	@CI_BUILD=$(abspath $(B)) tests/stress.sh

# The suite (or the bats files of SANITIZE_TESTS) against ASan/UBSan builds.
sanitize: deps
	@$(MAKE) --no-print-directory all B=build-sanitize \
		CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
	@CI_BUILD=$(abspath build-sanitize) ASAN_OPTIONS=detect_leaks=1 tests/run.sh $(SANITIZE_TESTS)

# Each fuzz target for FUZZ_SECONDS on its seeds, tests/fuzz/NAME/; fails
# on a crash, a leak or a sanitizer report (the input is kept in build-fuzz/).
fuzz:
	@sh fuzz/run.sh --probe $(FUZZ_CC)
	@$(MAKE) --no-print-directory B=build-fuzz CC=$(FUZZ_CC) \
		CFLAGS="-O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link" \
		$(FUZZ:%=build-fuzz/fuzz-%)
	@sh fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ)

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(SHAREDIR)
	cp $(BINS) $(DESTDIR)$(BINDIR)/
	cp $(TOOLS:%=man/%.1) $(DESTDIR)$(MANDIR)/man1/
	cp man/ci-tools.7 $(DESTDIR)$(MANDIR)/man7/
	cp scripts/lib/ci.sh $(DESTDIR)$(SHAREDIR)/ci.sh
	cp contracts/lnav-ci-tools.json $(DESTDIR)$(SHAREDIR)/
	$(if $(SO),mkdir -p $(DESTDIR)$(BASHLIBDIR) && cp $(SO) $(DESTDIR)$(BASHLIBDIR)/)

uninstall:
	rm -f $(TOOLS:%=$(DESTDIR)$(BINDIR)/%) $(TOOLS:%=$(DESTDIR)$(MANDIR)/man1/%.1)
	rm -f $(DESTDIR)$(MANDIR)/man7/ci-tools.7 $(DESTDIR)$(SHAREDIR)/ci.sh \
		$(DESTDIR)$(SHAREDIR)/lnav-ci-tools.json
	rm -f $(DESTDIR)$(BASHLIBDIR)/ci_sh.so
	-rmdir $(DESTDIR)$(SHAREDIR)
	-rmdir $(DESTDIR)$(BASHLIBDIR)

clean:
	rm -rf build build-sanitize build-fuzz

.PHONY: all bench check check-busy demo lint sanitize fuzz deps install \
	uninstall clean
