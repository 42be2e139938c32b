#include "features/featurizer.h"

#include "common/error.h"
#include "data/image_set.h"
#include "features/internal/per_sample_grads.h"
#include "features/internal/projectors.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "model/internal/net.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>

namespace attri {

namespace {

/// Largest full-gradient feature (projection none) a featurization will produce per sample.
constexpr int64_t kMaxUnprojected = 200000;

std::string trim(const std::string& s)
{
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string::npos)
        return {};
    const auto last = s.find_last_not_of(" \t");
    return s.substr(first, last - first + 1);
}

std::string joined(const std::vector<std::string>& names)
{
    std::string out;
    for (size_t i = 0; i < names.size(); ++i)
        out += (i ? ", " : "") + names[i];
    return out;
}

std::string shapeText(int64_t c, int64_t h, int64_t w)
{
    return std::to_string(c) + "×" + std::to_string(h) + "×" + std::to_string(w);
}

void checkSet(const Model& model, const ImageSet& set)
{
    const InputShape input = model.inputShape();
    if (input.size() > 0 && set.count > 0 && !(input == InputShape{set.channels, set.height, set.width})) {
        throw ConfigError("cannot featurize " + shapeText(set.channels, set.height, set.width)
                          + " images with a model that expects "
                          + shapeText(input.channels, input.height, input.width));
    }
    if (static_cast<int64_t>(set.labels.size()) != set.count
        || static_cast<int64_t>(set.images.size()) != set.count * set.imageSize()) {
        std::ostringstream msg;
        msg << "image set is inconsistent: " << set.count << " images of "
            << shapeText(set.channels, set.height, set.width) << " need " << set.count * set.imageSize()
            << " values and " << set.count << " labels, it holds " << set.images.size() << " and "
            << set.labels.size();
        throw Error(msg.str());
    }
    const int classes = model.numClasses();
    for (int64_t i = 0; i < set.count; ++i) {
        const int64_t y = set.labels[static_cast<size_t>(i)];
        if (y < 0 || (classes > 0 && y >= classes)) {
            std::ostringstream msg;
            msg << "sample " << i << " has label " << y << ", outside the model's classes [0, " << classes
                << ")";
            throw ConfigError(msg.str());
        }
    }
}

/// Throws naming the first samples of the block (starting at row `first`) with NaN/Inf features.
void checkFinite(const Eigen::Map<const RowMatrixF>& block, int64_t first)
{
    // One vectorised sum over the whole block: it is finite only when every value is (a NaN or
    // an infinity propagates). Rows are examined only when it is not; a sum that merely
    // overflowed finds no bad row below and passes.
    if (std::isfinite(block.sum()))
        return;
    std::vector<int64_t> bad;
    for (int64_t r = 0; r < block.rows(); ++r) {
        if (!block.row(r).allFinite())
            bad.push_back(first + r);
    }
    if (bad.empty())
        return;
    const size_t shown = std::min<size_t>(bad.size(), 8);
    std::ostringstream msg;
    msg << "non-finite gradients for samples ";
    for (size_t j = 0; j < shown; ++j)
        msg << (j ? ", " : "") << bad[j];
    if (bad.size() > shown)
        msg << ", …";
    msg << " (" << bad.size() << " of the " << block.rows() << " samples in rows [" << first << ", "
        << first + block.rows() << ")); check those images (NaN/Inf values) and the model's parameters";
    throw Error(msg.str());
}

/// Throws naming the first parameter with NaN/Inf values, its flat index and how many there are:
/// every gradient would be non-finite, and the parameter is the cause to report.
void checkParametersFinite(const Model& model)
{
    for (const ParamTensor& t : model.parameters()) {
        int64_t bad = 0, first = -1;
        for (size_t j = 0; j < t.values.size(); ++j)
            if (!std::isfinite(t.values[j])) {
                if (first < 0)
                    first = static_cast<int64_t>(j);
                ++bad;
            }
        if (bad > 0) {
            std::ostringstream msg;
            msg << "the model's parameter " << t.name << " has " << bad << " non-finite value(s) (NaN/Inf) of "
                << t.values.size() << ", the first at flat index " << first
                << "; the checkpoint is unusable (training diverged?): retrain with a smaller learning rate";
            throw ConfigError(msg.str());
        }
    }
}

std::string layerDimsText(const std::vector<GradLayer>& layers)
{
    std::ostringstream s;
    int64_t total = 0;
    for (size_t l = 0; l < layers.size(); ++l) {
        s << (l ? ", " : "") << layers[l].name << " " << layers[l].out << "×" << layers[l].in;
        total += layers[l].numel;
    }
    s << "; " << total << " coordinates in all";
    return s.str();
}

} // namespace

