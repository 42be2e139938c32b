#include "model/internal/net.h"

#include "common/error.h"
#include "data/image_set.h"

#include <sstream>

namespace attri {

void LayerTrace::record(size_t index, const torch::Tensor& input, torch::Tensor& output)
{
    if (inputs.size() <= index) {
        inputs.resize(index + 1);
        outputs.resize(index + 1);
    }
    if (retainGrad && output.requires_grad())
        output.retain_grad();
    inputs[index] = input;
    outputs[index] = output;
}

ParamTensor toParamTensor(const std::string& name, const torch::Tensor& t)
{
    ParamTensor p;
    p.name = name;
    p.shape = t.sizes().vec();
    const torch::Tensor flat = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
    const float* data = flat.data_ptr<float>();
    p.values.assign(data, data + flat.numel());
    return p;
}

torch::Tensor fromParamTensor(const ParamTensor& p)
{
    int64_t expected = 1;
    for (int64_t d : p.shape)
        expected *= d;
    if (expected != static_cast<int64_t>(p.values.size())) {
        std::ostringstream msg;
        msg << "parameter '" << p.name << "': shape holds " << expected << " values, but " << p.values.size()
            << " are stored";
        throw FormatError(msg.str());
    }
    // from_blob does not take const data; the clone gives the tensor its own storage.
    return torch::from_blob(const_cast<float*>(p.values.data()), p.shape, torch::kFloat).clone();
}

namespace {

void checkRows(const ImageSet& set, int64_t begin, int64_t end)
{
    if (begin < 0 || begin > end || end > set.count) {
        std::ostringstream msg;
        msg << "image rows [" << begin << ", " << end << ") are outside the set of " << set.count;
        throw Error(msg.str());
    }
    if (static_cast<int64_t>(set.images.size()) != set.count * set.imageSize()
        || static_cast<int64_t>(set.labels.size()) != set.count) {
        std::ostringstream msg;
        msg << "image set is inconsistent: " << set.count << " images of " << set.channels << "×"
            << set.height << "×" << set.width << " need " << set.count * set.imageSize() << " values and "
            << set.count << " labels, it holds " << set.images.size() << " and " << set.labels.size();
        throw Error(msg.str());
    }
}

} // namespace

torch::Tensor imagesTensor(const ImageSet& set, int64_t begin, int64_t end)
{
    checkRows(set, begin, end);
    // A copy of just these rows: the result owns its storage, so callers may modify it and it
    // outlives the set.
    float* rows = const_cast<float*>(set.images.data()) + begin * set.imageSize();
    return torch::from_blob(rows, {end - begin, set.channels, set.height, set.width}, torch::kFloat).clone();
}

torch::Tensor labelsTensor(const ImageSet& set, int64_t begin, int64_t end)
{
    checkRows(set, begin, end);
    int64_t* rows = const_cast<int64_t*>(set.labels.data()) + begin;
    return torch::from_blob(rows, {end - begin}, torch::kLong).clone();
}

torch::Device deviceOf(Net& net)
{
    const auto params = net.namedParameters();
    return params.empty() ? torch::Device(torch::kCPU) : params.front().second.device();
}

std::mutex& torchInitMutex()
{
    static std::mutex mutex;
    return mutex;
}

std::string torchErrorMessage(const std::exception& e)
{
    std::string text;
    if (const auto* c10Error = dynamic_cast<const c10::Error*>(&e))
        text = c10Error->what_without_backtrace();
    else
        text = e.what();
    std::string last;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        const auto first = line.find_first_not_of(" \t\r");
        if (first != std::string::npos)
            last = line.substr(first);
    }
    return last.empty() ? text : last;
}

} // namespace attri
