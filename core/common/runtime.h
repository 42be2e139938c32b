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

/// One line about the build: versions of AttriScope, LibTorch and the BLAS in use, and the
/// compute device.
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