std::vector<std::string> selectLayers(const Model& model, const std::string& layers)
{
    const std::vector<std::string> available = selectableLayers(model.net());
    if (available.empty())
        throw ConfigError("the model has no parameters to featurize");
    const std::string spec = trim(layers);
    if (spec == "all")
        return available;
    if (spec == "last")
        return {available.back()};
    std::vector<bool> chosen(available.size(), false);
    bool any = false;
    std::istringstream parts(spec);
    for (std::string part; std::getline(parts, part, ',');) {
        const std::string name = trim(part);
        if (name.empty())
            continue;
        const auto it = std::find(available.begin(), available.end(), name);
        if (it == available.end())
            throw ConfigError("unknown layer '" + name + "' in layers \"" + layers
                              + "\"; the model's layers are: " + joined(available)
                              + " (or \"all\", \"last\")");
        chosen[static_cast<size_t>(it - available.begin())] = true;
        any = true;
    }
    if (!any)
        throw ConfigError("layers \"" + layers
                          + "\" names no layer; expected \"all\", \"last\" or some of: " + joined(available));
    // Network order, each layer once: the feature layout does not depend on how the list is spelled.
    std::vector<std::string> out;
    for (size_t i = 0; i < available.size(); ++i) {
        if (chosen[i])
            out.push_back(available[i]);
    }
    return out;
}

