# ci-tools: small C tools for structured, correlated CI pipeline logs.
# make [all] | demo | check | lint | sanitize | bench | deps | install | uninstall | clean

VERSION = 0.1.0
PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
SHAREDIR = $(PREFIX)/share/ci-tools
B ?= build

CC ?= cc
CFLAGS ?= -O2 -g
# The project's flags come after the user's, and -w and -Wno-* are dropped
# from CFLAGS, so that a user's CFLAGS cannot switch the warnings off.
CI_CFLAGS = -std=c11 -D_GNU_SOURCE -DCI_VERSION='"$(VERSION)"' \
	-Wall -Wextra -Wpedantic -Wshadow -Werror
ALL_CFLAGS = $(filter-out -w -Wno-%,$(CFLAGS)) $(CI_CFLAGS)

# A tool is one file, tools/ci-NAME.c, or a folder of them, tools/ci-NAME/
# (*.c and its own headers, *.h).
TOOLS = $(sort $(patsubst tools/%.c,%,$(wildcard tools/ci-*.c)) \
	$(patsubst tools/%/,%,$(wildcard tools/ci-*/)))
src = $(wildcard tools/$(1).c tools/$(1)/*.c)
BINS = $(TOOLS:%=$(B)/%)
LIBSRC = $(sort $(wildcard lib/*.c))

# Libraries each tool links beyond lib/ (pkg-config names). Only ci-deploy
# links libgit2, and ci-runid and ci-log link nothing, so they start fast.
PKGS_ci-runid =
PKGS_ci-log =
PKGS_ci-step = libcjson
PKGS_ci-testpar = libcjson expat
PKGS_ci-deploy = libcjson libgit2
PKGS_ci-report = libcjson
pkg = $(if $(PKGS_$(1)),$(shell pkg-config $(2) $(PKGS_$(1))))

all: $(BINS)

$(B)/lib/%.o: lib/%.c lib/ci.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libci.a: $(LIBSRC:lib/%.c=$(B)/lib/%.o)
	rm -f $@
	$(AR) rcs $@ $^

.SECONDEXPANSION:
$(B)/ci-%: $$(call src,ci-$$*) $$(wildcard tools/ci-$$*/*.h) $(B)/libci.a lib/ci.h
	$(CC) $(ALL_CFLAGS) $(call pkg,ci-$*,--cflags) -Ilib -o $@ \
		$(call src,ci-$*) $(B)/libci.a $(LDFLAGS) $(call pkg,ci-$*,--libs)

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
	clang-format --dry-run --Werror lib/*.[ch] $(wildcard tools/*.c tools/*/*.[ch])
	mandoc -Tlint -Wwarning man/*.1 man/*.7
	bash -n scripts/lib/ci.sh scripts/local-ci/run.sh
	sh -n scripts/deps.sh

check: deps
	@$(MAKE) --no-print-directory all
	@CI_BUILD=$(abspath $(B)) tests/run.sh

sanitize: deps
	@$(MAKE) --no-print-directory all B=build-sanitize \
		CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
	@CI_BUILD=$(abspath build-sanitize) ASAN_OPTIONS=detect_leaks=1 tests/run.sh

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(SHAREDIR)
	cp $(BINS) $(DESTDIR)$(BINDIR)/
	cp $(TOOLS:%=man/%.1) $(DESTDIR)$(MANDIR)/man1/
	cp man/ci-tools.7 $(DESTDIR)$(MANDIR)/man7/
	cp scripts/lib/ci.sh $(DESTDIR)$(SHAREDIR)/ci.sh
	cp contracts/lnav-ci-tools.json $(DESTDIR)$(SHAREDIR)/

uninstall:
	rm -f $(TOOLS:%=$(DESTDIR)$(BINDIR)/%) $(TOOLS:%=$(DESTDIR)$(MANDIR)/man1/%.1)
	rm -f $(DESTDIR)$(MANDIR)/man7/ci-tools.7 $(DESTDIR)$(SHAREDIR)/ci.sh \
		$(DESTDIR)$(SHAREDIR)/lnav-ci-tools.json
	-rmdir $(DESTDIR)$(SHAREDIR)

clean:
	rm -rf build build-sanitize

.PHONY: all bench check demo lint sanitize deps install uninstall clean
