#pragma once
// Private to the model stage (includes Torch through net.h).

#include "model/internal/net.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attri {

/// The built-in architectures (logistic regression, MLP, small CNN, ResNet-9) as one Net: a
/// torch::nn::Module holding the layers, and a list of forward steps over them. Every Linear
/// and Conv2d is a traced layer, in forward order.
class ZooNet final : public Net {
public:
    /// Builds `arch` for `input`-shaped images and numClasses outputs, initialized by Torch's
    /// default initializers from `seed`. Throws ConfigError when the input is too small.
    ZooNet(Architecture arch, InputShape input, int numClasses, uint64_t seed);

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
    enum class Op { Linear, Conv, BatchNorm, Relu, MaxPool2, AdaptiveMaxPool, Flatten, PushSkip, AddSkip };
    struct Step {
        Op op;
        size_t index = 0; ///< into m_linears / m_convs / m_bns
    };

    void build();
    void addLinear(const std::string& name, int64_t in, int64_t out);
    void addConv(const std::string& name, int64_t in, int64_t out);
    void addConvBnRelu(const std::string& name, int64_t in, int64_t out);
    void copyStateFrom(const ZooNet& other);

    std::shared_ptr<torch::nn::Module> m_root;
    std::vector<torch::nn::Linear> m_linears;
    std::vector<torch::nn::Conv2d> m_convs;
    std::vector<torch::nn::BatchNorm2d> m_bns;
    std::vector<std::string> m_linearNames, m_convNames, m_bnNames;
    std::vector<Step> m_steps;
};

} // namespace attri
