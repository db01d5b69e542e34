# berth — build, test and tooling. GNU make.
#
#   make                      bin/berth (and the other binaries as they exist)
#   make DEVELOPER=1          warnings are errors
#   make SANITIZE=address,undefined
#                             sanitizer build, in its own build directory
#   make test                 unit, e2e and fuzz-smoke tests; ends with "N passed, N failed"
#   make unit | e2e | fuzz-smoke
#   make fuzz                 libFuzzer targets (clang)
#   make format               clang-format the tree
#   make testapp              the static test app used by the e2e lab, and the e2e fixtures
#   make image                the local Docker images berth-proxy:$(BERTH_VERSION),
#                             berth-backup:$(BERTH_VERSION) (restic, for berth backup) and
#                             berthd:$(BERTH_VERSION) (the server daemon, for bootstrap --daemon)
#   make hello                the sample app (examples/hello) that make demo deploys

# The version, in one place: C reads it as BERTH_VERSION, images are tagged with it.
BERTH_VERSION := $(shell cat VERSION)

CC       ?= cc
CLANG    ?= clang
PKGS     := jansson yaml-0.1 libcurl libssl libcrypto libnghttp2 zlib
CFLAGS   ?= -O2 -g
# -ffile-prefix-map keeps the checkout's path out of the objects: the same
# source gives the same binary (and berth-proxy image layer) wherever it is built.
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -DBERTH_VERSION='"$(BERTH_VERSION)"' -I. -Ilib \
	-ffile-prefix-map=$(CURDIR)=. $(CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -ljansson -lyaml -lcurl -lssl -lcrypto -lnghttp2 -lz) -lm -lpthread

ifeq ($(DEVELOPER),1)
ALL_CFLAGS += -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter \
	-Wstrict-prototypes -Wmissing-prototypes -Wvla
endif

BUILD ?= build
ifneq ($(SANITIZE),)
BUILD := build-san
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

