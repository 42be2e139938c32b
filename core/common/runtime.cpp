#include "common/runtime.h"

#include "common/error.h"
#include "common/internal/torch_device.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <dlfcn.h>
#include <unistd.h>

namespace attri {

namespace {

/// The selected device type (c10::DeviceType as int); CPU until selectDevice says otherwise.
std::atomic<int> g_deviceType{static_cast<int>(torch::kCPU)};
std::atomic<int> g_cudaIndex{0};

} // namespace

void initRuntime(int threads)
{
    if (threads <= 0)
        threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    torch::set_num_threads(threads);
}

int torchThreads() { return torch::get_num_threads(); }

std::string blasLibrary()
{
    // Force the BLAS to be loaded and used once (a tiny matmul), then look at what is mapped.
    auto a = torch::ones({8, 8});
    (void)torch::mm(a, a);
    std::ifstream maps("/proc/self/maps");
    std::string line;
    std::string found;
    while (std::getline(maps, line)) {
        auto slash = line.rfind('/');
        if (slash == std::string::npos)
            continue;
        std::string file = line.substr(slash + 1);
        bool blas = file.find("openblas") != std::string::npos || file.find("libblas") != std::string::npos
                    || file.find("libmkl") != std::string::npos || file.find("blis") != std::string::npos;
        if (!blas)
            continue;
        std::string dir = line.substr(line.find('/'), slash - line.find('/'));
        std::string variant;
        if (dir.find("openmp") != std::string::npos)
            variant = " (openmp)";
        else if (dir.find("pthread") != std::string::npos)
            variant = " (pthread)";
        else if (dir.find("serial") != std::string::npos)
            variant = " (serial)";
        found = file + variant;
        // Prefer an OpenBLAS entry over the generic libblas alternative link.
        if (file.find("openblas") != std::string::npos)
            break;
    }
    return found;
}

std::string blasKernels()
{
    using CoreName = char* (*)();
    const auto coreName = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
    const char* name = coreName ? coreName() : nullptr;
    return name ? std::string(name) : std::string();
}

std::string betterBlasKernels() { return betterBlasKernelsThan(blasKernels()); }

std::string betterBlasKernelsThan(const std::string& loaded)
{
#if defined(__x86_64__)
    if (loaded != "Prescott")
        return {};
    __builtin_cpu_init();
    // libgcc's checks include the OS's saving of the AVX and AVX-512 registers (XGETBV).
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
#endif
    return {};
}

void restartWithBetterBlasKernels(char** argv)
{
    if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("ATTRI_KEEP_BLAS_KERNELS") || !argv || !argv[0])
        return;
    const std::string kernels = betterBlasKernels();
    if (kernels.empty())
        return;
    if (setenv("OPENBLAS_CORETYPE", kernels.c_str(), 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    // Not restarted (the executable was replaced or removed meanwhile): carry on with the kernels
    // already loaded, and leave the variable as it was.
    unsetenv("OPENBLAS_CORETYPE");
}

std::string buildInfo()
{
    std::string blas = blasLibrary();
    const std::string kernels = blasKernels();
    if (!kernels.empty())
        blas += ", " + kernels + " kernels";
    return std::string("AttriScope ") + ATTRI_VERSION + " (LibTorch " + TORCH_VERSION
           + (at::globalContext().hasCUDART() ? " with CUDA" : "") + ", BLAS " + (blas.empty() ? "unknown" : blas)
           + ", " + std::to_string(torchThreads()) + " threads, device " + deviceName() + ")";
}

DeviceChoice parseDeviceChoice(const std::string& text)
{
    if (text == "auto")
        return DeviceChoice::Auto;
    if (text == "cpu")
        return DeviceChoice::Cpu;
    if (text == "cuda")
        return DeviceChoice::Cuda;
    throw ConfigError("unknown device '" + text + "'; choose auto, cpu or cuda");
}

std::string toString(DeviceChoice choice)
{
    switch (choice) {
    case DeviceChoice::Auto:
        return "auto";
    case DeviceChoice::Cpu:
        return "cpu";
    case DeviceChoice::Cuda:
        return "cuda";
    }
    return "auto";
}

bool cudaAvailable() { return torch::cuda::is_available(); }

void selectDevice(DeviceChoice choice, int cudaSlot)
{
    const bool cuda = cudaAvailable();
    if (choice == DeviceChoice::Cuda && !cuda)
        throw ConfigError(std::string("--device cuda: ")
                          + "this LibTorch (" + TORCH_VERSION + ") "
                          + (at::globalContext().hasCUDART() ? "has CUDA but sees no usable GPU"
                                                             : "was built without CUDA")
                          + "; a CUDA build of LibTorch (configure with -DTorch_DIR=…/libtorch/share/cmake/Torch) "
                            "and a visible GPU are needed. Use --device cpu or auto");
    const bool useCuda = choice == DeviceChoice::Cuda || (choice == DeviceChoice::Auto && cuda);
    const int count = useCuda ? static_cast<int>(torch::cuda::device_count()) : 1;
    g_cudaIndex = count > 0 ? std::max(0, cudaSlot) % count : 0;
    g_deviceType = static_cast<int>(useCuda ? torch::kCUDA : torch::kCPU);
}

std::string deviceName() { return computeDevice().str(); }

torch::Device computeDevice()
{
    const auto type = static_cast<c10::DeviceType>(g_deviceType.load());
    return type == torch::kCUDA ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(g_cudaIndex.load()))
                                : torch::Device(torch::kCPU);
}

} // namespace attri
