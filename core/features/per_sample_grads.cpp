#include "features/internal/per_sample_grads.h"

#include "common/error.h"
#include "jobs/cancel_token.h"


#include <algorithm>
#include <limits>

namespace attri {

namespace {

/// Working-set budget of one chunk of per-layer work (unfolded inputs, gradient matrices).
constexpr int64_t kChunkBytes = int64_t(256) << 20;

std::string joined(const std::vector<std::string>& names)
{
    std::string out;
    for (size_t i = 0; i < names.size(); ++i)
        out += (i ? ", " : "") + names[i];
    return out;
}

std::string prefixOf(const std::string& parameterName)
{
    const auto dot = parameterName.rfind('.');
    return dot == std::string::npos ? std::string("(top)") : parameterName.substr(0, dot);
}

std::string leafOf(const std::string& parameterName)
{
    const auto dot = parameterName.rfind('.');
    return dot == std::string::npos ? parameterName : parameterName.substr(dot + 1);
}

/// Parameter groups by module prefix, in order of first appearance.
std::vector<std::pair<std::string, std::vector<std::pair<std::string, torch::Tensor>>>>
parameterGroups(Net& net)
{
    std::vector<std::pair<std::string, std::vector<std::pair<std::string, torch::Tensor>>>> groups;
    for (auto& [name, tensor] : net.namedParameters()) {
        const std::string prefix = prefixOf(name);
        auto it =
            std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == prefix; });
        if (it == groups.end()) {
            groups.push_back({prefix, {}});
            it = groups.end() - 1;
        }
        it->second.emplace_back(leafOf(name), tensor);
    }
    return groups;
}

/// Fills layout, params, out, in and numel of a layer given its weight and (optional) bias.
void setWeightBias(GradLayer& layer, const torch::Tensor& weight, const torch::Tensor& bias)
{
    layer.layout = GradLayout::WeightBias;
    layer.params = {weight};
    layer.out = weight.size(0);
    layer.in = layer.out > 0 ? weight.numel() / layer.out : 0;
    if (bias.defined()) {
        layer.params.push_back(bias);
        layer.in += 1;
    }
    layer.numel = layer.out * layer.in;
}

GradLayer groupLayer(const std::string& name,
                     const std::vector<std::pair<std::string, torch::Tensor>>& params)
{
    GradLayer layer;
    layer.name = name;
    // weight (≥ 2-D) with an optional bias of matching length: a layer like Linear/Conv.
    if (params.size() <= 2 && params[0].first == "weight" && params[0].second.dim() >= 2
        && params[0].second.size(0) > 0) {
        const torch::Tensor& w = params[0].second;
        if (params.size() == 1) {
            setWeightBias(layer, w, torch::Tensor());
            return layer;
        }
        if (params[1].first == "bias" && params[1].second.dim() == 1
            && params[1].second.size(0) == w.size(0)) {
            setWeightBias(layer, w, params[1].second);
            return layer;
        }
    }
    bool columns = true;
    for (const auto& p : params)
        columns = columns && p.second.dim() == 1 && p.second.size(0) == params[0].second.size(0);
    for (const auto& p : params) {
        layer.params.push_back(p.second);
        layer.numel += p.second.numel();
    }
    if (columns) {
        layer.layout = GradLayout::Columns;
        layer.out = params[0].second.size(0);
        layer.in = static_cast<int64_t>(params.size());
    } else {
        layer.layout = GradLayout::Flat;
        layer.out = layer.numel;
        layer.in = 1;
    }
    return layer;
}

/// A ones column (Linear, dim 1 of B×in) or row (Conv, dim 1 of B×in×L) for the bias.
torch::Tensor withOnes(const torch::Tensor& a)
{
    auto sizes = a.sizes().vec();
    sizes[1] = 1;
    return torch::cat({a, torch::ones(sizes, a.options())}, 1);
}


} // namespace

// ---------------------------------------------------------------------------------------------
// Layers

std::vector<std::string> selectableLayers(Net& net)
{
    std::vector<std::string> names;
    const auto traced = net.tracedLayers();
    if (!traced.empty()) {
        for (const auto& t : traced)
            names.push_back(t.name);
        return names;
    }
    for (const auto& g : parameterGroups(net))
        names.push_back(g.first);
    return names;
}

