#include "attribution/explicit_curvature.h"

#include "common/error.h"
#include "data/image_set.h"
#include "model/model.h"
#include "model/private/net.h"

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

} // namespace attri
