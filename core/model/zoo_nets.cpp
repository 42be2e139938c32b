#include "model/private/zoo_nets.h"

#include "common/error.h"

#include <sstream>

namespace attri {

namespace {

void requireInput(Architecture arch, InputShape input, int64_t minSide, int numClasses)
{
    if (input.channels < 1 || input.height < minSide || input.width < minSide || numClasses < 1) {
        std::ostringstream msg;
        msg << "architecture '" << toString(arch) << "' needs images of at least " << minSide << "×"
            << minSide << " with >= 1 channel and >= 1 class, got " << input.channels << "×" << input.height
            << "×" << input.width << " and " << numClasses << " classes";
        throw ConfigError(msg.str());
    }
}

std::vector<int64_t> pair(const torch::ExpandingArray<2>& a)
{
    return {(*a)[0], (*a)[1]};
}

} // namespace

ZooNet::ZooNet(Architecture arch, InputShape shape, int classes, uint64_t seed)
{
    architecture = arch;
    input = shape;
    numClasses = classes;
    // Torch's default initializers draw from the global generator: seed and build under one lock
    // so that models created concurrently are each determined by their own seed.
    std::lock_guard<std::mutex> lock(torchInitMutex());
    torch::manual_seed(seed);
    build();
}

void ZooNet::addLinear(const std::string& name, int64_t in, int64_t out)
{
    m_linears.push_back(m_root->register_module(name, torch::nn::Linear(in, out)));
    m_linearNames.push_back(name);
    m_steps.push_back({Op::Linear, m_linears.size() - 1});
}

void ZooNet::addConv(const std::string& name, int64_t in, int64_t out)
{
    // ResNet-9's convolutions are followed by BatchNorm and carry no bias; the small CNN's do.
    const bool bias = architecture != Architecture::ResNet9;
    auto options = torch::nn::Conv2dOptions(in, out, 3).stride(1).padding(1).bias(bias);
    m_convs.push_back(m_root->register_module(name, torch::nn::Conv2d(options)));
    m_convNames.push_back(name);
    m_steps.push_back({Op::Conv, m_convs.size() - 1});
}

void ZooNet::addConvBnRelu(const std::string& name, int64_t in, int64_t out)
{
    addConv(name + "_conv", in, out);
    const std::string bnName = name + "_bn";
    m_bns.push_back(m_root->register_module(bnName, torch::nn::BatchNorm2d(out)));
    m_bnNames.push_back(bnName);
    m_steps.push_back({Op::BatchNorm, m_bns.size() - 1});
    m_steps.push_back({Op::Relu});
}

void ZooNet::build()
{
    m_root = std::make_shared<torch::nn::Module>("ZooNet");
    const int64_t k = numClasses;
    switch (architecture) {
    case Architecture::LogisticRegression:
        requireInput(architecture, input, 1, numClasses);
        m_steps.push_back({Op::Flatten});
        addLinear("fc", input.size(), k);
        break;
    case Architecture::Mlp:
        requireInput(architecture, input, 1, numClasses);
        m_steps.push_back({Op::Flatten});
        addLinear("fc1", input.size(), 128);
        m_steps.push_back({Op::Relu});
        addLinear("fc2", 128, 64);
        m_steps.push_back({Op::Relu});
        addLinear("fc3", 64, k);
        break;
    case Architecture::Cnn: {
        requireInput(architecture, input, 4, numClasses);
        addConv("conv1", input.channels, 16);
        m_steps.push_back({Op::Relu});
        m_steps.push_back({Op::MaxPool2});
        addConv("conv2", 16, 32);
        m_steps.push_back({Op::Relu});
        m_steps.push_back({Op::MaxPool2});
        m_steps.push_back({Op::Flatten});
        // Two 2×2 max pools (floor) after size-preserving convolutions.
        addLinear("fc1", 32 * (input.height / 4) * (input.width / 4), 64);
        m_steps.push_back({Op::Relu});
        addLinear("fc2", 64, k);
        break;
    }
    case Architecture::ResNet9:
        // DAWNBench ResNet-9 (Myrtle.ai): prep, layer1 (+residual), layer2, layer3 (+residual),
        // global max pool, linear classifier. Conv-BN-ReLU blocks, bias-free convolutions.
        requireInput(architecture, input, 8, numClasses);
        addConvBnRelu("prep", input.channels, 64);
        addConvBnRelu("layer1", 64, 128);
        m_steps.push_back({Op::MaxPool2});
        m_steps.push_back({Op::PushSkip});
        addConvBnRelu("layer1_res1", 128, 128);
        addConvBnRelu("layer1_res2", 128, 128);
        m_steps.push_back({Op::AddSkip});
        addConvBnRelu("layer2", 128, 256);
        m_steps.push_back({Op::MaxPool2});
        addConvBnRelu("layer3", 256, 512);
        m_steps.push_back({Op::MaxPool2});
        m_steps.push_back({Op::PushSkip});
        addConvBnRelu("layer3_res1", 512, 512);
        addConvBnRelu("layer3_res2", 512, 512);
        m_steps.push_back({Op::AddSkip});
        m_steps.push_back({Op::AdaptiveMaxPool});
        m_steps.push_back({Op::Flatten});
        addLinear("fc", 512, k);
        break;
    case Architecture::TorchScript:
        throw ConfigError("a TorchScript model is imported from a file, not built from the zoo");
    }
}

torch::Tensor ZooNet::forward(const torch::Tensor& x, LayerTrace* trace)
{
    torch::Tensor h = x;
    std::vector<torch::Tensor> skips;
    size_t traced = 0;
    for (const Step& step : m_steps) {
        switch (step.op) {
        case Op::Linear:
        case Op::Conv: {
            torch::Tensor out =
                step.op == Op::Linear ? m_linears[step.index]->forward(h) : m_convs[step.index]->forward(h);
            if (trace && trace->wants(traced))
                trace->record(traced, h, out);
            ++traced;
            h = out;
            break;
        }
        case Op::BatchNorm:
            h = m_bns[step.index]->forward(h);
            break;
        case Op::Relu:
            h = torch::relu(h);
            break;
        case Op::MaxPool2:
            h = torch::max_pool2d(h, {2, 2});
            break;
        case Op::AdaptiveMaxPool:
            h = std::get<0>(torch::adaptive_max_pool2d(h, {1, 1}));
            break;
        case Op::Flatten:
            h = h.flatten(1);
            break;
        case Op::PushSkip:
            skips.push_back(h);
            break;
        case Op::AddSkip:
            h = h + skips.back();
            skips.pop_back();
            break;
        }
    }
    return h;
}

std::vector<std::pair<std::string, torch::Tensor>> ZooNet::namedParameters()
{
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& item : m_root->named_parameters(/*recurse=*/true))
        out.emplace_back(item.key(), item.value());
    return out;
}

