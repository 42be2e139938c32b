#include "attribution/cg_influence.h"

#include "common/error.h"
#include "data/image_set.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "model/internal/net.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

namespace attri {

namespace {

std::vector<torch::Tensor> liveParameters(Net& net)
{
    std::vector<torch::Tensor> params;
    for (auto& item : net.namedParameters())
        params.push_back(item.second);
    return params;
}

int64_t countOf(const std::vector<torch::Tensor>& params)
{
    int64_t p = 0;
    for (const auto& t : params)
        p += t.numel();
    return p;
}

void checkSet(const Model& model, const ImageSet& set, const char* what)
{
    const InputShape in = model.inputShape();
    if (set.channels != in.channels || set.height != in.height || set.width != in.width)
        throw ConfigError(std::string("CG influence: the ") + what + " set has images of "
                          + std::to_string(set.channels) + "×" + std::to_string(set.height) + "×"
                          + std::to_string(set.width) + ", the model expects " + std::to_string(in.channels)
                          + "×" + std::to_string(in.height) + "×" + std::to_string(in.width));
    for (int64_t i = 0; i < set.count; ++i)
        if (set.labels[i] < 0 || set.labels[i] >= model.numClasses())
            throw ConfigError(std::string("CG influence: the ") + what + " set has label "
                              + std::to_string(set.labels[i]) + " at index " + std::to_string(i));
}

/// Flattened gradient of one sample's loss into `out` (p floats).
void sampleGradient(Net& net, const std::vector<torch::Tensor>& params, const ImageSet& set, int64_t i,
                    float* out)
{
    const torch::Tensor logits = net.forward(imagesTensor(set, i, i + 1));
    const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, labelsTensor(set, i, i + 1));
    const auto grads =
        torch::autograd::grad({loss}, params, {}, /*retain_graph=*/false, /*create_graph=*/false,
                              /*allow_unused=*/true);
    int64_t offset = 0;
    for (size_t t = 0; t < params.size(); ++t) {
        const int64_t len = params[t].numel();
        if (grads[t].defined()) {
            const torch::Tensor g = grads[t].contiguous().to(torch::kFloat);
            std::memcpy(out + offset, g.data_ptr<float>(), sizeof(float) * len);
        } else {
            std::fill(out + offset, out + offset + len, 0.0f);
        }
        offset += len;
    }
}

Eigen::VectorXd hvp(Net& net, const std::vector<torch::Tensor>& params, const ImageSet& train,
                    const Eigen::VectorXd& v, int64_t batchSize)
{
    // v split per parameter tensor (float, like the parameters).
    std::vector<torch::Tensor> vs;
    int64_t offset = 0;
    for (const auto& p : params) {
        const int64_t len = p.numel();
        Eigen::VectorXf part = v.segment(offset, len).cast<float>();
        vs.push_back(torch::from_blob(part.data(), p.sizes(), torch::kFloat).clone());
        offset += len;
    }
    Eigen::VectorXd total = Eigen::VectorXd::Zero(v.size());
    for (int64_t begin = 0; begin < train.count; begin += batchSize) {
        const int64_t end = std::min(train.count, begin + batchSize);
        const torch::Tensor logits = net.forward(imagesTensor(train, begin, end));
        const torch::Tensor loss = torch::nn::functional::cross_entropy(
            logits, labelsTensor(train, begin, end),
            torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
        const auto grads =
            torch::autograd::grad({loss}, params, {}, /*retain_graph=*/true, /*create_graph=*/true,
                                  /*allow_unused=*/true);
        torch::Tensor dot = torch::zeros({}, torch::kFloat);
        for (size_t t = 0; t < params.size(); ++t)
            if (grads[t].defined())
                dot = dot + (grads[t] * vs[t]).sum();
        if (!dot.requires_grad())
            continue; // no parameter reaches the loss twice (zero curvature)
        const auto hv =
            torch::autograd::grad({dot}, params, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                  /*allow_unused=*/true);
        offset = 0;
        for (size_t t = 0; t < params.size(); ++t) {
            const int64_t len = params[t].numel();
            if (hv[t].defined()) {
                const torch::Tensor h = hv[t].contiguous().to(torch::kDouble);
                total.segment(offset, len) += Eigen::Map<const Eigen::VectorXd>(h.data_ptr<double>(), len);
            }
            offset += len;
        }
    }
    return total / static_cast<double>(train.count);
}

/// Evaluation mode on a private clone: jobs never flip the caller's network state.
Model evaluationClone(const Model& model)
{
    Model copy = model.clone();
    copy.net().setTraining(false);
    return copy;
}

} // namespace

void CgOptions::validate() const
{
    if (maxIterations < 1)
        throw ConfigError("CG influence: maxIterations must be ≥ 1, got " + std::to_string(maxIterations));
    if (!(tolerance > 0.0) || !std::isfinite(tolerance)) {
        std::ostringstream msg;
        msg << "CG influence: tolerance must be positive and finite, got " << tolerance;
        throw ConfigError(msg.str());
    }
    if (batchSize < 1)
        throw ConfigError("CG influence: batchSize must be ≥ 1, got " + std::to_string(batchSize));
}

RowMatrixF fullPerSampleGradients(const Model& model, const ImageSet& set, ProgressSink& progress,
                                  const CancelToken& cancel)
{
    checkSet(model, set, "given");
    Model copy = evaluationClone(model);
    Net& net = copy.net();
    const auto params = liveParameters(net);
    RowMatrixF out(set.count, countOf(params));
    progress.begin("per-sample gradients", set.count);
    for (int64_t i = 0; i < set.count; ++i) {
        cancel.throwIfCancelled();
        sampleGradient(net, params, set, i, out.row(i).data());
        progress.advance(i + 1);
    }
    return out;
}

Eigen::VectorXd meanLossHessianVectorProduct(const Model& model, const ImageSet& train,
                                             const Eigen::VectorXd& v, int64_t batchSize)
{
    if (batchSize < 1)
        throw ConfigError("Hessian-vector product: batchSize must be ≥ 1");
    if (train.count < 1)
        throw ConfigError("Hessian-vector product: the training set is empty");
    checkSet(model, train, "training");
    Model copy = evaluationClone(model);
    const auto params = liveParameters(copy.net());
    if (v.size() != countOf(params))
        throw ConfigError("Hessian-vector product: the vector has " + std::to_string(v.size())
                          + " entries, the model has " + std::to_string(countOf(params)) + " parameters");
    return hvp(copy.net(), params, train, v, batchSize);
}

std::shared_ptr<const CgInfluenceResult>
cgInfluence(const Model& model, const ImageSet& train, const ImageSet& test,
            const std::vector<int64_t>& testIndices, double lambda, const CgOptions& options,
            ProgressSink& progress, const CancelToken& cancel, const RowMatrixF* trainGradients)
{
    options.validate();
    if (!(lambda > 0.0) || !std::isfinite(lambda)) {
        std::ostringstream msg;
        msg << "CG influence: λ must be positive and finite, got " << lambda;
        throw ConfigError(msg.str());
    }
    if (train.count < 1)
        throw ConfigError("CG influence: the training set is empty");
    checkSet(model, train, "training");
    checkSet(model, test, "test");
    auto result = std::make_shared<CgInfluenceResult>();
    result->lambda = lambda;
    result->testIndices = testIndices;
    if (result->testIndices.empty())
        for (int64_t t = 0; t < test.count; ++t)
            result->testIndices.push_back(t);
    for (int64_t t : result->testIndices)
        if (t < 0 || t >= test.count)
            throw ConfigError("CG influence: test index " + std::to_string(t) + " is out of range ("
                              + std::to_string(test.count) + " test points)");

    Model copy = evaluationClone(model);
    Net& net = copy.net();
    const auto params = liveParameters(net);
    const int64_t p = countOf(params);
    result->parameterCount = p;

    RowMatrixF computed;
    if (!trainGradients) {
        computed = fullPerSampleGradients(copy, train, progress, cancel);
        trainGradients = &computed;
    }
    if (trainGradients->rows() != train.count || trainGradients->cols() != p)
        throw ConfigError("CG influence: training gradients are " + std::to_string(trainGradients->rows())
                          + "×" + std::to_string(trainGradients->cols()) + ", expected "
                          + std::to_string(train.count) + "×" + std::to_string(p)
                          + " (all parameters, projection None)");

    const int64_t m = static_cast<int64_t>(result->testIndices.size());
    result->scores.resize(m, train.count);
    progress.begin("CG solves", m);
    Eigen::VectorXf gTest(p);
    for (int64_t r = 0; r < m; ++r) {
        const int64_t t = result->testIndices[r];
        sampleGradient(net, params, test, t, gTest.data());
        const Eigen::VectorXd b = gTest.cast<double>();
        const double bNorm = b.norm();

        // Plain CG on the SPD system (H + λI) x = b (H may have negative eigenvalues for
        // non-convex models: then CG may stop early; the residual is reported).
        CgSolveInfo info;
        info.testIndex = t;
        Eigen::VectorXd x = Eigen::VectorXd::Zero(p);
        Eigen::VectorXd res = b;
        Eigen::VectorXd dir = res;
        double rr = res.squaredNorm();
        if (bNorm == 0.0) {
            info.converged = true;
        } else {
            for (int64_t it = 0; it < options.maxIterations; ++it) {
                cancel.throwIfCancelled();
                const Eigen::VectorXd ad = hvp(net, params, train, dir, options.batchSize) + lambda * dir;
                const double dAd = dir.dot(ad);
                if (!(dAd > 0.0))
                    break; // not positive definite along dir
                const double alpha = rr / dAd;
                x += alpha * dir;
                res -= alpha * ad;
                const double rrNew = res.squaredNorm();
                info.iterations = it + 1;
                if (std::sqrt(rrNew) <= options.tolerance * bNorm) {
                    rr = rrNew;
                    break;
                }
                dir = res + (rrNew / rr) * dir;
                rr = rrNew;
            }
            info.relativeResidual = std::sqrt(rr) / bNorm;
            info.converged = info.relativeResidual <= options.tolerance;
        }
        const Eigen::VectorXf xf = x.cast<float>();
        result->scores.row(r) = (*trainGradients * xf).transpose();
        result->solves.push_back(info);
        progress.advance(r + 1);
    }
    return result;
}

} // namespace attri
