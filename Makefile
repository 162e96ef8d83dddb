# attsr build. `make` builds build/attsr, build/libattsr.a and build/libattsr.so;
# `make test` builds and runs the test suite (see tests/run.sh).
# `make install` (PREFIX=/usr/local, DESTDIR= for packagers) installs bin/attsr,
# lib/libattsr.so.* and .a, include/attsr.h, lib/pkgconfig/attsr.pc and the bundled
# models in share/attsr/models; `make uninstall` removes them.
#
# Layout: src/<part>/*.c are globbed, so adding a file needs no edit here.
#   core  -> image -> nn -> model -> train -> api -> cli   (data flows one way)

CC      ?= cc
BUILD   ?= build
OPT     ?= -O3 -march=native
SAN     ?=
MPI     ?= 0
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
MODELDIR = $(PREFIX)/share/attsr/models
# the library's version is attsr.h's; its soname carries the major number, and before
# 1.0 the minor too (0.x releases may break the ABI: libattsr.so.0.5)
VERSION := $(shell sed -n 's/^#define ATTSR_VERSION "\(.*\)"$$/\1/p' include/attsr.h)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
SOVER   := $(if $(filter 0,$(MAJOR)),$(MAJOR).$(word 2,$(subst ., ,$(VERSION))),$(MAJOR))
# -fvisibility=hidden: libattsr.so exports only what attsr.h marks ATTSR_API (the
# programs, tests included, link libattsr.a and see everything)
CFLAGS  += -std=gnu11 $(OPT) -g -Wall -Wextra -Wno-unused-parameter -fopenmp -fPIC -fvisibility=hidden \
           -Iinclude -Isrc $(SAN)
LDLIBS  += -ldnnl -lxsmm -lxsmmnoblas -lpng -ljpeg -lwebp -lwebpdemux -lwebpmux -ltiff -lstb -ljansson -lm -lpthread -ldl
LDFLAGS += -fopenmp $(SAN)

# MPI=1: data-parallel training under mpirun (src/train/dist.c), compiled and linked by
# the MPI compiler wrapper. Without it the same sources build with no MPI at all.
ifeq ($(MPI),1)
CC      := mpicc
CFLAGS  += -DATTSR_MPI
MPI_LIBS = $(shell mpicc --showme:link 2>/dev/null)
endif

# CUDA=1: the CUDA backend (src/nn/cuda/*.cu, compiled by nvcc) beside the CPU code;
# `nn_set_device(NN_CUDA)` then runs on the GPU. Without it no CUDA header, library or
# symbol is involved. CUDA_ARCH: the GPU generation to compile for (90: H100/H200),
# with its PTX, which newer GPUs compile at load time.
CUDA      ?= 0
CUDA_HOME ?= /usr/local/cuda
CUDA_ARCH ?= 90
NVCC      ?= $(CUDA_HOME)/bin/nvcc
ifeq ($(CUDA),1)
CFLAGS  += -DATTSR_CUDA
LDLIBS  += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcudart -lstdc++
NVFLAGS  = -std=c++17 -O3 -g -DATTSR_CUDA -Iinclude -Isrc -gencode arch=compute_$(CUDA_ARCH),code=[sm_$(CUDA_ARCH),compute_$(CUDA_ARCH)] \
           --default-stream per-thread -Xcompiler -fPIC,-fvisibility=hidden,-Wall,-Wextra