std::vector<std::pair<std::string, torch::Tensor>> ZooNet::namedBuffers()
{
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& item : m_root->named_buffers(/*recurse=*/true))
        out.emplace_back(item.key(), item.value());
    return out;
}

std::vector<TracedLayer> ZooNet::tracedLayers()
{
    std::vector<TracedLayer> out;
    for (const Step& step : m_steps) {
        TracedLayer layer;
        if (step.op == Op::Linear) {
            const auto& lin = m_linears[step.index];
            layer.name = m_linearNames[step.index];
            layer.kind = "Linear";
            layer.weight = lin->weight;
            layer.bias = lin->bias;
        } else if (step.op == Op::Conv) {
            const auto& conv = m_convs[step.index];
            const auto& opt = conv->options;
            layer.name = m_convNames[step.index];
            layer.kind = "Conv2d";
            layer.weight = conv->weight;
            layer.bias = conv->bias; // undefined when bias-free
            layer.kernel = pair(opt.kernel_size());
            layer.stride = pair(opt.stride());
            layer.padding = pair(c10::get<torch::ExpandingArray<2>>(opt.padding()));
            layer.dilation = pair(opt.dilation());
            layer.groups = opt.groups();
        } else {
            continue;
        }
        out.push_back(std::move(layer));
    }
    return out;
}

std::vector<LayerInfo> ZooNet::layers()
{
    std::vector<LayerInfo> out;
    for (const auto& child : m_root->named_children()) {
        LayerInfo info;
        info.name = child.key();
        if (child.value()->as<torch::nn::Linear>())
            info.kind = "Linear";
        else if (child.value()->as<torch::nn::Conv2d>())
            info.kind = "Conv2d";
        else if (child.value()->as<torch::nn::BatchNorm2d>())
            info.kind = "BatchNorm2d";
        else
            info.kind = child.value()->name();
        info.perSampleExact = info.kind == "Linear" || info.kind == "Conv2d";
        for (const auto& p : child.value()->parameters(/*recurse=*/false))
            info.parameterCount += p.numel();
        out.push_back(std::move(info));
    }
    return out;
}

void ZooNet::setTraining(bool on)
{
    m_root->train(on);
}

void ZooNet::copyStateFrom(const ZooNet& other)
{
    // Both were built by build() for the same architecture: same names in the same order.
    torch::NoGradGuard noGrad;
    auto dstParams = m_root->parameters(/*recurse=*/true);
    auto srcParams = other.m_root->parameters(/*recurse=*/true);
    for (size_t i = 0; i < dstParams.size(); ++i)
        dstParams[i].copy_(srcParams[i]);
    auto dstBuffers = m_root->buffers(/*recurse=*/true);
    auto srcBuffers = other.m_root->buffers(/*recurse=*/true);
    for (size_t i = 0; i < dstBuffers.size(); ++i)
        dstBuffers[i].copy_(srcBuffers[i]);
}

std::shared_ptr<Net> ZooNet::clone() const
{
    auto copy = std::make_shared<ZooNet>(architecture, input, numClasses, 0);
    const auto params = m_root->parameters(/*recurse=*/true);
    if (!params.empty() && !params.front().device().is_cpu())
        copy->to(params.front().device()); // a clone lives where its original does
    copy->copyStateFrom(*this);
    copy->sourcePath = sourcePath;
    copy->setTraining(m_root->is_training());
    return copy;
}

void ZooNet::to(const torch::Device& device)
{
    m_root->to(device);
}

void ZooNet::reinitialize(uint64_t seed)
{
    // Same initialization as a fresh model with this seed; copied in place so that tensors held
    // by callers (traced layers, optimizers) stay valid.
    ZooNet fresh(architecture, input, numClasses, seed);
    copyStateFrom(fresh);
}

} // namespace attri
