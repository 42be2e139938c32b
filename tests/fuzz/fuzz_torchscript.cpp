// TorchScript import: Model::importTorchScript (torch::jit::load of a .pt zip, then AttriScope's
// analysis of the module) on the input written as a file, then the metadata the app reads from
// an imported model (parameters, buffers, layers). LibTorch itself is not instrumented. No
// forward pass: that would run the archive's code, which the trust model leaves to the user.

#include "fuzz_common.h"
#include "model/model.h"

#include <optional>

using namespace attri;
using attri::fuzz::expectCleanOutcome;
using attri::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static attri::fuzz::ScratchFile scratch(".pt");
    const std::string& path = scratch.write(data, size);
    std::optional<Model> model;
    if (!expectCleanOutcome("Model::importTorchScript", [&] { model = Model::importTorchScript(path); }))
        return 0;
    expectCleanOutcome("imported model metadata", [&] {
        require(model->architecture() == Architecture::TorchScript, "imports are TorchScript models");
        int64_t total = 0;
        for (const ParamTensor& t : model->parameters()) {
            int64_t n = 1;
            for (int64_t d : t.shape)
                n *= d;
            require(t.values.size() == static_cast<size_t>(n), "a parameter holds product(shape) values");
            total += n;
        }
        require(total == model->parameterCount(), "parameterCount is the sum of the parameters");
        model->buffers();
        model->layers();
    });
    return 0;
}