CUDA_SRC := $(wildcard src/nn/cuda/*.cu)
endif
# both: data-parallel training on GPUs sums the ranks' gradients through NCCL
ifeq ($(CUDA)$(MPI),11)
CFLAGS  += -DATTSR_NCCL
NVFLAGS += -DATTSR_NCCL
LDLIBS  += -lnccl
endif

# Every object depends on a stamp named after the compiler and flags, so switching
# (make, then make MPI=1, or another OPT) in one BUILD rebuilds instead of mixing.
STAMP   := $(BUILD)/.flags-$(shell printf '%s' '$(CC) $(CFLAGS) $(LDFLAGS) $(LDLIBS) $(NVFLAGS)' | md5sum | cut -c1-12)
# The install's model folder is compiled into one object (attsr_model_bundled): a new
# PREFIX rebuilds that object only.
PSTAMP  := $(BUILD)/.prefix-$(shell printf '%s' '$(MODELDIR)' | md5sum | cut -c1-12)

LIB_SRC := $(wildcard src/core/*.c src/image/*.c src/nn/*.c src/model/*.c \
                      src/train/*.c src/api/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
EX_SRC  := $(wildcard examples/*.c)
BENCH_SRC := $(wildcard bench/*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CUDA_SRC:%.cu=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
EXAMPLES := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test clean bench install uninstall
all: $(BUILD)/attsr $(BUILD)/libattsr.a $(BUILD)/libattsr.so $(BUILD)/attsr.pc $(TESTS) $(EXAMPLES)

$(STAMP):
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/.flags-*
	@touch $@

$(BUILD)/%.o: %.c $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.cu $(STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -MMD -MP -c $< -o $@

$(PSTAMP):
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/.prefix-*
	@touch $@

$(BUILD)/src/api/attsr.o: $(PSTAMP)
$(BUILD)/src/api/attsr.o: CFLAGS += -DATTSR_MODEL_DIR='"$(MODELDIR)"'


# Winograd's kernels are AVX2 + FMA whatever -march says; conv.c calls them only on a
# CPU that has both.
$(BUILD)/src/nn/winograd.o: CFLAGS += -mavx2 -mfma

$(BUILD)/libattsr.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libattsr.so.$(VERSION): $(LIB_OBJ) src/api/attsr.map
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libattsr.so.$(SOVER) -Wl,--version-script,src/api/attsr.map -o $@ \
	    $(LIB_OBJ) $(LDLIBS)

$(BUILD)/libattsr.so: $(BUILD)/libattsr.so.$(VERSION)
	ln -sf libattsr.so.$(VERSION) $(BUILD)/libattsr.so.$(SOVER)
	ln -sf libattsr.so.$(SOVER) $@

$(BUILD)/attsr.pc: attsr.pc.in $(STAMP)
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(abspath .)|' -e 's|@LIBDIR@|$(abspath $(BUILD))|' -e 's|@INCLUDEDIR@|$(abspath include)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@MPI_LIBS@|$(MPI_LIBS)|' $< > $@

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

INSTALLED_MODELS := $(notdir $(wildcard models/attsr_x*.safetensors))

install: $(BUILD)/attsr $(BUILD)/libattsr.a $(BUILD)/libattsr.so
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(MODELDIR)
	install -m 755 $(BUILD)/attsr $(DESTDIR)$(PREFIX)/bin/attsr
	install -m 755 $(BUILD)/libattsr.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libattsr.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libattsr.so.$(SOVER)
	ln -sf libattsr.so.$(SOVER) $(DESTDIR)$(LIBDIR)/libattsr.so
	install -m 644 $(BUILD)/libattsr.a $(DESTDIR)$(LIBDIR)/libattsr.a
	install -m 644 include/attsr.h $(DESTDIR)$(PREFIX)/include/attsr.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(PREFIX)/include|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@MPI_LIBS@|$(MPI_LIBS)|' attsr.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/attsr.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/attsr.pc
	install -m 644 $(addprefix models/,$(INSTALLED_MODELS)) $(DESTDIR)$(MODELDIR)/
	@# the dynamic linker's cache, for a real install only (not a packager's DESTDIR)
	@[ -n "$(DESTDIR)" ] || ! command -v ldconfig >/dev/null || ldconfig $(LIBDIR) 2>/dev/null || true

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/attsr $(DESTDIR)$(PREFIX)/include/attsr.h $(DESTDIR)$(LIBDIR)/pkgconfig/attsr.pc \
	      $(DESTDIR)$(LIBDIR)/libattsr.a $(DESTDIR)$(LIBDIR)/libattsr.so $(DESTDIR)$(LIBDIR)/libattsr.so.$(SOVER) \
	      $(DESTDIR)$(LIBDIR)/libattsr.so.$(VERSION) $(addprefix $(DESTDIR)$(MODELDIR)/,$(INSTALLED_MODELS))
	@# the folders install made for attsr alone, when empty
	rmdir $(DESTDIR)$(MODELDIR) $(DESTDIR)$(PREFIX)/share/attsr 2>/dev/null || true

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