std::vector<GradLayer> resolveLayers(Net& net, const std::vector<std::string>& names)
{
    std::vector<GradLayer> out;
    const auto traced = net.tracedLayers();
    const auto groups = traced.empty() ? parameterGroups(net) : decltype(parameterGroups(net)){};
    for (const std::string& name : names) {
        bool found = false;
        if (!traced.empty()) {
            for (size_t t = 0; t < traced.size(); ++t) {
                if (traced[t].name != name)
                    continue;
                GradLayer layer;
                layer.name = name;
                layer.tracedIndex = static_cast<int64_t>(t);
                layer.traced = traced[t];
                setWeightBias(layer, traced[t].weight, traced[t].bias);
                out.push_back(std::move(layer));
                found = true;
                break;
            }
        } else {
            for (const auto& g : groups) {
                if (g.first != name)
                    continue;
                out.push_back(groupLayer(name, g.second));
                found = true;
                break;
            }
        }
        if (!found)
            throw ConfigError("unknown layer '" + name
                              + "'; the model's layers are: " + joined(selectableLayers(net)));
    }
    return out;
}

torch::Tensor perSampleTargets(const torch::Tensor& logits, const torch::Tensor& labels, FeatureTarget target)
{
    const torch::Tensor y = labels.to(torch::kLong).unsqueeze(1);
    const torch::Tensor logitY = logits.gather(1, y).squeeze(1);
    if (target == FeatureTarget::Loss)
        return torch::logsumexp(logits, 1) - logitY;
    if (logits.size(1) < 2)
        throw ConfigError("the margin target needs at least 2 classes, the model has "
                          + std::to_string(logits.size(1)));
    const torch::Tensor mask = torch::zeros_like(logits, torch::kBool).scatter_(1, y, true);
    const torch::Tensor others = logits.masked_fill(mask, -std::numeric_limits<float>::infinity());
    return logitY - torch::logsumexp(others, 1);
}

torch::Tensor matrixFromFlat(const GradLayer& layer, const torch::Tensor& flat)
{
    const int64_t s = flat.size(0);
    switch (layer.layout) {
    case GradLayout::WeightBias: {
        const bool bias = layer.params.size() > 1;
        const int64_t iw = layer.in - (bias ? 1 : 0);
        torch::Tensor w = flat.narrow(1, 0, layer.out * iw).reshape({s, layer.out, iw});
        if (!bias)
            return w;
        return torch::cat({w, flat.narrow(1, layer.out * iw, layer.out).unsqueeze(2)}, 2);
    }
    case GradLayout::Columns:
        return flat.reshape({s, layer.in, layer.out}).transpose(1, 2).contiguous();
    case GradLayout::Flat:
        return flat.reshape({s, layer.numel, 1});
    }
    return {};
}

// ---------------------------------------------------------------------------------------------
// PerSampleGradients

PerSampleGradients::PerSampleGradients(Net& net, std::vector<GradLayer> layers, FeatureTarget target)
    : m_net(net), m_layers(std::move(layers)), m_target(target)
{
}

torch::Tensor PerSampleGradients::targets(const torch::Tensor& logits, const torch::Tensor& labels) const
{
    return m_targetFunction ? m_targetFunction(logits, labels) : perSampleTargets(logits, labels, m_target);
}

int64_t PerSampleGradients::fullDimension() const
{
    int64_t p = 0;
    for (const auto& l : m_layers)
        p += l.numel;
    return p;
}