namespace {

/// Where the driver writes each batch's features: `rows` gives room for rows [begin, begin + count)
/// of `dimension` floats (row-major, contiguous), `filled` is called once they hold their values.
struct FeatureDestination {
    std::function<float*(int64_t begin, int64_t count, int64_t dimension)> rows;
    std::function<void(int64_t begin, int64_t count)> filled;
};

/// `sampleOffset`: index of the set's first sample in the caller's numbering (messages and
/// progress count from it). `ownProgress`: false when the caller has called progress.begin for
/// the whole set (featurizeRows), so a block starting at row 0 does not restart the stage.
FeatureInfo featurizeInto(const Model& model, const ImageSet& set, const FeatureOptions& options,
                          const FeatureDestination& destination, SampleStats* stats,
                          ProgressSink& progress, const CancelToken& cancel, int64_t sampleOffset = 0,
                          bool ownProgress = true)
{
    options.validate();
    // On a device other than the CPU a clone of the model moves there; the caller's stays put.
    const torch::Device device = computeDevice();
    const Model local = device.is_cpu() ? model : model.clone();
    Net& net = local.net();
    if (!device.is_cpu())
        net.to(device);
    FeatureInfo info;
    info.layers = selectLayers(model, options.layers);
    std::vector<GradLayer> layers = resolveLayers(net, info.layers);
    checkSet(model, set);
    checkParametersFinite(model);

    PerSampleGradients grads(net, layers, options.target);
    info.fullDimension = grads.fullDimension();

    std::unique_ptr<DenseProjector> dense;
    std::unique_ptr<KronProjector> kron;
    switch (options.projection) {
    case ProjectionKind::None:
        if (info.fullDimension > kMaxUnprojected) {
            std::ostringstream msg;
            msg << "projection 'none' would give " << info.fullDimension << " features per sample for layers "
                << joined(info.layers) << " (limit " << kMaxUnprojected
                << "); choose a projection (kron, gaussian, rademacher) with kMax, or fewer layers";
            throw ConfigError(msg.str());
        }
        info.dimension = info.fullDimension;
        break;
    case ProjectionKind::Gaussian:
    case ProjectionKind::Rademacher:
        dense = std::make_unique<DenseProjector>(options.projection, options.seed, info.fullDimension,
                                                 options.kMax, device);
        info.dimension = options.kMax;
        break;
    case ProjectionKind::Kronecker: {
        std::vector<KronLayerDims> dims;
        for (const auto& l : layers)
            dims.push_back({l.out, l.in});
        if (options.kMax > kroneckerCapacity(dims)) {
            std::ostringstream msg;
            msg << "k=" << options.kMax << " exceeds the feature space of the selected layers ("
                << layerDimsText(layers) << "); choose kMax ≤ " << kroneckerCapacity(dims)
                << " or more layers";
            throw ConfigError(msg.str());
        }
        kron = std::make_unique<KronProjector>(dims, options.kMax, options.seed, device);
        info.dimension = options.kMax;
        break;
    }
    }

    // The batched path needs traced Linear/Conv2d layers with ungrouped convolutions.
    bool loop = options.perSampleLoop;
    for (const auto& l : layers)
        loop = loop || l.tracedIndex < 0 || (l.isConv() && l.traced.groups != 1);
    info.batched = !loop;

    const int64_t n = set.count;
    double normSum = 0.0; // Σ ‖g_i‖² over the first kGradientNormSamples samples
    int64_t normCount = 0;
    if (stats) {
        stats->loss.assign(static_cast<size_t>(n), 0.0f);
        stats->trueProb.assign(static_cast<size_t>(n), 0.0f);
    }
    // Dense projections read the batch's flat gradients from one buffer, reused for every batch.
    torch::Tensor flatBuffer;
    if (dense)
        flatBuffer = torch::empty({std::min(n, options.batchSize), info.fullDimension},
                                  torch::TensorOptions().dtype(torch::kFloat).device(device));
    net.setTraining(false);
    if (ownProgress)
        progress.begin("featurize", n);
    for (int64_t begin = 0; begin < n; begin += options.batchSize) {
        cancel.throwIfCancelled();
        const int64_t end = std::min(n, begin + options.batchSize);
        float* rows = destination.rows(begin, end - begin, info.dimension);
        try {
            const torch::Tensor x = imagesTensor(set, begin, end).to(device);
            const torch::Tensor y = labelsTensor(set, begin, end).to(device);
            if (loop || !grads.computeBatched(x, y)) {
                // Once the trace proved unusable, stay on the loop for the remaining batches.
                loop = true;
                info.batched = false;
                grads.computeLoop(x, y, &cancel);
            }
            torch::NoGradGuard noGrad;
            // The block's own memory as a tensor: results land in it without another copy.
            torch::Tensor block = torch::from_blob(rows, {end - begin, info.dimension}, torch::kFloat);
            // Off the CPU the features are formed on the device and copied into the block.
            torch::Tensor features = device.is_cpu()
                                         ? block
                                         : torch::empty({end - begin, info.dimension},
                                                        torch::TensorOptions().dtype(torch::kFloat).device(device));
            if (kron) {
                features.zero_();
                kron->applyInto(grads, features);
            }
            else if (dense) {
                const torch::Tensor flat = flatBuffer.narrow(0, 0, end - begin);
                grads.flatInto(flat);
                features.copy_(dense->apply(flat));
            }
            else
                grads.flatInto(features);
            if (!device.is_cpu())
                block.copy_(features);
            if (stats) {
                const torch::Tensor logp =
                    torch::log_softmax(grads.logits(), 1).gather(1, y.unsqueeze(1)).squeeze(1);
                const torch::Tensor loss = logp.neg().to(torch::kCPU).contiguous();
                const torch::Tensor prob = logp.exp().to(torch::kCPU).contiguous();
                std::copy(loss.data_ptr<float>(), loss.data_ptr<float>() + (end - begin),
                          stats->loss.begin() + begin);
                std::copy(prob.data_ptr<float>(), prob.data_ptr<float>() + (end - begin),
                          stats->trueProb.begin() + begin);
            }
            // Exact ‖g_i‖² of the first samples.
            const int64_t normEnd = std::min(end, kGradientNormSamples);
            if (begin < normEnd)
                normSum += grads.squaredNorms(0, normEnd - begin).sum().item<double>();
            normCount += std::max<int64_t>(0, normEnd - begin);
        } catch (const c10::Error& e) {
            std::ostringstream msg;
            msg << "featurization failed on samples [" << sampleOffset + begin << ", " << sampleOffset + end
                << "): " << torchErrorMessage(e);
            throw Error(msg.str());
        }
        checkFinite(Eigen::Map<const RowMatrixF>(rows, end - begin, info.dimension), sampleOffset + begin);
        if (destination.filled)
            destination.filled(begin, end - begin);
        progress.advance(sampleOffset + end);
    }
    info.gradientNormSamples = normCount;
    if (normCount > 0)
        info.gradientSqNormMean = normSum / static_cast<double>(normCount);
    return info;
}

} // namespace

