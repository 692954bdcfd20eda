# ds01 — front end for meson/ninja.  The real build description is meson.build.
#
#   make                  build build/ds01d, build/ds01, build/ds01-init (and the unit tests)
#   make install          install into $(DESTDIR)$(PREFIX) with the command symlinks, and the
#                         systemd unit ds01d.service where systemd runs (SYSTEMD_UNITDIR below)
#   make uninstall        remove what install put there
#   make up               (root) deps, build, install, dockerd, base image, start ds01d
#   make check            (root) deps, build, unit + integration tests in three passes (plain,
#                         ASan+UBSan, TSan); last line "N passed, N failed"
#   make check TESTS="loop quota"       the same with only those integration tests
#   make check-plain      (root) the plain pass only (DS01_CHECK_SANITIZE=0)
#   make test             unit tests only (meson test)
#   make format-check     clang-format --dry-run --Werror over src/ tests/unit/ fuzz/
#   make format           clang-format -i over the same files
#   make clang-check      clang's diagnostics (syntax only) over every C file build/ compiles
#   make mutation         (root) deliberate defects in a copy of the tree, each must fail a test
#                         (tests/mutation/README.md; not part of check; MUTATION_ARGS="04a --full")
#   make clean            remove build/

PREFIX    ?= /usr/local
DESTDIR   ?=
BUILDDIR  := build
MESON     ?= meson
NINJA     ?= ninja
MESONFLAGS ?=
CLANG_FORMAT ?= clang-format
# integration tests for check / check-plain (names as scripts/check.sh takes them; empty: all)
TESTS     ?=

SBINDIR    = $(DESTDIR)$(PREFIX)/sbin
BINDIR     = $(DESTDIR)$(PREFIX)/bin
LIBEXECDIR = $(DESTDIR)$(PREFIX)/libexec/ds01
# contrib/profile.d/ds01-docker.sh: users' `docker` uses ds01's Docker API endpoint
PROFILEDIR ?= /etc/profile.d

# Where install puts contrib/systemd/ds01d.service: /etc/systemd/system when systemd runs this
# machine (/run/systemd/system exists), else nowhere. SYSTEMD_UNITDIR=DIR installs it into
# $(DESTDIR)DIR anyway (a package build), SYSTEMD_UNITDIR= never. systemctl daemon-reload runs
# only when systemd runs and DESTDIR is empty.
SYSTEMD_UNITDIR ?= $(shell [ -d /run/systemd/system ] && echo /etc/systemd/system)
UNIT       = ds01d.service
SYSTEMD_RUNNING = [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]

# Names the multi-call ds01 answers to (argv[0] selects the command).
COMMANDS = container-deploy container-retire container-run container-attach container-start \
	   container-stop container-remove container-list container-logs container-stats \
	   container-keepalive container-port container-top check-limits image-create image-update image-list image-delete \
	   gpu-queue container

PROGRAMS = $(BUILDDIR)/ds01d $(BUILDDIR)/ds01 $(BUILDDIR)/ds01-init $(BUILDDIR)/ds01-cp

FORMAT_DIRS = src tests/unit fuzz

.PHONY: all build install uninstall up check check-plain test format-check format clang-check clean

all: build

$(BUILDDIR)/build.ninja:
	$(MESON) setup $(MESONFLAGS) $(BUILDDIR)

build: $(BUILDDIR)/build.ninja
	$(NINJA) -C $(BUILDDIR)

install: build
	install -d $(SBINDIR) $(BINDIR) $(LIBEXECDIR)
	install -m 0755 $(BUILDDIR)/ds01d $(SBINDIR)/ds01d
	install -m 0755 $(BUILDDIR)/ds01 $(BINDIR)/ds01
	install -m 0755 $(BUILDDIR)/ds01-init $(LIBEXECDIR)/ds01-init
	install -m 0755 $(BUILDDIR)/ds01-cp $(LIBEXECDIR)/ds01-cp
	cd $(BINDIR) && for c in $(COMMANDS); do ln -sfn ds01 $$c; done
	install -d $(DESTDIR)$(PROFILEDIR)
	install -m 0644 contrib/profile.d/ds01-docker.sh $(DESTDIR)$(PROFILEDIR)/ds01-docker.sh
ifneq ($(SYSTEMD_UNITDIR),)
	install -d $(DESTDIR)$(SYSTEMD_UNITDIR)
	sed 's|^ExecStart=/usr/local/sbin/ds01d|ExecStart=$(PREFIX)/sbin/ds01d|' \
		contrib/systemd/$(UNIT) >$(DESTDIR)$(SYSTEMD_UNITDIR)/$(UNIT).tmp
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNITDIR)/$(UNIT).tmp
	mv -f $(DESTDIR)$(SYSTEMD_UNITDIR)/$(UNIT).tmp $(DESTDIR)$(SYSTEMD_UNITDIR)/$(UNIT)
	if $(SYSTEMD_RUNNING); then systemctl daemon-reload; fi
endif

uninstall:
ifneq ($(SYSTEMD_UNITDIR),)
	if $(SYSTEMD_RUNNING) && [ -f $(SYSTEMD_UNITDIR)/$(UNIT) ]; then \
		systemctl disable --now $(UNIT) || true; fi
	rm -f $(DESTDIR)$(SYSTEMD_UNITDIR)/$(UNIT)
	if $(SYSTEMD_RUNNING); then systemctl daemon-reload; fi
endif
	rm -f $(SBINDIR)/ds01d $(BINDIR)/ds01 $(LIBEXECDIR)/ds01-init $(LIBEXECDIR)/ds01-cp
	rm -f $(DESTDIR)$(PROFILEDIR)/ds01-docker.sh
	-rmdir $(LIBEXECDIR) 2>/dev/null
	for c in $(COMMANDS); do \
		if [ -L $(BINDIR)/$$c ] && [ "$$(readlink $(BINDIR)/$$c)" = ds01 ]; then rm -f $(BINDIR)/$$c; fi; \
	done

up:
	bash scripts/up.sh

check:
	bash scripts/check.sh $(TESTS)

check-plain:
	DS01_CHECK_SANITIZE=0 bash scripts/check.sh $(TESTS)

test: build
	$(MESON) test -C $(BUILDDIR) --print-errorlogs

format-check:
	@files=$$(find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort); \
	if [ -z "$$files" ]; then echo "format-check: no files"; exit 0; fi; \
	$(CLANG_FORMAT) --dry-run --Werror $$files && \
	echo "format-check: $$(echo "$$files" | wc -l) files clean"

clang-check: build
	@bash scripts/clang-check.sh build

format:
	@files=$$(find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort); \
	[ -z "$$files" ] || $(CLANG_FORMAT) -i $$files

clean:
	rm -rf $(BUILDDIR)

.PHONY: mutation
mutation:
	bash tests/mutation/run.sh $(MUTATION_ARGS)
