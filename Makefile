# gpt.cc build. `make` -> bin/gpt; `make test`; `make run` (the main job: deps,
# build, data, train, sample); `make bench`; `make sanitize`; `make fuzz`; `make clean`.
# Probes OpenMP, nvcc + cuBLAS (USE_CUDA=auto|0|1), SentencePiece and GoogleTest.

CXX       ?= g++
NVCC      ?= /usr/local/cuda/bin/nvcc
USE_CUDA  ?= auto
BUILD     ?= build
OPT       ?= -O3 -march=native
# -ffp-contract=fast lets the compiler fuse a*b+c into FMA (never -Ofast: it
# breaks NaN checks and GELU). -fno-math-errno lets sqrt be an instruction (values
# unchanged: only errno goes unset); without it GCC left AdamW's loop scalar.
CXXFLAGS  ?= $(OPT) -ffp-contract=fast -fno-math-errno -g1
# Flags the build needs whatever CXXFLAGS says (make sanitize overrides CXXFLAGS).
BASEFLAGS := -std=c++17 -fopenmp -Wall -Wextra -Wno-psabi -MMD -MP -Isrc
LDFLAGS   ?=
LDFLAGS   += -fopenmp
GTEST_LIBS = -lgtest -lgtest_main -pthread

# ---- probes -------------------------------------------------------------------
HAVE_OPENMP := $(shell echo 'int main(){return 0;}' | $(CXX) -fopenmp -x c++ - -o /dev/null 2>/dev/null && echo yes || echo no)
HAVE_GTEST  := $(shell test -f /usr/include/gtest/gtest.h && echo yes || echo no)
HAVE_SPM    := $(shell test -f /usr/include/sentencepiece_processor.h && echo yes || echo no)
# MPI (Open MPI's mpicxx wrapper tells the flags): `mpirun -np N bin/gpt train` data parallel.
MPICXX      ?= mpicxx
HAVE_MPI    := $(shell $(MPICXX) --showme:compile >/dev/null 2>&1 && echo yes || echo no)
# OpenBLAS: a yardstick for `make bench` only, never linked into bin/gpt.
HAVE_OPENBLAS := $(shell test -f /usr/include/x86_64-linux-gnu/cblas-openblas.h -o -f /usr/include/openblas/cblas.h && echo yes || echo no)
HAVE_NVCC   := $(shell test -x $(NVCC) && echo yes || echo no)
ifeq ($(USE_CUDA),1)
  CUDA_ON := yes
  ifeq ($(HAVE_NVCC),no)
    $(error USE_CUDA=1 but $(NVCC) was not found; install the CUDA toolkit or use USE_CUDA=auto)
  endif
else ifeq ($(USE_CUDA),auto)
  CUDA_ON := $(HAVE_NVCC)
else
  CUDA_ON := no
endif
# The CUDA backend: cuda/*.cu compiled by nvcc for sm_80 and sm_90 plus PTX (so newer
# GPUs JIT it), cudart linked statically so the binary starts where no driver exists.
CUDA_HOME  ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCH  ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
              -gencode arch=compute_90,code=compute_90