double meanGaussNewtonTrace(const Model& model, const ImageSet& set, int64_t count, const CancelToken& cancel)
{
    count = std::min(count, set.count);
    if (count <= 0)
        return std::numeric_limits<double>::quiet_NaN();
    Net& net = model.net();
    checkSet(model, set);
    PerSampleGradients grads(net, resolveLayers(net, selectableLayers(net)), FeatureTarget::Margin);
    constexpr int64_t kBatch = 128;
    double sum = 0.0;
    try {
        for (int64_t begin = 0; begin < count; begin += kBatch) {
            cancel.throwIfCancelled();
            const int64_t end = std::min(count, begin + kBatch);
            const torch::Tensor x = imagesTensor(set, begin, end), y = labelsTensor(set, begin, end);
            if (!grads.computeBatched(x, y))
                grads.computeLoop(x, y, &cancel);
            torch::NoGradGuard noGrad;
            const torch::Tensor p = torch::softmax(grads.logits().to(torch::kDouble), 1)
                                        .gather(1, y.to(grads.logits().device()).unsqueeze(1))
                                        .squeeze(1);
            sum += (p * (1 - p) * grads.squaredNorms(0, end - begin)).sum().item<double>();
        }
    } catch (const c10::Error& e) {
        throw Error("Gauss–Newton trace failed: " + torchErrorMessage(e));
    }
    return sum / static_cast<double>(count);
}

int64_t selectedParameterCount(const Model& model, const std::string& layers)
{
    int64_t p = 0;
    for (const GradLayer& l : resolveLayers(model.net(), selectLayers(model, layers)))
        p += l.numel;
    return p;
}

FeatureInfo featurize(const Model& model, const ImageSet& set, const FeatureOptions& options,
                      const FeatureBlockSink& sink, SampleStats* stats, ProgressSink& progress,
                      const CancelToken& cancel)
{
    // One block, reused for every batch (a fresh batch-sized allocation per batch costs page
    // faults comparable to the gradient computation itself); only the last, shorter batch
    // reallocates.
    RowMatrixF block;
    FeatureDestination destination;
    destination.rows = [&](int64_t, int64_t count, int64_t dimension) {
        if (block.rows() != count || block.cols() != dimension)
            block.resize(count, dimension);
        return block.data();
    };
    destination.filled = [&](int64_t begin, int64_t) {
        if (sink)
            sink(begin, block);
    };
    return featurizeInto(model, set, options, destination, stats, progress, cancel);
}

RowMatrixF featurizeToMatrix(const Model& model, const ImageSet& set, const FeatureOptions& options,
                             FeatureInfo* info, SampleStats* stats, ProgressSink& progress,
                             const CancelToken& cancel)
{
    // Batches are computed straight into their rows of the result: no block copy.
    RowMatrixF out;
    FeatureDestination destination;
    destination.rows = [&](int64_t begin, int64_t, int64_t dimension) {
        if (out.rows() != set.count || out.cols() != dimension)
            out.resize(set.count, dimension);
        return out.row(begin).data();
    };
    const FeatureInfo result = featurizeInto(model, set, options, destination, stats, progress, cancel);
    if (out.rows() != set.count || out.cols() != result.dimension)
        out.resize(set.count, result.dimension);
    if (info)
        *info = result;
    return out;
}

RowMatrixF featurizeRows(const Model& model, const ImageSet& set, int64_t begin, int64_t end,
                         const FeatureOptions& options, FeatureInfo* info, SampleStats* stats, ProgressSink& progress,
                         const CancelToken& cancel)
{
    if (begin < 0 || end <= begin || end > set.count)
        throw ConfigError("featurize: rows [" + std::to_string(begin) + ", " + std::to_string(end)
                          + ") are not inside the set of " + std::to_string(set.count));
    std::vector<int64_t> rows(static_cast<size_t>(end - begin));
    for (size_t i = 0; i < rows.size(); ++i)
        rows[i] = begin + static_cast<int64_t>(i);
    const ImageSet part = set.select(rows);
    RowMatrixF out(end - begin, 0);
    FeatureDestination destination;
    destination.rows = [&](int64_t first, int64_t, int64_t dimension) {
        if (out.cols() != dimension)
            out.resize(end - begin, dimension);
        return out.row(first).data();
    };
    const FeatureInfo result = featurizeInto(model, part, options, destination, stats, progress, cancel, begin,
                                             /*ownProgress=*/false);
    if (info)
        *info = result;
    return out;
}

} // namespace attri
