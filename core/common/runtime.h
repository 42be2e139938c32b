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

/// The kernels the loaded OpenBLAS chose for this CPU (openblas_get_corename, e.g. "SkylakeX",
/// "Haswell"); empty when the BLAS is not OpenBLAS.
std::string blasKernels();

/// The OpenBLAS kernels this CPU should get when the loaded OpenBLAS fell back to its generic SSE3
/// "Prescott" ones: "SkylakeX" with AVX-512 (F, CD, BW, DQ, VL, usable by the OS), "Haswell" with
/// AVX2 and FMA; empty when it did not fall back or the CPU has neither.
std::string betterBlasKernels();

/// betterBlasKernels() for OpenBLAS kernels named `loaded` (as openblas_get_corename names them),
/// e.g. those another process reported; empty unless `loaded` is "Prescott" and this CPU has better.
std::string betterBlasKernelsThan(const std::string& loaded);

/// Debian 12's OpenBLAS (0.3.21) does not recognise recent CPUs (Sapphire Rapids among them) and
/// runs its generic SSE3 kernels there, 2–3× slower on the products of the spectra, sweeps, the
/// selector and the LDS. It picks its kernels once, when it loads, from OPENBLAS_CORETYPE; so when
/// betterBlasKernels() names better ones, this sets OPENBLAS_CORETYPE to them and re-executes the
/// program (/proc/self/exe, the same arguments and environment). It returns, doing nothing, when
/// OPENBLAS_CORETYPE is already set (by the user, or by the restart), when ATTRI_KEEP_BLAS_KERNELS
/// is set, when there is nothing better, or when the restart fails. Call it first in main, before
/// any thread starts.
void restartWithBetterBlasKernels(char** argv);

/// One line about the build: versions of AttriScope, LibTorch and the BLAS in use (with its
/// kernels), and the compute device.
std::string buildInfo();

/// Where the costly Torch stages (training, ground-truth retraining, featurization) run.
/// Everything else (spectra, sweeps, LDS, the selector) stays on the CPU.
enum class DeviceChoice {
    Auto, ///< the first CUDA device when this LibTorch has CUDA and one is present, else the CPU
    Cpu,  ///< the CPU (the tested default path; bitwise reproducible for a thread count)
    Cuda, ///< the first CUDA device; an error when there is none
};

/// "auto", "cpu" or "cuda". Throws ConfigError for anything else.
DeviceChoice parseDeviceChoice(const std::string& text);
std::string toString(DeviceChoice choice);

/// Whether this LibTorch was built with CUDA and sees at least one device.
bool cudaAvailable();

/// Selects the compute device for this process (call once at start-up, after initRuntime).
/// With CUDA, the device is number `cudaSlot` modulo the visible devices (MPI ranks on one
/// machine pass their local rank). Throws ConfigError, saying why, when `cuda` is asked for
/// and no CUDA device is usable.
void selectDevice(DeviceChoice choice, int cudaSlot = 0);

/// The selected device: "cpu" or e.g. "cuda:0".
std::string deviceName();

} // namespace attri
