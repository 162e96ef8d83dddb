# attsr build. `make` builds build/attsr, build/libattsr.a and build/libattsr.so;
# `make test` builds and runs the test suite (see tests/run.sh).
#
# Layout: src/<part>/*.c are globbed, so adding a file needs no edit here.
#   core  -> image -> nn -> model -> train -> api -> cli   (data flows one way)

CC      ?= cc
BUILD   ?= build
OPT     ?= -O3 -march=native
SAN     ?=
MPI     ?= 0
CFLAGS  += -std=gnu11 $(OPT) -g -Wall -Wextra -Wno-unused-parameter -fopenmp -fPIC \
           -Iinclude -Isrc $(SAN)
LDLIBS  += -ldnnl -lpng -ljpeg -lwebp -lwebpdemux -lwebpmux -ltiff -lstb -ljansson -lm -lpthread
LDFLAGS += -fopenmp $(SAN)

# MPI=1: data-parallel training under mpirun (src/train/dist.c), compiled and linked by
# the MPI compiler wrapper. Without it the same sources build with no MPI at all.
ifeq ($(MPI),1)
CC      := mpicc
CFLAGS  += -DATTSR_MPI
MPI_LIBS = $(shell mpicc --showme:link 2>/dev/null)
endif

# Every object depends on a stamp named after the compiler and flags, so switching
# (make, then make MPI=1, or another OPT) in one BUILD rebuilds instead of mixing.
STAMP   := $(BUILD)/.flags-$(shell printf '%s' '$(CC) $(CFLAGS) $(LDFLAGS) $(LDLIBS)' | md5sum | cut -c1-12)

LIB_SRC := $(wildcard src/core/*.c src/image/*.c src/nn/*.c src/model/*.c \
                      src/train/*.c src/api/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
EX_SRC  := $(wildcard examples/*.c)
BENCH_SRC := $(wildcard bench/*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
EXAMPLES := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test clean bench
all: $(BUILD)/attsr $(BUILD)/libattsr.a $(BUILD)/libattsr.so $(BUILD)/attsr.pc $(TESTS) $(EXAMPLES)

$(STAMP):
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/.flags-*
	@touch $@

$(BUILD)/%.o: %.c $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The protocol's arithmetic (MATLAB's bicubic, PSNR/SSIM) must round as the double
# reference does: no fused multiply-adds, whatever FMA the CPU has, so an 8-bit LR value
# that lands on a rounding tie goes the same way on every machine.
$(BUILD)/src/image/resize.o $(BUILD)/src/image/metrics.o: CFLAGS += -ffp-contract=off

$(BUILD)/libattsr.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libattsr.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/attsr.pc: attsr.pc.in $(STAMP)
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(abspath $(BUILD))|' -e 's|@MPI_LIBS@|$(MPI_LIBS)|' $< > $@

$(BUILD)/attsr: $(CLI_OBJ) $(BUILD)/libattsr.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h tests/fixture_st.h tests/step_state.h $(BUILD)/libattsr.a $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libattsr.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libattsr.a $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libattsr.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libattsr.a $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libattsr.a $(LDFLAGS) $(LDLIBS)

bench: $(BENCHES)

test: all
	bash tests/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