LIB_SRCS    := $(wildcard lib/*.c)
ENGINE_SRCS := $(wildcard engine/*.c)
CLI_SRCS    := $(wildcard cli/*.c)
# proxy/main.c holds berth-proxy's main(); the rest of proxy/ is library code
# that unit tests and fuzz targets link too.
PROXY_MAIN  := $(wildcard proxy/main.c)
PROXY_SRCS  := $(filter-out proxy/main.c,$(wildcard proxy/*.c))
CORE_SRCS   := $(LIB_SRCS) $(ENGINE_SRCS) $(PROXY_SRCS)
# daemon/main.c holds berthd's main(); the rest of daemon/ is its library, apart
# from the core so that only berthd (and tests) link SQLite.
DAEMON_MAIN := $(wildcard daemon/main.c)
DAEMON_SRCS := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
# berthd's one-click app templates, embedded as C strings (daemon/oneclick.h).
TEMPLATE_SRCS := $(wildcard daemon/templates/*.yml)
# The panel's assets (web/), embedded whole as C strings (daemon/panel.h).
WEB_SRCS := $(wildcard web/*.css web/*.js web/*.svg)
DAEMON_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(DAEMON_SRCS)) $(BUILD)/gen/templates.o \
	$(BUILD)/gen/web.o
DAEMON_LIB  := $(BUILD)/libberthd.a
DAEMON_LDLIBS := $(shell pkg-config --libs sqlite3 2>/dev/null || echo -lsqlite3) -largon2
# The shell scripts run on hosts, embedded as C strings (engine/scripts.h).
SCRIPT_SRCS := $(wildcard engine/scripts/*.sh)
CORE_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(CORE_SRCS)) $(BUILD)/gen/scripts.o
CLI_OBJS    := $(patsubst %.c,$(BUILD)/%.o,$(CLI_SRCS))
CORE_LIB    := $(BUILD)/libberth.a

UNIT_SRCS   := $(wildcard tests/unit/test-*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRCS))

BINS := bin/berth
ifneq ($(PROXY_MAIN),)
BINS += bin/berth-proxy
endif
ifneq ($(DAEMON_MAIN),)
BINS += bin/berthd
endif

.PHONY: all deps test unit e2e fuzz fuzz-smoke format testapp image hello clean demo bench-proxy bench-deploy bench-backup-postgres bench-push bench-panel
all: deps $(BINS)

deps:
	@scripts/install-deps --build

bin/berth: $(CLI_OBJS) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(CORE_LIB) $(LDLIBS)

bin/berth-proxy: $(BUILD)/proxy/main.o $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/proxy/main.o $(CORE_LIB) $(LDLIBS)

bin/berthd: $(BUILD)/daemon/main.o $(DAEMON_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/daemon/main.o $(DAEMON_LIB) $(CORE_LIB) $(LDLIBS) $(DAEMON_LDLIBS)

$(CORE_LIB): $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(DAEMON_LIB): $(DAEMON_OBJS)
	@rm -f $@
	ar rcs $@ $^

# Every object that reads BERTH_VERSION is rebuilt when it changes.
VERSION_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(shell grep -l BERTH_VERSION $(CORE_SRCS) $(CLI_SRCS) proxy/main.c $(wildcard daemon/*.c) 2>/dev/null))
$(VERSION_OBJS): VERSION

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/gen/scripts.c: scripts/gen-scripts $(SCRIPT_SRCS)
	@mkdir -p $(@D)
	scripts/gen-scripts script_files $@ $(SCRIPT_SRCS)
$(BUILD)/gen/scripts.o: $(BUILD)/gen/scripts.c engine/scripts.h
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/gen/templates.c: scripts/gen-scripts $(TEMPLATE_SRCS)
	@mkdir -p $(@D)
	GEN_PREFIX=template_ scripts/gen-scripts oneclick_template_files $@ $(TEMPLATE_SRCS)
$(BUILD)/gen/templates.o: $(BUILD)/gen/templates.c engine/scripts.h
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/gen/web.c: scripts/gen-scripts $(WEB_SRCS)
	@mkdir -p $(@D)
	GEN_PREFIX=web_ GEN_KEEP_HEADER=1 scripts/gen-scripts panel_asset_files $@ $(WEB_SRCS)
$(BUILD)/gen/web.o: $(BUILD)/gen/web.c engine/scripts.h
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(DAEMON_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests/unit -o $@ $< $(DAEMON_LIB) $(CORE_LIB) $(LDLIBS) $(DAEMON_LDLIBS)

# The generator's own test embeds scripts of its own, with bytes that need escaping.
$(BUILD)/gen/test-scripts.c: scripts/gen-scripts $(wildcard tests/unit/scripts/*.sh)
	@mkdir -p $(@D)
	scripts/gen-scripts test_script_files $@ $(wildcard tests/unit/scripts/*.sh)
# ... and the same files whole (GEN_KEEP_HEADER=1, as web/ is embedded).
$(BUILD)/gen/test-whole.c: scripts/gen-scripts $(wildcard tests/unit/scripts/*.sh)
	@mkdir -p $(@D)
	GEN_PREFIX=whole_ GEN_KEEP_HEADER=1 scripts/gen-scripts test_whole_files $@ \
		$(wildcard tests/unit/scripts/*.sh)
$(BUILD)/tests/test-scripts: tests/unit/test-scripts.c tests/unit/unit.h $(BUILD)/gen/test-scripts.c \
		$(BUILD)/gen/test-whole.c $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests/unit -o $@ $< $(BUILD)/gen/test-scripts.c \
		$(BUILD)/gen/test-whole.c $(CORE_LIB) $(LDLIBS)

# Unit tests that include a command's .c file whole are rebuilt when it changes.
$(BUILD)/tests/test-alias: cli/alias.c cli/cli.h
$(BUILD)/tests/test-release: daemon/release.c daemon/release.h

unit-bins: $(UNIT_BINS)

# Fuzz targets: the core is compiled once with coverage instrumentation
# (fuzzer-no-link) and every target links against it with clang's libFuzzer.
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -DBERTH_VERSION='"$(BERTH_VERSION)"' -I. -Ilib -g -O1 -fsanitize=address,undefined
FUZZ_OBJS   := $(patsubst %.c,build-fuzz/obj/%.o,$(CORE_SRCS) $(DAEMON_SRCS)) build-fuzz/obj/gen/scripts.o \
	build-fuzz/obj/gen/templates.o build-fuzz/obj/gen/web.o
build-fuzz/obj/gen/scripts.o: $(BUILD)/gen/scripts.c engine/scripts.h
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -c -o $@ $<
build-fuzz/obj/gen/templates.o: $(BUILD)/gen/templates.c engine/scripts.h
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -c -o $@ $<
build-fuzz/obj/gen/web.o: $(BUILD)/gen/web.c engine/scripts.h
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -c -o $@ $<
build-fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
build-fuzz/libberth-fuzz.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^
build-fuzz/%: tests/fuzz/%.c build-fuzz/libberth-fuzz.a
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build-fuzz/libberth-fuzz.a $(LDLIBS) $(DAEMON_LDLIBS)

fuzz: $(FUZZ_BINS)

testapp: $(BUILD)/testapp $(BUILD)/acme-driver $(BUILD)/sftp-driver $(BUILD)/release-driver
$(BUILD)/testapp: tests/fixtures/testapp/testapp.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -static -o $@ $< -lpthread

# The ACME e2e test's driver: the ACME manager plus the data plane's part in challenges.
$(BUILD)/acme-driver: tests/fixtures/acme-driver/acme-driver.c $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(CORE_LIB) $(LDLIBS)

# The SFTP e2e test's driver: engine/sftp's operations from the shell.
$(BUILD)/sftp-driver: tests/fixtures/sftp-driver.c $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(CORE_LIB) $(LDLIBS)

# berthd's release e2e test's driver: a pushed revision built and deployed (daemon/push, release).
$(BUILD)/release-driver: tests/fixtures/release-driver.c $(DAEMON_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(DAEMON_LIB) $(CORE_LIB) $(LDLIBS) $(DAEMON_LDLIBS)

# berth-proxy:$(BERTH_VERSION), berth-backup:$(BERTH_VERSION) and
# berthd:$(BERTH_VERSION) in the local dockerd, FROM scratch; each rebuilt only
# when what goes into it (binaries, their libraries, the Dockerfile) changed.
image: bin/berth-proxy bin/berthd
	@scripts/make-image bin/berth-proxy $(BERTH_VERSION)
	@scripts/make-backup-image $(BERTH_VERSION)
	@scripts/make-berthd-image $(BERTH_VERSION) bin/berthd

test:
	@scripts/install-deps
	@tests/run

unit:
	@tests/run unit
e2e:
	@tests/run e2e
fuzz-smoke:
	@tests/run fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

hello:
	@$(MAKE) -s -C examples/hello CC=$(CC)

bench-proxy: ; @bench/proxy/run
bench-deploy: ; @bench/deploy/run
bench-push: ; @bench/push/run
bench-backup-postgres: ; @bench/backup-postgres/run
bench-panel: ; @bench/panel/run

demo:
	@scripts/install-deps
	@$(MAKE) -s all testapp
	@scripts/demo

clean:
	rm -rf build build-san build-fuzz bin examples/hello/hello

-include $(CORE_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(DAEMON_OBJS:.o=.d) $(BUILD)/proxy/main.d $(BUILD)/daemon/main.d $(FUZZ_OBJS:.o=.d)