# Warnings are errors in the CUDA sources (they cannot be run here: the compiler is the check).
NVCCFLAGS  ?= -O3 -std=c++17 $(CUDA_ARCH) -Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror
ifeq ($(CUDA_ON),yes)
  BASEFLAGS += -DGPT_HAVE_CUDA
  CUDA_SRCS := $(wildcard cuda/*.cu)
  CUDA_OBJS := $(CUDA_SRCS:%.cu=$(BUILD)/%.o)
  LDLIBS_CUDA := -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lpthread
endif
# SentencePiece (BPE / unigram tokenizers) is linked when its headers are present;
# without it `--tokenizer bpe` says how to install it.
ifeq ($(HAVE_SPM),yes)
  BASEFLAGS += -DGPT_HAVE_SENTENCEPIECE
  LDLIBS_SPM := -lsentencepiece_train -lsentencepiece
endif
# MPI is linked when mpicxx is present (USE_MPI=0 leaves it out); without it, a launch
# under mpirun says how to get it.
USE_MPI ?= auto
ifeq ($(USE_MPI),0)
  HAVE_MPI := no
endif
ifeq ($(HAVE_MPI),yes)
  BASEFLAGS += -DGPT_HAVE_MPI -DOMPI_SKIP_MPICXX $(patsubst -I%,-isystem %,$(shell $(MPICXX) --showme:compile))
  LDLIBS_MPI := $(shell $(MPICXX) --showme:link)
endif
ifeq ($(HAVE_OPENMP),no)
  $(error OpenMP not found: g++ -fopenmp fails. Run scripts/install_deps.sh)
endif

LIB_SRCS  := $(filter-out src/main.cpp,$(wildcard src/*.cpp src/*/*.cpp))
LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/%.o)
TEST_SRCS := $(wildcard tests/*.cpp)
TEST_OBJS := $(TEST_SRCS:%.cpp=$(BUILD)/%.o)
BENCH_SRCS := $(wildcard bench/*.cpp)

# Plain `make` builds bin/gpt. (The version stamp's rule below came first in the file and
# so was the default goal: `make` refreshed the stamp and built nothing.)
.DEFAULT_GOAL := all

# The commit `gpt --version` reports ("-dirty" with uncommitted changes); version.o is
# rebuilt when it changes (the stamp file is rewritten only then).
GIT_COMMIT := $(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null) && { git diff --quiet HEAD -- 2>/dev/null && echo $$c || echo $$c-dirty; } || echo unknown)
$(BUILD)/version.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(GIT_COMMIT)' | cmp -s - $@ || echo '$(GIT_COMMIT)' > $@
$(BUILD)/src/commands/version.o: $(BUILD)/version.stamp
$(BUILD)/src/commands/version.o: BASEFLAGS += -DGPT_GIT_COMMIT=\"$(GIT_COMMIT)\"
FORCE:

# What the objects of a build directory were compiled with, in $(BUILD)/config.stamp,
# rewritten (when make reads this file) only when it changes; every object depends on it.
# Without it, SentencePiece or MPI installed after a first build (make test, then make run,
# whose install_deps adds them) left the old objects: a binary "built without
# SentencePiece" that the probe line called "SentencePiece yes".
# $(call config_stamp,STAMP_VAR,TEXT_VAR) (variable names: the texts hold commas and $):
# the file $(STAMP_VAR) holds $(TEXT_VAR), rewritten when make reads this file only when
# it changes; the rule writes it when missing (after `make clean all`). The fuzz build
# has its own (below).
define config_stamp
$$(shell mkdir -p $$(dir $$($(1))))
ifneq ($$(file <$$($(1))),$$($(2)))
  $$(file >$$($(1)),$$($(2)))
endif
$$($(1)):
	@mkdir -p $$(dir $$@)
	$$(file >$$@,$$($(2)))
endef
BUILD_CONFIG := $(CXX) $(CXXFLAGS) $(BASEFLAGS) | $(NVCC) $(NVCCFLAGS) | $(LDFLAGS) $(LDLIBS_SPM) $(LDLIBS_MPI) $(LDLIBS_CUDA)
CONFIG_STAMP := $(BUILD)/config.stamp
ifneq ($(MAKECMDGOALS),clean)
  $(eval $(call config_stamp,CONFIG_STAMP,BUILD_CONFIG))
endif

.PHONY: all test run bench bench-mpi sanitize clean probe data FORCE fuzz fuzz-build fuzz-smoke help
all: probe bin/gpt

help:
	@echo "make          build bin/gpt (prints what it found: OpenMP, GoogleTest, SentencePiece, MPI, nvcc)"
	@echo "make run      deps if missing, build, fetch + prepare Tiny Shakespeare, train (~2 min), sample"
	@echo "              (offline: GPT_DATA_MIRROR=DIR make run, DIR holding tinyshakespeare.txt)"
	@echo "make test     the test suite; ends with 'N passed, N failed' (FUZZ_SMOKE=1: fuzz harnesses first)"
	@echo "make bench    benchmarks side by side with PyTorch; writes bench/results/DATE-cpu.md"
	@echo "make bench-mpi  2 processes x 1 thread vs 1 x 2 (MPI), all-reduce times"
	@echo "make sanitize the suite under ASan + UBSan (build-san/)"
	@echo "make fuzz     every file reader under libFuzzer, FUZZ_SECONDS each (default 600); fuzz-smoke: seconds"
	@echo "make clean    remove build outputs (build*/, bin/, gpu-check/)"
	@echo "Variables: USE_CUDA=auto|0|1 (make clean after changing it), BUILD=DIR, RUN_DIR=runs/NAME (make run)"

