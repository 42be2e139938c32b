#include "model/model.h"

#include "common/hash.h"

#include "common/error.h"
#include "common/text.h"
#include "model/internal/net.h"
#include "model/private/script_net.h"
#include "model/private/zoo_nets.h"

#include <sstream>

namespace attri {

namespace {

std::string shapeText(const std::vector<int64_t>& shape)
{
    return "[" + dimsText(shape) + "]";
}

std::string inputText(InputShape input)
{
    return std::to_string(input.channels) + "×" + std::to_string(input.height) + "×"
           + std::to_string(input.width);
}

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

/// Checks `given` against the live tensors by position, name and shape; returns the values as
/// tensors (which also checks each value count).
std::vector<torch::Tensor> checked(const char* what, const NamedTensors& live, const ParamSet& given)
{
    if (given.size() != live.size()) {
        std::ostringstream msg;
        msg << "the model has " << live.size() << " " << what << "s, " << given.size() << " were given";
        if (given.size() < live.size())
            msg << " (first missing: '" << live[given.size()].first << "')";
        else
            msg << " (first extra: '" << given[live.size()].name << "')";
        throw FormatError(msg.str());
    }
    std::vector<torch::Tensor> values;
    values.reserve(given.size());
    for (size_t i = 0; i < live.size(); ++i) {
        const auto liveShape = live[i].second.sizes().vec();
        if (given[i].name != live[i].first || given[i].shape != liveShape) {
            std::ostringstream msg;
            msg << what << " " << i << ": expected '" << live[i].first << "' " << shapeText(liveShape)
                << ", got '" << given[i].name << "' " << shapeText(given[i].shape);
            throw FormatError(msg.str());
        }
        values.push_back(fromParamTensor(given[i]));
    }
    return values;
}

void copyInto(const NamedTensors& live, const std::vector<torch::Tensor>& values)
{
    torch::NoGradGuard noGrad;
    for (size_t i = 0; i < live.size(); ++i)
        live[i].second.copy_(values[i]);
}

} // namespace

Model::Model(std::shared_ptr<Net> net) : m_net(std::move(net))
{
    if (!m_net)
        throw Error("Model needs a network");
}

Model Model::create(Architecture arch, InputShape input, int numClasses, uint64_t seed)
{
    auto net = std::make_shared<ZooNet>(arch, input, numClasses, seed);
    net->setTraining(false);
    return Model(std::move(net));
}

Model Model::importTorchScript(const std::string& path)
{
    auto net = std::make_shared<ScriptNet>(path);
    net->setTraining(false);
    return Model(std::move(net));
}

Architecture Model::architecture() const
{
    return m_net->architecture;
}
InputShape Model::inputShape() const
{
    return m_net->input;
}
int Model::numClasses() const
{
    return m_net->numClasses;
}
const std::string& Model::sourcePath() const
{
    return m_net->sourcePath;
}

ParamSet Model::parameters() const
{
    ParamSet out;
    for (const auto& [name, tensor] : m_net->namedParameters())
        out.push_back(toParamTensor(name, tensor));
    return out;
}

ParamSet Model::buffers() const
{
    ParamSet out;
    for (const auto& [name, tensor] : m_net->namedBuffers())
        out.push_back(toParamTensor(name, tensor));
    return out;
}

void Model::setParameters(const ParamSet& params, const ParamSet& buffers)
{
    // Everything is checked before anything changes, so a failure leaves the model untouched.
    const NamedTensors liveParams = m_net->namedParameters();
    const NamedTensors liveBuffers = m_net->namedBuffers();
    const auto paramValues = checked("parameter", liveParams, params);
    std::vector<torch::Tensor> bufferValues;
    if (!buffers.empty())
        bufferValues = checked("buffer", liveBuffers, buffers);
    copyInto(liveParams, paramValues);
    if (!buffers.empty())
        copyInto(liveBuffers, bufferValues);
}

int64_t Model::parameterCount() const
{
    int64_t count = 0;
    for (const auto& item : m_net->namedParameters())
        count += item.second.numel();
    return count;
}

std::vector<LayerInfo> Model::layers() const
{
    return m_net->layers();
}

void Model::checkCompatible(InputShape input, int numClasses) const
{
    const std::string name = m_net->architecture == Architecture::TorchScript
                                 ? m_net->sourcePath
                                 : "'" + toString(m_net->architecture) + "'";
    if (input.channels < 1 || input.height < 1 || input.width < 1 || numClasses < 1)
        throw ConfigError("model " + name + ": the data gives invalid images " + inputText(input)
                          + " or class count " + std::to_string(numClasses));
    torch::Tensor logits;
    try {
        torch::NoGradGuard noGrad;
        logits = m_net->forward(torch::zeros({2, input.channels, input.height, input.width}));
    } catch (const std::exception& e) {
        throw ConfigError("model " + name + " expects a different input: " + torchErrorMessage(e)
                          + " (data gives " + inputText(input) + ")");
    }
    if (logits.dim() != 2 || logits.size(0) != 2 || logits.size(1) != numClasses) {
        throw ConfigError("model " + name + " produces outputs of shape " + shapeText(logits.sizes().vec())
                          + " for 2 images, expected [2×" + std::to_string(numClasses)
                          + "] (one logit per class of the data)");
    }
    m_net->input = input;
    m_net->numClasses = numClasses;
}

void Model::reinitialize(uint64_t seed)
{
    if (m_net->initialState)
        setParameters(m_net->initialState->params, m_net->initialState->buffers);
    else
        m_net->reinitialize(seed);
}

void Model::setInitialState(const ParamSet& params, const ParamSet& buffers)
{
    // Checked by loading it into a copy, so a mismatch leaves this model as it was.
    clone().setParameters(params, buffers);
    auto state = std::make_shared<Checkpoint>();
    state->params = params;
    state->buffers = buffers;
    m_net->initialState = std::move(state);
}

Model Model::clone() const
{
    Model copy(m_net->clone());
    copy.m_net->initialState = m_net->initialState;
    return copy;
}

Net& Model::net() const
{
    return *m_net;
}

void hashParametersAndBuffers(Sha256& h, const Model& model)
{
    for (const ParamSet& set : {model.parameters(), model.buffers()}) {
        h.updateInt(static_cast<int64_t>(set.size()));
        for (const ParamTensor& p : set) {
            h.updateString(p.name);
            for (int64_t d : p.shape)
                h.updateInt(d);
            h.update(p.values.data(), p.values.size() * sizeof(float));
        }
    }
}

void hashModelState(Sha256& h, const Model& model)
{
    h.updateString(toString(model.architecture()));
    h.updateInt(model.numClasses());
    hashParametersAndBuffers(h, model);
}

} // namespace attri
