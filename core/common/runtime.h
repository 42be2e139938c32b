#pragma once

#include <string>

namespace attri {

/// Sets LibTorch's intra-op threads to `threads` (≤ 0: the machine's cores). Call once at
/// start-up: Debian's LibTorch otherwise runs on one thread.
void initRuntime(int threads = 0);

/// Torch's current intra-op thread count.
int torchThreads();

/// The BLAS library actually serving matrix products (from /proc/self/maps), e.g.
/// "libopenblas.so.0 (openmp)"; empty when none is mapped.
std::string blasLibrary();

/// One line about the build: versions of AttriScope, LibTorch and the BLAS in use.
std::string buildInfo();

} // namespace attri