probe:
	@echo "gpt.cc build: OpenMP $(HAVE_OPENMP) | GoogleTest $(HAVE_GTEST) | SentencePiece $(HAVE_SPM) | MPI $(HAVE_MPI) | nvcc $(HAVE_NVCC), CUDA backend $(CUDA_ON) (USE_CUDA=$(USE_CUDA); every layer has run on an H200: scripts/gpu_check.sh, bench/results/2026-12-04-gpu.md)"

$(BUILD)/%.o: %.cpp $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(BASEFLAGS) -c $< -o $@

$(BUILD)/cuda/%.o: cuda/%.cu $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -Isrc -DGPT_HAVE_CUDA -c $< -o $@

$(BUILD)/libgpt.a: $(LIB_OBJS) $(CUDA_OBJS)
	@rm -f $@
	ar rcs $@ $^

bin/gpt: $(BUILD)/src/main.o $(BUILD)/libgpt.a
	@mkdir -p bin
	$(CXX) $^ -o $@ $(LDFLAGS) $(LDLIBS_SPM) $(LDLIBS_MPI) $(LDLIBS_CUDA)

$(BUILD)/tests/%.o: BASEFLAGS += -Itests -DGPT_SOURCE_DIR=\"$(CURDIR)\"
$(BUILD)/gpt_tests: $(TEST_OBJS) $(BUILD)/libgpt.a
	@test "$(HAVE_GTEST)" = yes || { echo "GoogleTest not found: run scripts/install_deps.sh"; exit 1; }
	$(CXX) $^ -o $@ $(LDFLAGS) $(LDLIBS_SPM) $(LDLIBS_MPI) $(LDLIBS_CUDA) $(GTEST_LIBS)

