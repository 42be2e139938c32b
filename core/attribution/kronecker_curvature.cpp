#include "attribution/kronecker_curvature.h"

#include "common/error.h"
#include "common/row_matrix.h"
#include "common/text.h"
#include "data/image_set.h"
#include "features/featurizer.h"
#include "features/internal/per_sample_grads.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/internal/net.h"
#include "model/model.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>

namespace attri {

namespace {


/// A uniform number in [0, 1) determined by (seed, index) alone (splitmix64 of both).
double uniformAt(uint64_t seed, int64_t index)
{
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index) + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

/// Labels drawn from softmax(logits) by inverse CDF, sample r using uniformAt(seed, first + r).
torch::Tensor sampleLabels(const torch::Tensor& logits, uint64_t seed, int64_t first)
{
    const torch::Tensor p = torch::softmax(logits.detach().to(torch::kDouble).cpu(), 1).contiguous();
    const auto acc = p.accessor<double, 2>();
    torch::Tensor labels = torch::empty({p.size(0)}, torch::kLong);
    auto out = labels.accessor<int64_t, 1>();
    for (int64_t r = 0; r < p.size(0); ++r) {
        const double u = uniformAt(seed, first + r);
        double cumulative = 0.0;
        int64_t label = p.size(1) - 1;
        for (int64_t c = 0; c < p.size(1); ++c) {
            cumulative += acc[r][c];
            if (u < cumulative) {
                label = c;
                break;
            }
        }
        out[r] = label;
    }
    return labels;
}

Eigen::MatrixXd toEigen(const torch::Tensor& t)
{
    const torch::Tensor c = t.to(torch::kDouble).cpu().contiguous();
    return Eigen::Map<const RowMatrixD>(c.data_ptr<double>(), c.size(0), c.size(1));
}

torch::Tensor toTorch(const Eigen::MatrixXd& m, const torch::Device& device)
{
    const RowMatrixD r = m;
    return torch::from_blob(const_cast<double*>(r.data()), {r.rows(), r.cols()}, torch::kDouble).clone().to(device);
}

void checkSet(const Model& model, const ImageSet& set)
{
    if (set.count < 1)
        throw ConfigError("K-FAC: the training set is empty");
    if (set.imageSize() != model.inputShape().size())
        throw ConfigError("K-FAC: the training set has images of " + std::to_string(set.imageSize())
                          + " values, the model expects " + std::to_string(model.inputShape().size()));
    if (static_cast<int64_t>(set.labels.size()) != set.count
        || static_cast<int64_t>(set.images.size()) != set.count * set.imageSize())
        throw ConfigError("K-FAC: the training set is inconsistent (" + std::to_string(set.count) + " images, "
                          + std::to_string(set.images.size()) + " values, " + std::to_string(set.labels.size())
                          + " labels)");
    for (int64_t i = 0; i < set.count; ++i)
        if (set.labels[static_cast<size_t>(i)] < 0 || set.labels[static_cast<size_t>(i)] >= model.numClasses())
            throw ConfigError("K-FAC: training label " + std::to_string(set.labels[static_cast<size_t>(i)])
                              + " at index " + std::to_string(i) + " is outside the model's "
                              + std::to_string(model.numClasses()) + " classes");
}

/// Decomposes a symmetric factor: eigenvalues ascending (clipped at 0) and eigenvectors.
void decompose(const Eigen::MatrixXd& factor, Eigen::VectorXd* values, Eigen::MatrixXd* vectors)
{
    const Eigen::MatrixXd symmetric = 0.5 * (factor + factor.transpose());
    symmetricEigen(symmetric, values, vectors);
    *values = values->cwiseMax(0.0);
}

/// Runs the batches of `train` through the batched per-sample machinery, calling
/// visit(layer index, first row of the chunk in `train`, inputs with the bias ones, output
/// gradients; float) per memory-bounded chunk.
template <typename Visit>
void streamFactors(PerSampleGradients& grads, const ImageSet& train, const KroneckerOptions& options,
                   int64_t& batchBegin, const std::string& stage, ProgressSink& progress, const CancelToken& cancel,
                   Visit visit)
{
    progress.begin(stage, train.count);
    for (int64_t begin = 0; begin < train.count; begin += options.batchSize) {
        cancel.throwIfCancelled();
        const int64_t end = std::min(train.count, begin + options.batchSize);
        batchBegin = begin;
        if (!grads.computeBatched(imagesTensor(train, begin, end), labelsTensor(train, begin, end))) {
            std::string names;
            for (const auto& l : grads.layers())
                names += (names.empty() ? "" : ", ") + l.name;
            throw ConfigError("K-FAC: the inputs and output gradients of layers " + names
                              + " cannot be traced in one batched pass (a grouped convolution, a layer output changed "
                                "in place, or an unexpected shape); K-FAC needs them");
        }
        torch::NoGradGuard noGrad;
        for (size_t l = 0; l < grads.layers().size(); ++l) {
            const int64_t chunk = grads.chunkSize(l, 2 * grads.layers()[l].numel);
            for (int64_t s0 = 0; s0 < end - begin; s0 += chunk) {
                const int64_t s1 = std::min(end - begin, s0 + chunk);
                auto [a, delta] = grads.factors(l, s0, s1);
                visit(l, begin + s0, a, delta);
            }
        }
        progress.advance(end);
    }
}

/// The selected layers, each a traced Linear or ungrouped Conv2d layer (ConfigError naming one
/// that is not).
std::vector<GradLayer> factorableLayers(const Model& model, const std::string& selection)
{
    Net& net = model.net();
    std::vector<GradLayer> layers = resolveLayers(net, selectLayers(model, selection));
    for (const GradLayer& layer : layers) {
        if (layer.tracedIndex < 0 || (layer.traced.kind != "Linear" && layer.traced.kind != "Conv2d"))
            throw ConfigError("K-FAC: layer '" + layer.name
                              + "' is not a Linear or Conv2d layer the model's forward traces; K-FAC factors only "
                                "those (choose --layers among them)");
        if (layer.isConv() && layer.traced.groups != 1)
            throw ConfigError("K-FAC: layer '" + layer.name + "' is a grouped convolution ("
                              + std::to_string(layer.traced.groups) + " groups), which K-FAC does not factor");
    }
    return layers;
}

} // namespace

std::string toString(FisherKind kind) { return kind == FisherKind::True ? "true" : "empirical"; }

FisherKind parseFisherKind(const std::string& name)
{
    const std::string s = asciiLower(name);
    if (s == "true")
        return FisherKind::True;
    if (s == "empirical")
        return FisherKind::Empirical;
    throw ConfigError("unknown Fisher \"" + name + "\"; expected true or empirical");
}

std::string toString(KroneckerDamping damping)
{
    return damping == KroneckerDamping::Global ? "global" : "per-module";
}

KroneckerDamping parseKroneckerDamping(const std::string& name)
{
    const std::string s = asciiLower(name);
    if (s == "global")
        return KroneckerDamping::Global;
    if (s == "per-module")
        return KroneckerDamping::PerModule;
    throw ConfigError("unknown damping \"" + name + "\"; expected global or per-module");
}

void KroneckerOptions::validate() const
{
    if (layers.empty())
        throw ConfigError("K-FAC: layers must not be empty (use all, last or layer names)");
    if (batchSize < 1)
        throw ConfigError("K-FAC: the batch size must be positive, got " + std::to_string(batchSize));
}

std::shared_ptr<const KroneckerCurvature> KroneckerCurvature::fit(const Model& model, const ImageSet& train,
                                                                 const KroneckerOptions& options, bool corrected,
                                                                 ProgressSink& progress, const CancelToken& cancel)
{
    options.validate();
    checkSet(model, train);
    Net& net = model.net();
    net.setTraining(false);
    std::vector<GradLayer> layers = factorableLayers(model, options.layers);

    auto curvature = std::shared_ptr<KroneckerCurvature>(new KroneckerCurvature());
    curvature->m_options = options;
    curvature->m_trainCount = train.count;
    curvature->m_corrected = corrected;

    PerSampleGradients grads(net, layers, FeatureTarget::Loss);
    int64_t batchBegin = 0;
    if (options.fisher == FisherKind::True) {
        const uint64_t seed = options.seed;
        grads.setTargetFunction([seed, &batchBegin](const torch::Tensor& logits, const torch::Tensor&) {
            const torch::Tensor sampled = sampleLabels(logits, seed, batchBegin).to(logits.device());
            return perSampleTargets(logits, sampled, FeatureTarget::Loss);
        });
    }
    const torch::Device device = deviceOf(net);
    const auto dopt = torch::TensorOptions().dtype(torch::kDouble).device(device);
    std::vector<torch::Tensor> a(layers.size()), g(layers.size());
    for (size_t l = 0; l < layers.size(); ++l) {
        a[l] = torch::zeros({layers[l].in, layers[l].in}, dopt);
        g[l] = torch::zeros({layers[l].out, layers[l].out}, dopt);
    }
    streamFactors(grads, train, options, batchBegin, "K-FAC factors", progress, cancel,
                  [&](size_t l, int64_t, const torch::Tensor& inputF, const torch::Tensor& deltaF) {
                      // Sums in double: nearly degenerate eigenspaces of A and G then do not
                      // depend on the batch size beyond rounding.
                      const torch::Tensor input = inputF.to(torch::kDouble), delta = deltaF.to(torch::kDouble);
                      if (input.dim() == 2) {
                          a[l].addmm_(input.t(), input);
                          g[l].addmm_(delta.t(), delta);
                          return;
                      }
                      // Conv2d: s × in × T and s × out × T; positions become rows.
                      const int64_t positions = delta.size(2);
                      const torch::Tensor at = input.transpose(1, 2).reshape({-1, input.size(1)});
                      const torch::Tensor dt = delta.transpose(1, 2).reshape({-1, delta.size(1)});
                      a[l].addmm_(at.t(), at);
                      g[l].addmm_(dt.t(), dt, 1.0, 1.0 / static_cast<double>(positions));
                  });

    const double n = static_cast<double>(train.count);
    for (size_t l = 0; l < layers.size(); ++l) {
        KroneckerLayer layer;
        layer.name = layers[l].name;
        layer.kind = layers[l].traced.kind;
        layer.out = layers[l].out;
        layer.in = layers[l].in;
        layer.bias = layers[l].params.size() > 1;
        layer.activationCovariance = toEigen(a[l]) / n;
        layer.gradientCovariance = toEigen(g[l]) / n;
        decompose(layer.activationCovariance, &layer.activationEigenvalues, &layer.activationEigenvectors);
        decompose(layer.gradientCovariance, &layer.gradientEigenvalues, &layer.gradientEigenvectors);
        curvature->m_layers.push_back(std::move(layer));
    }
    if (!corrected)
        return curvature;

    std::vector<torch::Tensor> qa, qg, sums;
    for (const KroneckerLayer& layer : curvature->m_layers) {
        qa.push_back(toTorch(layer.activationEigenvectors, device));
        qg.push_back(toTorch(layer.gradientEigenvectors, device));
        sums.push_back(torch::zeros({layer.out, layer.in}, dopt));
    }
    // The rotations run in double: components along nearly null eigenvectors stay exact to
    // rounding, so small eigenvalues (and small λ) are not swamped by float noise.
    streamFactors(grads, train, options, batchBegin, "EK-FAC eigenvalue correction", progress, cancel,
                  [&](size_t l, int64_t, const torch::Tensor& inputF, const torch::Tensor& deltaF) {
                      const torch::Tensor input = inputF.to(torch::kDouble), delta = deltaF.to(torch::kDouble);
                      if (input.dim() == 2) {
                          // Q_Gᵀ δ aᵀ Q_A is an outer product: its squares are (δᵀQ_G)² ⊗ (aᵀQ_A)².
                          const torch::Tensor rg = delta.mm(qg[l]).square_();
                          const torch::Tensor ra = input.mm(qa[l]).square_();
                          sums[l].addmm_(rg.t(), ra);
                          return;
                      }
                      const torch::Tensor m = torch::bmm(delta, input.transpose(1, 2)); // s × out × in
                      const torch::Tensor r = torch::matmul(torch::matmul(qg[l].t(), m), qa[l]);
                      sums[l].add_(r.square().sum(0));
                  });
    for (size_t l = 0; l < layers.size(); ++l)
        curvature->m_layers[l].correctedEigenvalues = toEigen(sums[l]) / n;
    grads.setTargetFunction({});
    return curvature;
}

int64_t KroneckerCurvature::dimension() const
{
    int64_t p = 0;
    for (const auto& l : m_layers)
        p += l.out * l.in;
    return p;
}

std::vector<int64_t> KroneckerCurvature::offsets() const
{
    std::vector<int64_t> out{0};
    for (const auto& l : m_layers)
        out.push_back(out.back() + l.out * l.in);
    return out;
}

Eigen::VectorXd KroneckerCurvature::eigenvalues(bool corrected) const
{
    if (corrected && !m_corrected)
        throw ConfigError("EK-FAC: the corrected eigenvalues were not measured (fit with corrected = true)");
    Eigen::VectorXd mu(dimension());
    int64_t j = 0;
    for (const auto& l : m_layers)
        for (int64_t o = 0; o < l.out; ++o)
            for (int64_t i = 0; i < l.in; ++i)
                mu(j++) = corrected ? l.correctedEigenvalues(o, i)
                                    : l.gradientEigenvalues(o) * l.activationEigenvalues(i);
    return mu;
}

RowMatrixF KroneckerCurvature::rotate(const RowMatrixF& gradients) const
{
    const int64_t p = dimension();
    if (gradients.cols() != p)
        throw ConfigError("K-FAC: gradients have " + std::to_string(gradients.cols())
                          + " columns, the factored layers have " + std::to_string(p) + " parameters");
    torch::NoGradGuard noGrad;
    RowMatrixF out(gradients.rows(), p);
    std::vector<torch::Tensor> qa, qg;
    for (const auto& l : m_layers) {
        qa.push_back(toTorch(l.activationEigenvectors, torch::kCPU));
        qg.push_back(toTorch(l.gradientEigenvectors, torch::kCPU));
    }
    const int64_t chunk = std::max<int64_t>(1, (int64_t(64) << 20) / std::max<int64_t>(1, 16 * p));
    for (int64_t r0 = 0; r0 < gradients.rows(); r0 += chunk) {
        const int64_t s = std::min(gradients.rows(), r0 + chunk) - r0;
        const torch::Tensor rows =
            torch::from_blob(const_cast<float*>(gradients.data() + r0 * p), {s, p}, torch::kFloat).to(torch::kDouble);
        torch::Tensor dst = torch::from_blob(out.data() + r0 * p, {s, p}, torch::kFloat);
        int64_t offset = 0;
        for (size_t l = 0; l < m_layers.size(); ++l) {
            const KroneckerLayer& layer = m_layers[l];
            const int64_t iw = layer.in - (layer.bias ? 1 : 0);
            torch::Tensor m = rows.narrow(1, offset, layer.out * iw).reshape({s, layer.out, iw});
            if (layer.bias)
                m = torch::cat({m, rows.narrow(1, offset + layer.out * iw, layer.out).unsqueeze(2)}, 2);
            // Two plain GEMMs: M Q_A over all s·out rows, then Q_Gᵀ over all s·in columns.
            const torch::Tensor right = m.reshape({s * layer.out, layer.in}).mm(qa[l]).view({s, layer.out, layer.in});
            const torch::Tensor left =
                qg[l].t().mm(right.transpose(0, 1).reshape({layer.out, s * layer.in})).view({layer.out, s, layer.in});
            dst.narrow(1, offset, layer.out * layer.in).copy_(left.transpose(0, 1).reshape({s, layer.out * layer.in}));
            offset += layer.out * layer.in;
        }
    }
    return out;
}

RowMatrixF KroneckerCurvature::rotatedGradients(const Model& model, const ImageSet& set, ProgressSink& progress,
                                                const CancelToken& cancel) const
{
    if (set.imageSize() != model.inputShape().size())
        throw ConfigError("K-FAC: the set has images of " + std::to_string(set.imageSize())
                          + " values, the model expects " + std::to_string(model.inputShape().size()));
    Net& net = model.net();
    net.setTraining(false);
    std::vector<GradLayer> layers = factorableLayers(model, m_options.layers);
    if (layers.size() != m_layers.size())
        throw ConfigError("K-FAC: the model has " + std::to_string(layers.size()) + " selected layers, the factors "
                          + std::to_string(m_layers.size()));
    for (size_t l = 0; l < layers.size(); ++l)
        if (layers[l].name != m_layers[l].name || layers[l].out != m_layers[l].out || layers[l].in != m_layers[l].in)
            throw ConfigError("K-FAC: layer '" + layers[l].name + "' does not match the fitted layer '"
                              + m_layers[l].name + "'");
    PerSampleGradients grads(net, layers, FeatureTarget::Loss);
    const torch::Device device = deviceOf(net);
    std::vector<torch::Tensor> qa, qg;
    for (const auto& l : m_layers) {
        qa.push_back(toTorch(l.activationEigenvectors, device));
        qg.push_back(toTorch(l.gradientEigenvectors, device));
    }
    const std::vector<int64_t> offsets = this->offsets();
    const int64_t p = dimension();
    RowMatrixF out(set.count, p);
    int64_t batchBegin = 0;
    KroneckerOptions options = m_options;
    options.fisher = FisherKind::Empirical; // scores use the points' own labels
    streamFactors(grads, set, options, batchBegin, "rotated gradients", progress, cancel,
                  [&](size_t l, int64_t firstRow, const torch::Tensor& inputF, const torch::Tensor& deltaF) {
                      const torch::Tensor input = inputF.to(torch::kDouble), delta = deltaF.to(torch::kDouble);
                      torch::Tensor r; // s × out × in, double
                      if (input.dim() == 2) {
                          r = delta.mm(qg[l]).unsqueeze(2) * input.mm(qa[l]).unsqueeze(1);
                      } else {
                          const torch::Tensor m = torch::bmm(delta, input.transpose(1, 2));
                          r = torch::matmul(torch::matmul(qg[l].t(), m), qa[l]);
                      }
                      const int64_t s = r.size(0);
                      torch::Tensor dst = torch::from_blob(out.data() + firstRow * p, {s, p}, torch::kFloat);
                      dst.narrow(1, offsets[l], offsets[l + 1] - offsets[l]).copy_(r.reshape({s, -1}).cpu());
                  });
    return out;
}

Eigen::MatrixXd KroneckerCurvature::dense(bool corrected) const
{
    const int64_t p = dimension();
    const Eigen::VectorXd mu = eigenvalues(corrected);
    Eigen::MatrixXd out = Eigen::MatrixXd::Zero(p, p);
    int64_t offset = 0;
    for (const auto& l : m_layers) {
        const int64_t d = l.out * l.in;
        const int64_t iw = l.in - (l.bias ? 1 : 0);
        Eigen::MatrixXd q(d, d); // Q_G ⊗ Q_A, rows in the row-major order of M
        for (int64_t o = 0; o < l.out; ++o)
            for (int64_t o2 = 0; o2 < l.out; ++o2)
                q.block(o * l.in, o2 * l.in, l.in, l.in) = l.gradientEigenvectors(o, o2) * l.activationEigenvectors;
        const Eigen::MatrixXd block = q * mu.segment(offset, d).asDiagonal() * q.transpose();
        // Row-major M index o·in + i → features index (weight o·iw + i, bias out·iw + o).
        std::vector<int64_t> to(static_cast<size_t>(d));
        for (int64_t o = 0; o < l.out; ++o)
            for (int64_t i = 0; i < l.in; ++i)
                to[static_cast<size_t>(o * l.in + i)] = i < iw ? o * iw + i : l.out * iw + o;
        for (int64_t r = 0; r < d; ++r)
            for (int64_t c = 0; c < d; ++c)
                out(offset + to[static_cast<size_t>(r)], offset + to[static_cast<size_t>(c)]) = block(r, c);
        offset += d;
    }
    return out;
}

std::shared_ptr<const SpectralCache> kroneckerCache(const KroneckerCurvature& curvature, bool corrected,
                                                    const RowMatrixF& trainGradients,
                                                    const RowMatrixF& testGradients, KroneckerDamping damping)
{
    return kroneckerCacheFromRotated(curvature, corrected, curvature.rotate(trainGradients),
                                     curvature.rotate(testGradients), damping);
}

std::shared_ptr<const SpectralCache> kroneckerCacheFromRotated(const KroneckerCurvature& curvature, bool corrected,
                                                               RowMatrixF train, RowMatrixF test,
                                                               KroneckerDamping damping)
{
    Eigen::VectorXd mu = curvature.eigenvalues(corrected);
    if (train.cols() != mu.size() || test.cols() != mu.size())
        throw ConfigError("K-FAC: rotated gradients have " + std::to_string(train.cols()) + " and "
                          + std::to_string(test.cols()) + " columns, the factored layers "
                          + std::to_string(mu.size()) + " parameters");
    if (damping == KroneckerDamping::PerModule) {
        const std::vector<int64_t> offsets = curvature.offsets();
        for (size_t l = 0; l + 1 < offsets.size(); ++l) {
            const int64_t begin = offsets[l], d = offsets[l + 1] - offsets[l];
            const double mean = mu.segment(begin, d).mean();
            if (!(mean > 0))
                throw ConfigError("K-FAC: layer '" + curvature.layers()[l].name
                                  + "' has no curvature (every eigenvalue is 0), so per-module damping relative to "
                                    "its mean eigenvalue is undefined; use global damping");
            mu.segment(begin, d) /= mean;
            const float scale = static_cast<float>(1.0 / std::sqrt(mean));
            train.middleCols(begin, d) *= scale;
            test.middleCols(begin, d) *= scale;
        }
    }
    // Coordinates by ascending μ, as every other spectrum is stored.
    std::vector<int64_t> order(static_cast<size_t>(mu.size()));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return mu(x) < mu(y); });
    Eigen::VectorXd sorted(mu.size());
    for (size_t j = 0; j < order.size(); ++j)
        sorted(static_cast<Eigen::Index>(j)) = mu(order[j]);
    const torch::Tensor index = torch::from_blob(order.data(), {static_cast<int64_t>(order.size())}, torch::kLong);
    auto permuted = [&index](RowMatrixF& m) {
        RowMatrixF out(m.rows(), m.cols());
        if (m.size() > 0) {
            torch::NoGradGuard noGrad;
            const torch::Tensor src = torch::from_blob(m.data(), {m.rows(), m.cols()}, torch::kFloat);
            torch::Tensor dst = torch::from_blob(out.data(), {out.rows(), out.cols()}, torch::kFloat);
            torch::index_select_out(dst, src, 1, index);
        }
        m.resize(0, 0);
        return out;
    };
    RowMatrixF trainSorted = permuted(train);
    RowMatrixF testSorted = permuted(test);
    return SpectralCache::fromRotated(std::move(sorted), std::move(trainSorted), std::move(testSorted),
                                      CurvatureConvention::Mean);
}

} // namespace attri
