#pragma once
// Private to the model stage (includes Torch through net.h).

#include "model/internal/net.h"

#include <torch/script.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attri {

/// A Net over an imported TorchScript module. When the top module is a torch.nn.Sequential,
/// forward steps through its children so that Linear/Conv2d children can be traced; otherwise
/// it calls the module's own forward and has no traced layers. Input shape and class count are
/// unknown until Model::checkCompatible has probed the module (0 until then).
class ScriptNet final : public Net {
public:
    /// Loads `path`. Throws IoError when the file is missing, FormatError when it is not a
    /// TorchScript archive.
    explicit ScriptNet(const std::string& path);

    torch::Tensor forward(const torch::Tensor& x, LayerTrace* trace = nullptr) override;
    std::vector<std::pair<std::string, torch::Tensor>> namedParameters() override;
    std::vector<std::pair<std::string, torch::Tensor>> namedBuffers() override;
    std::vector<TracedLayer> tracedLayers() override;
    std::vector<LayerInfo> layers() override;
    void setTraining(bool on) override;
    std::shared_ptr<Net> clone() const override;
    void reinitialize(uint64_t seed) override;
    void to(const torch::Device& device) override;

private:
    ScriptNet(torch::jit::Module module, const ScriptNet& like);
    /// Finds the Sequential children that can be traced (see the class comment).
    void analyse();

    torch::jit::Module m_module;
    bool m_sequential = false;
    /// Children of a Sequential top module, in call order.
    std::vector<torch::jit::Module> m_children;
    std::vector<std::string> m_childNames;
    /// For each child: its geometry when it is a traced Linear/Conv2d (kind empty otherwise).
    std::vector<TracedLayer> m_childTrace;
};

} // namespace attri