# ---- the CUDA emulator (tests/cuda_emu/): cuda/*.cu compiled by g++ and run on the CPU,
# block after block, each block's threads as fibers. It runs the CUDA backend's /cuda
# test rows here, where there is no GPU (it checks the kernels' logic, not the GPU).
# Built with the CUDA backend (the library objects then know the cuda table).
EMU_DIR       := $(BUILD)/cuemu
EMU_OBJS      := $(patsubst cuda/%.cu,$(EMU_DIR)/%.o,$(wildcard cuda/*.cu)) $(EMU_DIR)/emu.o
EMU_TEST_OBJS := $(BUILD)/tests/test_backend.o $(BUILD)/tests/test_util.o $(EMU_DIR)/test_emulator.o $(EMU_DIR)/test_cuda.o
EMU_FLAGS     := -Werror -Wno-unknown-pragmas -Itests/cuda_emu -Icuda -Itests -DGPT_HAVE_CUDA -DGPT_SOURCE_DIR=\"$(CURDIR)\"
EMU_FILTER    := --gtest_filter=*/cuda:CudaLayers.*:CudaEmulator.*
# Under ASan (make sanitize: a kernel's access past a buffer is reported) without the two
# whole training runs, which take minutes there and whose host code the main suite covers.
EMU_FILTER_SAN := --gtest_filter=*/cuda:CudaLayers.*:CudaEmulator.*:-CudaLayers.TrainOn*:CudaLayers.Bf16Training*
$(EMU_DIR)/%.cpp: cuda/%.cu tests/cuda_emu/translate.pl
	@mkdir -p $(dir $@)
	perl tests/cuda_emu/translate.pl $< $@
# Kept: as intermediates make deleted them after the test summary, whose line must be the
# last of `make test` (CI reads it there).
.SECONDARY: $(patsubst cuda/%.cu,$(EMU_DIR)/%.cpp,$(wildcard cuda/*.cu))
# common.cuh launches kernels too: translated beside the .cpp files, which find it first.
$(EMU_DIR)/common.cuh: cuda/common.cuh tests/cuda_emu/translate.pl
	@mkdir -p $(dir $@)
	perl tests/cuda_emu/translate.pl $< $@
$(patsubst cuda/%.cu,$(EMU_DIR)/%.o,$(wildcard cuda/*.cu)): $(EMU_DIR)/common.cuh
$(EMU_DIR)/%.o: $(EMU_DIR)/%.cpp $(CONFIG_STAMP)
	$(CXX) $(CXXFLAGS) $(BASEFLAGS) $(EMU_FLAGS) -c $< -o $@
$(EMU_DIR)/%.o: tests/cuda_emu/%.cpp $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(BASEFLAGS) $(EMU_FLAGS) -c $< -o $@
# tests/test_cuda.cpp twice: against the emulator here, against the toolkit in gpt_tests.
$(EMU_DIR)/test_cuda.o: tests/test_cuda.cpp $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(BASEFLAGS) $(EMU_FLAGS) $(EMU_BLAS_PATHS) -c $< -o $@
$(BUILD)/tests/test_cuda.o: BASEFLAGS += -isystem $(CUDA_HOME)/include -Icuda
# The emulator's libraries: each a shared library that cuda/ loads as it loads the real one.
EMU_SHARED := $(CXX) -std=c++17 -Wall -Wextra -Werror -fPIC -shared -Itests/cuda_emu
# A one-rank NCCL on the emulator's memory, loaded by the NCCL group like the real one.
EMU_NCCL := $(EMU_DIR)/fake_nccl/libnccl.so.2
$(EMU_NCCL): tests/cuda_emu/fake_nccl.cpp tests/cuda_emu/nccl.h tests/cuda_emu/cuda_runtime.h
	@mkdir -p $(dir $@)
	$(EMU_SHARED) -O1 $< -o $@
# cuBLAS's SGEMM from its documented definition, loaded by cuda/matmul.cu like libcublas.
EMU_CUBLAS := $(EMU_DIR)/fake_cublas/libcublas.so
$(EMU_CUBLAS): tests/cuda_emu/fake_cublas.cpp tests/cuda_emu/cublas_v2.h tests/cuda_emu/cuda_runtime.h
	@mkdir -p $(dir $@)
	$(EMU_SHARED) -O2 $< -o $@
# cuBLASLt's matmul with its bias epilogue, from its documented definition, likewise.
EMU_CUBLASLT := $(EMU_DIR)/fake_cublaslt/libcublasLt.so
$(EMU_CUBLASLT): tests/cuda_emu/fake_cublaslt.cpp tests/cuda_emu/cublasLt.h tests/cuda_emu/cublas_v2.h \
  tests/cuda_emu/cuda_runtime.h
	@mkdir -p $(dir $@)
	$(EMU_SHARED) -O2 $< -o $@
EMU_BLAS_PATHS := -DGPT_EMU_CUBLAS=\"$(CURDIR)/$(EMU_CUBLAS)\" -DGPT_EMU_CUBLASLT=\"$(CURDIR)/$(EMU_CUBLASLT)\"
$(EMU_DIR)/test_emulator.o: BASEFLAGS += -DGPT_EMU_NCCL=\"$(CURDIR)/$(EMU_NCCL)\" $(EMU_BLAS_PATHS)
$(BUILD)/gpt_tests_cuemu: $(EMU_TEST_OBJS) $(EMU_OBJS) $(LIB_OBJS) | $(EMU_NCCL) $(EMU_CUBLAS) $(EMU_CUBLASLT)
	$(CXX) $^ -o $@ $(LDFLAGS) $(LDLIBS_SPM) $(LDLIBS_MPI) $(GTEST_LIBS) -ldl
# bin/gpt on the emulator: `--device cuda` end to end (train, resume, sample) here.
bin/gpt-cuemu: $(BUILD)/src/main.o $(EMU_OBJS) $(LIB_OBJS)
	@mkdir -p bin
	$(CXX) $^ -o $@ $(LDFLAGS) $(LDLIBS_SPM) $(LDLIBS_MPI) -ldl
ifeq ($(CUDA_ON),yes)
  EMU_TESTS := $(BUILD)/gpt_tests_cuemu
endif

# Runs the suite (and, with the CUDA backend, its /cuda rows on the emulator) and ends
# with the line "N passed, N failed". FUZZ_SMOKE=1 (CI) first runs every fuzz harness
# briefly (fuzz-smoke); a failure there counts as one failed test.
FUZZ_SMOKE ?= 0
test: probe bin/gpt $(BUILD)/gpt_tests $(EMU_TESTS)
	@fuzz_failed=0; \
	if [ "$(FUZZ_SMOKE)" = 1 ]; then $(MAKE) --no-print-directory fuzz-smoke || fuzz_failed=1; fi; \
	GPT_EXTRA_FAILED=$$fuzz_failed GPT_BIN=$(CURDIR)/bin/gpt \
	  GPT_EMU_TESTS="$(if $(EMU_TESTS),$(EMU_TESTS) $(EMU_FILTER))" scripts/run_tests.sh $(BUILD)/gpt_tests

ifeq ($(HAVE_OPENBLAS),yes)
$(BUILD)/bench_matmul: BENCH_BLAS := -DGPT_BENCH_OPENBLAS -lopenblas
endif
$(BUILD)/bench_%: bench/%.cpp $(BUILD)/libgpt.a
	$(CXX) $(CXXFLAGS) $(BASEFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS_SPM) $(LDLIBS_MPI) $(LDLIBS_CUDA) $(BENCH_BLAS)

bench: bin/gpt $(BENCH_SRCS:bench/%.cpp=$(BUILD)/bench_%)
	@scripts/install_deps.sh --bench --if-missing
	@scripts/bench.sh

# Data parallel over MPI on this machine, and the scaling estimate (needs Open MPI).
bench-mpi: bin/gpt $(BUILD)/bench_allreduce
	@scripts/bench_mpi.sh

# Tests under AddressSanitizer + UndefinedBehaviorSanitizer (separate build dir).
sanitize:
	$(MAKE) -j$(shell nproc) BUILD=build-san OPT="-O1 -march=native" \
	  CXXFLAGS="-O1 -march=native -ffp-contract=fast -fno-math-errno -g -fsanitize=address,undefined -fno-omit-frame-pointer -DGPT_SANITIZE_BUILD" \
	  LDFLAGS="-fsanitize=address,undefined -fopenmp" build-san/gpt_tests bin/gpt-san $(EMU_TESTS:$(BUILD)/%=build-san/%)
	GPT_BIN=$(CURDIR)/bin/gpt-san ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
	  GPT_EMU_TESTS="$(if $(EMU_TESTS),build-san/gpt_tests_cuemu $(EMU_FILTER_SAN))" scripts/run_tests.sh build-san/gpt_tests

# ---- fuzzing: libFuzzer harnesses (tests/fuzz/), one per reader -----------------------
# clang-14 + Debian's libfuzzer-14-dev (scripts/install_deps.sh --test). The library is
# rebuilt with coverage instrumentation + ASan + UBSan in build-fuzz/ (CPU only; the
# layers, which read no file, stay g++-built).
# `make fuzz` runs each harness FUZZ_SECONDS; `make fuzz-smoke` FUZZ_SMOKE_SECONDS each.
FUZZ_CXX    ?= clang++-14
FUZZ_BUILD  ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_CFLAGS := -O1 -g -march=native -std=c++17 -fopenmp -Isrc -Itests/fuzz -Wall -Wextra -MMD -MP \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ifeq ($(HAVE_SPM),yes)
  FUZZ_CFLAGS += -DGPT_HAVE_SENTENCEPIECE
endif
HAVE_FUZZ    = $(shell echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long){return 0;}' | \
                 $(FUZZ_CXX) -fsanitize=fuzzer -x c++ - -o /dev/null 2>/dev/null && echo yes || echo no)
FUZZERS     := $(patsubst tests/fuzz/fuzz_%.cpp,%,$(wildcard tests/fuzz/fuzz_*.cpp))
FUZZ_OBJS   := $(LIB_SRCS:%.cpp=$(FUZZ_BUILD)/%.o)

FUZZ_STAMP  := $(FUZZ_BUILD)/config.stamp
FUZZ_CONFIG  = $(FUZZ_CXX) $(FUZZ_CFLAGS)
ifneq ($(findstring fuzz,$(MAKECMDGOALS)),)
  $(eval $(call config_stamp,FUZZ_STAMP,FUZZ_CONFIG))
else
$(FUZZ_STAMP):
	@mkdir -p $(dir $@)
	$(file >$@,$(FUZZ_CONFIG))
endif
$(FUZZ_BUILD)/src/%.o: src/%.cpp $(FUZZ_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
# The layers use GCC's vector builtins and are no reader: g++, uninstrumented (libomp,
# which clang links, also answers libgomp's entry points).
$(FUZZ_BUILD)/src/layers/%.o: src/layers/%.cpp $(FUZZ_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) -O2 -march=native -std=c++17 -fopenmp -Isrc -MMD -MP -c $< -o $@
$(FUZZ_BUILD)/libgpt.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.cpp tests/fuzz/fuzz_common.h $(FUZZ_BUILD)/libgpt.a
	$(FUZZ_CXX) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_BUILD)/libgpt.a -o $@ $(LDLIBS_SPM)
# The seeds come from gpt.cc's own writers (the normal build of the library).
$(BUILD)/fuzz_seeds: tests/fuzz/make_seeds.cpp $(BUILD)/libgpt.a
	$(CXX) $(CXXFLAGS) $(BASEFLAGS) -DGPT_SOURCE_DIR=\"$(CURDIR)\" $^ -o $@ $(LDFLAGS) $(LDLIBS_SPM) $(LDLIBS_CUDA)

fuzz-build: $(BUILD)/fuzz_seeds
	@test "$(HAVE_FUZZ)" = yes || { echo "fuzz: $(FUZZ_CXX) with libFuzzer not found: run scripts/install_deps.sh --test"; exit 1; }
	@$(MAKE) --no-print-directory $(FUZZERS:%=$(FUZZ_BUILD)/fuzz_%)
	@rm -rf $(FUZZ_BUILD)/seeds && $(BUILD)/fuzz_seeds $(FUZZ_BUILD)/seeds
fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZERS)
fuzz-smoke: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS) $(FUZZERS)

bin/gpt-gpu: $(BUILD)/src/main.o $(BUILD)/libgpt.a
	@mkdir -p bin
	$(CXX) $^ -o $@ $(LDFLAGS) $(LDLIBS_SPM) $(LDLIBS_MPI) $(LDLIBS_CUDA)

bin/gpt-san: $(BUILD)/src/main.o $(BUILD)/libgpt.a
	@mkdir -p bin
	$(CXX) $^ -o $@ $(LDFLAGS) $(LDLIBS_SPM) $(LDLIBS_MPI) $(LDLIBS_CUDA)

# The main job: dependencies, build, Tiny Shakespeare, prepare, train (~2 min on 2 cores), sample.
RUN_DIR ?= runs/shakespeare_char
run:
	@scripts/install_deps.sh --if-missing
	@$(MAKE) --no-print-directory -j$(shell nproc) bin/gpt
	scripts/get_data.sh data/tinyshakespeare.txt
	bin/gpt prepare --input data/tinyshakespeare.txt --out data/shakespeare_char
	@if [ -f $(RUN_DIR)/checkpoint.bin ]; then \
	  bin/gpt train --data data/shakespeare_char --resume $(RUN_DIR); \
	else bin/gpt train --data data/shakespeare_char --out $(RUN_DIR) --sample-every 500 --sample-tokens 120; fi
	bin/gpt sample --ckpt $(RUN_DIR) --prompt "ROMEO:" --tokens 400 --temperature 0.8 --top-k 40 --stats

clean:
	rm -rf build build-san build-fuzz build-gpu bin gpu-check

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(BUILD)/src/main.d $(FUZZ_OBJS:.o=.d) $(EMU_OBJS:.o=.d) $(EMU_DIR)/test_emulator.d $(EMU_DIR)/test_cuda.d $(CUDA_OBJS:.o=.d)
