# src/gpu/module.mk - the CUDA burn-in library (built when nvcc exists) and the tests' fake NVML.

# --- fake libnvidia-ml.so.1 for the tests (tests/fakenvml/) -------------------------------
# and a fake CUDA burn-in library, so that `gpu check` is tested end to end without a GPU.
FAKE_NVML := build/fakenvml/libnvidia-ml.so.1
FAKE_BURN := build/fakenvml/libfakeburn.so
CHECK_TARGETS += $(FAKE_NVML) $(FAKE_BURN)

$(FAKE_NVML): tests/fakenvml/fakenvml.c src/gpu/nvml_abi.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O1 -g $(WARN) -Isrc -fPIC -shared -fvisibility=hidden \
		-Wl,-soname,libnvidia-ml.so.1 -o $@ $<

$(FAKE_BURN): tests/fakenvml/fakeburn.c src/gpu/burn.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O1 -g $(WARN) -Isrc -fPIC -shared -fvisibility=hidden -o $@ $<

# --- CUDA burn-in library: bin/libcolossus-cuda.so, dlopened by `colossus gpu check` -------
# cudart is linked statically into it (it opens the driver's libcuda.so.1 itself at run
# time); cuBLAS and cuBLASLt are opened with dlopen; bin/colossus never links any of it.
NVCC ?= $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard /usr/local/cuda/bin/nvcc))
CUDA_ARCHS ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
CUDA_LIB := bin/libcolossus-cuda.so

ifneq ($(NVCC),)
EXTRA_TARGETS += $(CUDA_LIB)
$(CUDA_LIB): src/gpu/burn.cu src/gpu/burn.h
	@mkdir -p $(dir $@)
	$(NVCC) -O3 -std=c++17 -shared -Xcompiler -fPIC,-Wall,-Wextra,-Werror -Isrc $(CUDA_ARCHS) \
		-cudart static -o $@ $< -ldl -lpthread
else
EXTRA_TARGETS += cuda-skip
.PHONY: cuda-skip
cuda-skip:
	@echo "gpu: nvcc not found (set NVCC=/path/to/nvcc): skipping $(CUDA_LIB); 'colossus gpu check' will say it is missing"
endif
