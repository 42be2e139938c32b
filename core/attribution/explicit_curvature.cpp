#include "attribution/explicit_curvature.h"

#include "common/error.h"
#include "data/image_set.h"
#include "features/internal/per_sample_grads.h"
#include "jobs/cancel_token.h"
#include "model/model.h"
#include "model/internal/net.h"

#include <torch/torch.h>

#include <cstring>

namespace attri {

namespace {

/// W (K×d) and b (K) of an LR model as double tensors; ConfigError if not LR-shaped.
std::pair<torch::Tensor, torch::Tensor> lrParameters(const Model& model)
{
    if (!isLogisticRegression(model))
        throw ConfigError(
            "explicit curvature: the model (" + toString(model.architecture())
            + ") is not a logistic regression (one Linear layer with bias on the flattened input); "
              "use projected features or the CG path instead");
    const ParamSet params = model.parameters();
    const ParamTensor& w = params[0];
    const ParamTensor& b = params[1];
    torch::Tensor wt =
        torch::from_blob(const_cast<float*>(w.values.data()), {w.shape[0], w.shape[1]}, torch::kFloat)
            .to(torch::kDouble);
    torch::Tensor bt =
        torch::from_blob(const_cast<float*>(b.values.data()), {b.shape[0]}, torch::kFloat).to(torch::kDouble);
    return {wt, bt};
}

void checkSet(const Model& model, const ImageSet& set, const char* what)
{
    if (set.count < 1)
        throw ConfigError(std::string("explicit curvature: the ") + what + " set is empty");
    if (set.imageSize() != model.inputShape().size())
        throw ConfigError(std::string("explicit curvature: the ") + what + " set has images of "
                          + std::to_string(set.imageSize()) + " values, the model expects "
                          + std::to_string(model.inputShape().size()));
    if (static_cast<int64_t>(set.images.size()) != set.count * set.imageSize()
        || static_cast<int64_t>(set.labels.size()) != set.count)
        throw ConfigError(std::string("explicit curvature: the ") + what + " set is inconsistent ("
                          + std::to_string(set.count) + " images, " + std::to_string(set.images.size())
                          + " values, " + std::to_string(set.labels.size()) + " labels)");
    for (int64_t i = 0; i < set.count; ++i)
        if (set.labels[i] < 0 || set.labels[i] >= model.numClasses())
            throw ConfigError(std::string("explicit curvature: the ") + what + " set has label "
                              + std::to_string(set.labels[i]) + " at index " + std::to_string(i)
                              + ", the model has " + std::to_string(model.numClasses()) + " classes");
}

/// The inputs as an n×d double tensor and the softmax probabilities n×K.
std::pair<torch::Tensor, torch::Tensor> inputsAndProbabilities(const Model& model, const ImageSet& set)
{
    auto [w, b] = lrParameters(model);
    checkSet(model, set, "given");
    const torch::Tensor x =
        torch::from_blob(const_cast<float*>(set.images.data()), {set.count, set.imageSize()}, torch::kFloat)
            .to(torch::kDouble);
    const torch::Tensor p = torch::softmax(torch::addmm(b, x, w.t()), 1);
    return {x, p};
}

} // namespace

bool isLogisticRegression(const Model& model)
{
    if (model.architecture() != Architecture::LogisticRegression)
        return false;
    const ParamSet params = model.parameters();
    if (params.size() != 2)
        return false;
    const int64_t d = model.inputShape().size();
    const int64_t k = model.numClasses();
    const auto& w = params[0].shape;
    const auto& b = params[1].shape;
    return w.size() == 2 && w[0] == k && w[1] == d && b.size() == 1 && b[0] == k;
}

Eigen::MatrixXd logisticRegressionHessian(const Model& model, const ImageSet& train)
{
    torch::NoGradGuard noGrad;
    auto [x, p] = inputsAndProbabilities(model, train);
    const int64_t n = x.size(0);
    const int64_t d = x.size(1);
    const int64_t k = p.size(1);
    const int64_t dim = k * (d + 1);
    const torch::Tensor xt = torch::cat({x, torch::ones({n, 1}, x.options())}, 1); // n×(d+1)

    Eigen::MatrixXd h(dim, dim);
    for (int64_t a = 0; a < k; ++a) {
        for (int64_t c = a; c < k; ++c) {
            // Block (a, c) of the Kronecker sum: (1/n) x̃ᵀ diag(δ_ac p_a − p_a p_c) x̃.
            torch::Tensor coeff = -p.select(1, a) * p.select(1, c);
            if (a == c)
                coeff = coeff + p.select(1, a);
            const torch::Tensor block =
                torch::mm((xt * coeff.unsqueeze(1)).t(), xt).div_(static_cast<double>(n));
            const auto acc = block.accessor<double, 2>();
            // Scatter into weight rows a·d + i (i < d) and bias row K·d + a.
            for (int64_t i = 0; i <= d; ++i) {
                const int64_t row = i < d ? a * d + i : k * d + a;
                for (int64_t j = 0; j <= d; ++j) {
                    const int64_t col = j < d ? c * d + j : k * d + c;
                    h(row, col) = acc[i][j];
                    h(col, row) = acc[i][j];
                }
            }
        }
    }
    return h;
}

RowMatrixF logisticRegressionGradients(const Model& model, const ImageSet& set)
{
    torch::NoGradGuard noGrad;
    auto [x, p] = inputsAndProbabilities(model, set);
    const int64_t n = x.size(0);
    const int64_t d = x.size(1);
    const int64_t k = p.size(1);
    const torch::Tensor labels =
        torch::from_blob(const_cast<int64_t*>(set.labels.data()), {n}, torch::kLong).clone();
    const torch::Tensor r = p - torch::one_hot(labels, k).to(torch::kDouble); // n×K
    // Row i: (r_i ⊗ x_i) flattened row-major (class-major), then r_i.
    const torch::Tensor weightPart = (r.unsqueeze(2) * x.unsqueeze(1)).reshape({n, k * d});
    const torch::Tensor g = torch::cat({weightPart, r}, 1).to(torch::kFloat).contiguous();
    RowMatrixF out(n, k * (d + 1));
    std::memcpy(out.data(), g.data_ptr<float>(), sizeof(float) * out.size());
    return out;
}

Eigen::MatrixXd generalizedGaussNewton(const Model& model, const ImageSet& train, const std::string& layers,
                                       int64_t batchSize, const CancelToken& cancel)
{
    checkSet(model, train, "training");
    if (batchSize < 1)
        throw ConfigError("explicit curvature: the batch size must be positive");
    Net& net = model.net();
    const std::vector<std::string> names = selectLayers(model, layers);
    PerSampleGradients grads(net, resolveLayers(net, names), FeatureTarget::Loss);
    const int64_t p = grads.fullDimension();
    if (p > kMaxExplicitParameters) {
        std::string joined;
        for (const auto& n : names)
            joined += (joined.empty() ? "" : ",") + n;
        throw ConfigError("explicit curvature: layers " + joined + " have " + std::to_string(p)
                          + " parameters, more than the explicit path's " + std::to_string(kMaxExplicitParameters)
                          + " (a p×p matrix); select fewer layers (e.g. --layers last) or use a projection");
    }
    const int64_t classes = model.numClasses();
    net.setTraining(false);
    torch::Tensor g = torch::zeros({p, p}, torch::kDouble);
    torch::Tensor block = torch::empty({std::min(batchSize, train.count), p}, torch::kFloat);
    bool loop = false;
    for (int64_t begin = 0; begin < train.count; begin += batchSize) {
        cancel.throwIfCancelled();
        const int64_t end = std::min(train.count, begin + batchSize);
        const torch::Tensor x = imagesTensor(train, begin, end);
        const torch::Tensor y = labelsTensor(train, begin, end);
        torch::Tensor gram = torch::zeros({p, p}, torch::kFloat);
        for (int64_t c = 0; c < classes; ++c) {
            grads.setTargetFunction([c](const torch::Tensor& logits, const torch::Tensor&) {
                const torch::Tensor prob = torch::softmax(logits, 1).detach();
                torch::Tensor s = -prob;
                s.select(1, c).add_(1.0);
                s.mul_(prob.select(1, c).sqrt().unsqueeze(1));
                return (s * logits).sum(1);
            });
            if (loop || !grads.computeBatched(x, y)) {
                loop = true;
                grads.computeLoop(x, y, &cancel);
            }
            torch::NoGradGuard noGrad;
            torch::Tensor rows = block.narrow(0, 0, end - begin);
            grads.flatInto(rows);
            gram.addmm_(rows.t(), rows);
        }
        g.add_(gram.to(torch::kDouble));
    }
    grads.setTargetFunction({});
    g.div_(static_cast<double>(train.count));
    g = (g + g.t()) * 0.5; // exactly symmetric for the eigensolver
    Eigen::MatrixXd out(p, p);
    std::memcpy(out.data(), g.contiguous().data_ptr<double>(), static_cast<size_t>(p * p) * sizeof(double));
    return out;
}

} // namespace attri
