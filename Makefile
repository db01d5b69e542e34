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
#   make testapp              the static test app used by the e2e lab
#   make image                the local Docker image berth-proxy:$(BERTH_VERSION)
#   make hello                the sample app (examples/hello) that make demo deploys

# The version, in one place: C reads it as BERTH_VERSION, images are tagged with it.
BERTH_VERSION := $(shell cat VERSION)

CC       ?= cc
CLANG    ?= clang
PKGS     := jansson yaml-0.1 libcrypto
CFLAGS   ?= -O2 -g
# -ffile-prefix-map keeps the checkout's path out of the objects: the same
# source gives the same binary (and berth-proxy image layer) wherever it is built.
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -DBERTH_VERSION='"$(BERTH_VERSION)"' -I. -Ilib \
	-ffile-prefix-map=$(CURDIR)=. $(CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -ljansson -lyaml -lcrypto) -lm

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
CORE_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(CORE_SRCS))
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

.PHONY: all deps test unit e2e fuzz fuzz-smoke format testapp image hello clean demo bench-proxy bench-deploy
all: deps $(BINS)

deps:
	@scripts/install-deps --build

bin/berth: $(CLI_OBJS) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(CORE_LIB) $(LDLIBS)

bin/berth-proxy: $(BUILD)/proxy/main.o $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/proxy/main.o $(CORE_LIB) $(LDLIBS)

$(CORE_LIB): $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

# Every object that reads BERTH_VERSION is rebuilt when it changes.
VERSION_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(shell grep -l BERTH_VERSION $(CORE_SRCS) $(CLI_SRCS) proxy/main.c 2>/dev/null))
$(VERSION_OBJS): VERSION

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests/unit -o $@ $< $(CORE_LIB) $(LDLIBS)

unit-bins: $(UNIT_BINS)

# Fuzz targets: the core is compiled once with coverage instrumentation
# (fuzzer-no-link) and every target links against it with clang's libFuzzer.
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -DBERTH_VERSION='"$(BERTH_VERSION)"' -I. -Ilib -g -O1 -fsanitize=address,undefined
FUZZ_OBJS   := $(patsubst %.c,build-fuzz/obj/%.o,$(CORE_SRCS))
build-fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
build-fuzz/libberth-fuzz.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^
build-fuzz/%: tests/fuzz/%.c build-fuzz/libberth-fuzz.a
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build-fuzz/libberth-fuzz.a $(LDLIBS)

fuzz: $(FUZZ_BINS)

testapp: $(BUILD)/testapp
$(BUILD)/testapp: tests/fixtures/testapp/testapp.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -static -o $@ $< -lpthread

# berth-proxy:$(BERTH_VERSION) in the local dockerd, FROM scratch; rebuilt only
# when the binary, its libraries or the Dockerfile changed.
image: bin/berth-proxy
	@scripts/make-image bin/berth-proxy $(BERTH_VERSION)

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

demo:
	@scripts/install-deps
	@$(MAKE) -s all testapp
	@scripts/demo

clean:
	rm -rf build build-san build-fuzz bin examples/hello/hello

-include $(CORE_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(BUILD)/proxy/main.d $(FUZZ_OBJS:.o=.d)
