# tests/fuzz/fuzz.mk - the libFuzzer harnesses, built with clang out of tree.
#
# scripts/fuzz runs it from the top of the source tree:
#     make -f tests/fuzz/fuzz.mk B=build/fuzz [build/fuzz/fuzz_TARGET ...]
# Every module of src/ except main.c is compiled with coverage
# instrumentation, ASan and UBSan into one archive; each harness links the archive, so it carries
# only the modules it reaches.  The gcc build in build/ is never reused:
# libFuzzer needs clang's instrumentation in every object.

B ?= build/fuzz
CC = clang
PKGS = libssl libcrypto libconfig libmemcached libmicrohttpd libcurl

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))

# The project's warning set (configure.ac), minus the gcc-only
# -Wduplicated-cond and -Wlogical-op.  clang's -Wformat=2 also flags a
# va_list handed on to vsnprintf (admin.c's libmicrohttpd logger), which
# gcc does not: -Wno-format-nonliteral keeps the two builds equal.
WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
	-Wcast-qual -Wwrite-strings -Wformat=2 -Wno-format-nonliteral -Wundef -Wvla \
	-Wimplicit-fallthrough -Wnull-dereference
SAN = -fsanitize=address,undefined -fno-sanitize-recover=all
CPPFLAGS = -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED -Isrc -Itests/fuzz
CFLAGS = -std=gnu11 -pthread -g -O1 -fno-omit-frame-pointer $(SAN) -fsanitize=fuzzer-no-link $(WARN)
LDFLAGS = -pthread $(SAN) -fsanitize=fuzzer

TARGETS = config mcreply sealed ticket clienthello admin proxy
LIB_SRCS = $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJS = $(patsubst src/%.c,$(B)/obj/%.o,$(LIB_SRCS))

all: $(addprefix $(B)/fuzz_,$(TARGETS))

$(B)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/obj/fuzz_%.o: tests/fuzz/fuzz_%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/libtessera-fuzz.a: $(LIB_OBJS)
	@rm -f $@
	ar cr $@ $^

$(B)/fuzz_%: $(B)/obj/fuzz_%.o $(B)/obj/fuzz_common.o $(B)/libtessera-fuzz.a
	$(CC) $^ $(LDFLAGS) $(PKG_LIBS) -o $@

.PHONY: all
.SECONDARY:

-include $(wildcard $(B)/obj/*.d)
