#include "common/runtime.h"

#include <torch/torch.h>

#include <fstream>
#include <thread>

namespace attri {

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

std::string buildInfo()
{
    std::string blas = blasLibrary();
    return std::string("AttriScope ") + ATTRI_VERSION + " (LibTorch " + TORCH_VERSION + ", BLAS "
           + (blas.empty() ? "unknown" : blas) + ", " + std::to_string(torchThreads()) + " threads)";
}

} // namespace attri
