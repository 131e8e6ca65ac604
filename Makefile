# Echo: `make run` starts it, `make test` runs every test. See README.md.
PREFIX ?= /usr/local
DESTDIR ?=
# Build configuration `make install` installs (the tests install debug builds into a DESTDIR).
CONFIG ?= release
SYSTEMD_DIR ?= /etc/systemd/system

.PHONY: run test build release bench install deps clean-test chaos fuzz fuzz-parser

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

deps:
	bash scripts/install-deps.sh

build:
	swift build

release:
	bash scripts/install-deps.sh
	swift build -c release --product echo
	swift build -c release --product echo-worker

# Release build, then `echo-bench suite`: S1–S5 against a private Redis and echo, writes BENCHMARKS.md.
# BENCH_QUICK=1 for a short version, BENCH_ONLY=S1,S4 for some scenarios (docs/benchmarks.md).
bench:
	bash scripts/bench.sh

# Fault injection under accounting clients, then 10 minutes of fuzzing: writes docs/RELIABILITY.md.
# CHAOS_QUICK=1 for a short version.
chaos:
	bash scripts/chaos.sh

fuzz:
	bash scripts/fuzz.sh

# libFuzzer + AddressSanitizer on ClientRequest.parse (Fuzz/, its own .build-fuzz scratch path).
fuzz-parser:
	bash scripts/fuzz-parser.sh

install:
	bash scripts/install-deps.sh
	swift build -c $(CONFIG) --product echo
	swift build -c $(CONFIG) --product echo-worker
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/echo/web $(DESTDIR)$(PREFIX)/share/doc/echo \
		$(DESTDIR)$(SYSTEMD_DIR) $(DESTDIR)/etc/echo
	install -m 0755 .build/$(CONFIG)/echo .build/$(CONFIG)/echo-worker $(DESTDIR)$(PREFIX)/bin/
	cp -R web/. $(DESTDIR)$(PREFIX)/share/echo/web/
	install -m 0644 docs/operations.md docs/protocol.md docs/security.md $(DESTDIR)$(PREFIX)/share/doc/echo/
	sed 's#/usr/local#$(PREFIX)#g' systemd/echo.service > $(DESTDIR)$(SYSTEMD_DIR)/echo.service
	install -m 0644 systemd/echo.socket $(DESTDIR)$(SYSTEMD_DIR)/echo.socket
	[ -f $(DESTDIR)/etc/echo/echo.env ] || install -m 0644 systemd/echo.env $(DESTDIR)/etc/echo/echo.env
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "Installed. Start with: systemctl enable --now echo"

clean-test:
	rm -rf .test-output