bool PerSampleGradients::computeBatched(const torch::Tensor& x, const torch::Tensor& labels)
{
    m_batched = false;
    m_inputs.clear();
    m_deltas.clear();
    m_flat.clear();
    m_device = deviceOf(m_net);
    const size_t tracedCount = m_net.tracedLayers().size();
    LayerTrace trace;
    trace.retainGrad = false; // gradients come from autograd::grad w.r.t. the outputs directly
    trace.enabled.assign(tracedCount, false);
    for (const auto& layer : m_layers) {
        if (layer.tracedIndex < 0 || layer.tracedIndex >= static_cast<int64_t>(tracedCount))
            return false;
        if (layer.isConv() && (layer.traced.groups != 1 || layer.traced.kernel.size() != 2))
            return false;
        trace.enabled[static_cast<size_t>(layer.tracedIndex)] = true;
    }
    if (m_layers.empty())
        return false;

    const torch::Tensor logits = m_net.forward(x.to(m_device), &trace);
    const torch::Tensor targets = this->targets(logits, labels.to(m_device));
    std::vector<torch::Tensor> outputs;
    for (const auto& layer : m_layers) {
        const auto t = static_cast<size_t>(layer.tracedIndex);
        if (t >= trace.outputs.size() || !trace.outputs[t].defined() || !trace.inputs[t].defined())
            return false;
        const torch::Tensor& out = trace.outputs[t];
        // An output changed in place later in the forward (e.g. ReLU(inplace=True)) now carries the
        // history of that operation: its gradient would not be the layer's.
        if (!out.requires_grad() || out._version() != 0)
            return false;
        outputs.push_back(out);
    }
    const auto grads = torch::autograd::grad({targets.sum()}, outputs, {}, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    torch::NoGradGuard noGrad;
    const int64_t batch = x.size(0);
    for (size_t l = 0; l < m_layers.size(); ++l) {
        const GradLayer& layer = m_layers[l];
        const torch::Tensor input = trace.inputs[static_cast<size_t>(layer.tracedIndex)].detach();
        const torch::Tensor delta = grads[l].defined() ? grads[l] : torch::zeros_like(outputs[l]);
        const int64_t iw = layer.in - (layer.params.size() > 1 ? 1 : 0);
        if (layer.isConv()) {
            const auto& g = layer.traced;
            if (input.dim() != 4 || delta.dim() != 4 || input.size(0) != batch
                || input.size(1) * g.kernel[0] * g.kernel[1] != iw || delta.size(1) != layer.out)
                return false;
            // The output size the unfolding will produce must match the layer's output.
            for (int d = 0; d < 2; ++d) {
                const int64_t size =
                    (input.size(2 + d) + 2 * g.padding[d] - g.dilation[d] * (g.kernel[d] - 1) - 1)
                        / g.stride[d]
                    + 1;
                if (size != delta.size(2 + d))
                    return false;
            }
        } else if (input.dim() != 2 || delta.dim() != 2 || input.size(0) != batch || input.size(1) != iw
                   || delta.size(1) != layer.out) {
            return false;
        }
        m_inputs.push_back(input);
        m_deltas.push_back(delta);
    }
    m_logits = logits.detach();
    m_batchSize = batch;
    m_batched = true;
    return true;
}

void PerSampleGradients::computeLoop(const torch::Tensor& x, const torch::Tensor& labels,
                                     const CancelToken* cancel)
{
    m_batched = false;
    m_inputs.clear();
    m_deltas.clear();
    m_flat.clear();
    m_device = deviceOf(m_net);
    const torch::Tensor xs = x.to(m_device), ys = labels.to(m_device);
    const int64_t batch = x.size(0);
    std::vector<torch::Tensor> params;
    for (const auto& layer : m_layers) {
        m_flat.push_back(torch::zeros({batch, layer.numel}, floatOptions()));
        for (const auto& p : layer.params)
            params.push_back(p);
    }
    std::vector<torch::Tensor> logitRows;
    for (int64_t i = 0; i < batch; ++i) {
        if (cancel)
            cancel->throwIfCancelled();
        const torch::Tensor logits = m_net.forward(xs.narrow(0, i, 1));
        const torch::Tensor target = targets(logits, ys.narrow(0, i, 1)).sum();
        const auto grads = torch::autograd::grad({target}, params, {}, /*retain_graph=*/false,
                                                 /*create_graph=*/false, /*allow_unused=*/true);
        torch::NoGradGuard noGrad;
        size_t k = 0;
        for (size_t l = 0; l < m_layers.size(); ++l) {
            torch::Tensor row = m_flat[l].select(0, i);
            int64_t offset = 0;
            for (const auto& p : m_layers[l].params) {
                const int64_t n = p.numel();
                if (grads[k].defined())
                    row.narrow(0, offset, n).copy_(grads[k].reshape({-1}));
                offset += n;
                ++k;
            }
        }
        logitRows.push_back(logits.detach());
    }
    m_logits = batch > 0 ? torch::cat(logitRows, 0) : torch::empty({0, 0}, floatOptions());
    m_batchSize = batch;
}

int64_t PerSampleGradients::positions(size_t l) const
{
    if (!m_batched || !m_layers[l].isConv())
        return 1;
    return m_deltas[l].size(2) * m_deltas[l].size(3);
}

int64_t PerSampleGradients::chunkSize(size_t l, int64_t extraPerSample) const
{
    const GradLayer& layer = m_layers[l];
    const int64_t perSample = (positions(l) * (layer.in + layer.out) + layer.numel + extraPerSample)
                              * static_cast<int64_t>(sizeof(float));
    return std::max<int64_t>(1,
                             std::min<int64_t>(m_batchSize, kChunkBytes / std::max<int64_t>(1, perSample)));
}

std::pair<torch::Tensor, torch::Tensor> PerSampleGradients::factors(size_t l, int64_t s0, int64_t s1) const
{
    if (!m_batched)
        throw Error("per-sample gradient factors exist only on the batched path");
    const GradLayer& layer = m_layers[l];
    const bool bias = layer.params.size() > 1;
    torch::Tensor input = m_inputs[l].narrow(0, s0, s1 - s0);
    torch::Tensor delta = m_deltas[l].narrow(0, s0, s1 - s0);
    if (layer.isConv()) {
        const auto& g = layer.traced;
        namespace F = torch::nn::functional;
        input = F::unfold(input, F::UnfoldFuncOptions({g.kernel[0], g.kernel[1]})
                                     .dilation({g.dilation[0], g.dilation[1]})
                                     .padding({g.padding[0], g.padding[1]})
                                     .stride({g.stride[0], g.stride[1]}));
        delta = delta.reshape({s1 - s0, layer.out, -1});
    }
    if (bias)
        input = withOnes(input);
    return {input, delta};
}

void PerSampleGradients::writeLayerFlat(size_t l, int64_t s0, int64_t s1, torch::Tensor dst) const
{
    const GradLayer& layer = m_layers[l];
    if (!m_batched) {
        dst.copy_(m_flat[l].narrow(0, s0, s1 - s0));
        return;
    }
    const int64_t s = s1 - s0;
    const bool bias = layer.params.size() > 1;
    const int64_t iw = layer.in - (bias ? 1 : 0);
    torch::Tensor weightPart = dst.narrow(1, 0, layer.out * iw).view({s, layer.out, iw});
    if (layer.isConv()) {
        // Factors without the ones row: the bias gradient is the sum of δ over positions.
        const auto& g = layer.traced;
        namespace F = torch::nn::functional;
        const torch::Tensor a =
            F::unfold(m_inputs[l].narrow(0, s0, s), F::UnfoldFuncOptions({g.kernel[0], g.kernel[1]})
                                                        .dilation({g.dilation[0], g.dilation[1]})
                                                        .padding({g.padding[0], g.padding[1]})
                                                        .stride({g.stride[0], g.stride[1]}));
        const torch::Tensor delta = m_deltas[l].narrow(0, s0, s).reshape({s, layer.out, -1});
        weightPart.copy_(torch::bmm(delta, a.transpose(1, 2)));
        if (bias)
            dst.narrow(1, layer.out * iw, layer.out).copy_(delta.sum(2));
    } else {
        const torch::Tensor a = m_inputs[l].narrow(0, s0, s);
        const torch::Tensor delta = m_deltas[l].narrow(0, s0, s);
        torch::mul_out(weightPart, delta.unsqueeze(2), a.unsqueeze(1));
        if (bias)
            dst.narrow(1, layer.out * iw, layer.out).copy_(delta);
    }
}

torch::Tensor PerSampleGradients::layerFlat(size_t l, int64_t s0, int64_t s1) const
{
    torch::NoGradGuard noGrad;
    torch::Tensor out = torch::empty({s1 - s0, m_layers[l].numel}, floatOptions());
    writeLayerFlat(l, s0, s1, out);
    return out;
}

torch::Tensor PerSampleGradients::flat() const
{
    torch::Tensor out = torch::empty({m_batchSize, fullDimension()}, floatOptions());
    flatInto(out);
    return out;
}

void PerSampleGradients::flatInto(torch::Tensor out) const
{
    torch::NoGradGuard noGrad;
    if (out.size(0) != m_batchSize || out.size(1) != fullDimension())
        throw Error("per-sample gradients of " + std::to_string(m_batchSize) + "×"
                    + std::to_string(fullDimension()) + " values cannot fill a buffer of "
                    + std::to_string(out.size(0)) + "×" + std::to_string(out.size(1)));
    int64_t offset = 0;
    for (size_t l = 0; l < m_layers.size(); ++l) {
        const int64_t n = m_layers[l].numel;
        const int64_t chunk = chunkSize(l, 0);
        for (int64_t s0 = 0; s0 < m_batchSize; s0 += chunk) {
            const int64_t s1 = std::min(m_batchSize, s0 + chunk);
            writeLayerFlat(l, s0, s1, out.narrow(0, s0, s1 - s0).narrow(1, offset, n));
        }
        offset += n;
    }
}

torch::Tensor PerSampleGradients::squaredNorms(int64_t s0, int64_t s1) const
{
    torch::NoGradGuard noGrad;
    torch::Tensor sq = torch::zeros({s1 - s0}, torch::TensorOptions().dtype(torch::kDouble).device(m_device));
    for (size_t l = 0; l < m_layers.size(); ++l) {
        if (m_batched && !m_layers[l].isConv()) {
            const auto [input, delta] = factors(l, s0, s1);
            sq.add_(input.square().sum(1, false, torch::kDouble) * delta.square().sum(1, false, torch::kDouble));
            continue;
        }
        const int64_t chunk = chunkSize(l, 0);
        for (int64_t c0 = s0; c0 < s1; c0 += chunk) {
            const int64_t c1 = std::min(s1, c0 + chunk);
            sq.narrow(0, c0 - s0, c1 - c0).add_(layerFlat(l, c0, c1).square().sum(1, false, torch::kDouble));
        }
    }
    return sq;
}

torch::Tensor PerSampleGradients::matrix(size_t l, int64_t s0, int64_t s1) const
{
    torch::NoGradGuard noGrad;
    return matrixFromFlat(m_layers[l], layerFlat(l, s0, s1));
}

} // namespace attri
