#include "tuning/private/selector_rules.h"

#include "common/error.h"
#include "common/row_matrix.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "eval/rank_stats.h"
#include "eval/subset_sampler.h"

#include <Eigen/Dense>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

namespace attri {

namespace {


/// Simulates the recipe's optimizer on the quadratic (Gauss–Newton) model of the subset loss in
/// feature space, starting at the full-data model; returns the parameter change u (k).
/// `psi` holds the true-scale (and, for TRAK, weighted) features ψ_i, one row each.
Eigen::VectorXf simulateSubset(const RowMatrixF& psi, const std::vector<int64_t>& subset, const TrainRecipe& recipe,
                               float lr, uint64_t seed, const CancelToken& cancel)
{
    const int64_t k = psi.cols();
    const size_t b = static_cast<size_t>(recipe.batchSize);
    const float wd = static_cast<float>(recipe.weightDecay);
    const float momentum = static_cast<float>(recipe.momentum);
    Eigen::VectorXf u = Eigen::VectorXf::Zero(k), grad(k), velocity = Eigen::VectorXf::Zero(k);
    Eigen::VectorXf adamM, adamV;
    const bool adam = recipe.adamFamily();
    if (adam) {
        adamM = Eigen::VectorXf::Zero(k);
        adamV = Eigen::VectorXf::Zero(k);
    }
    std::vector<int64_t> order = subset;
    std::mt19937_64 rng(seed);
    int64_t step = 0;
    for (int64_t epoch = 0; epoch < recipe.epochs; ++epoch) {
        std::shuffle(order.begin(), order.end(), rng);
        for (size_t start = 0; start < order.size(); start += b) {
            const size_t end = std::min(order.size(), start + b);
            // Per-sample loss s + log cosh(s), s = ψᵀu: gradient ψ(1 + tanh s). Near u = 0 it is
            // the Gauss–Newton quadratic s + ½s² (gradient ψ, curvature ψψᵀ); far from it the
            // gradient stays bounded, as cross-entropy's does, so the high-loss samples whose
            // empirical-Fisher curvature is overstated cannot make the simulation diverge.
            grad = wd * u;
            const float scale = 1.0f / static_cast<float>(end - start);
            for (size_t r = start; r < end; ++r) {
                auto row = psi.row(order[r]);
                const float residual = (1.0f + std::tanh(row.dot(u.transpose()))) * scale;
                grad.noalias() += residual * row.transpose();
            }
            ++step;
            if (adam) {
                const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
                adamM = b1 * adamM + (1 - b1) * grad;
                adamV = b2 * adamV + (1 - b2) * grad.cwiseProduct(grad);
                const float c1 = 1 - std::pow(b1, static_cast<float>(step));
                const float c2 = 1 - std::pow(b2, static_cast<float>(step));
                u.array() -= lr * (adamM.array() / c1) / ((adamV.array() / c2).sqrt() + eps);
            } else {
                velocity = momentum * velocity + grad;
                u -= lr * velocity;
            }
        }
        cancel.throwIfCancelled();
    }
    return u;
}

} // namespace

void recommendBySimulation(const SelectorInputs& in, const SelectorOptions& o, LambdaRecommendation& rec,
                           ProgressSink& progress, const CancelToken& cancel)
{
    if (in.recipe.converged())
        throw ConfigError("simulated-sgd simulates mini-batch training; this model was trained to convergence with "
                          + in.recipe.optimizer
                          + " (full batch), which it does not simulate (the default rule path-or-prior takes the "
                            "prior for converged training)");
    if (!in.recipe.constantRate())
        throw ConfigError("simulated-sgd simulates a constant learning rate; this run follows the "
                          + in.recipe.scheduleText() + " schedule (the default rule path-or-prior covers it)");
    const SpectralCache& cache = *in.cache;
    const RowMatrixF& phi = *in.trainFeatures;
    const RowMatrixF& phiTest = *in.testFeatures;
    const int64_t n = phi.rows(), k = phi.cols();
    const int64_t tests = std::min<int64_t>(o.maxTests, phiTest.rows());
    const int64_t s = static_cast<int64_t>(std::floor(o.alpha * static_cast<double>(n)));
    const int64_t subsets = o.simulatedSubsets;
    const double c = rec.featureScale;
    const double invSqrt = 1.0 / std::sqrt(c);

    // Keep the simulated optimizer stable: the real model trained stably, so a step size beyond
    // the quadratic model's stability limit is an artefact of the curvature approximation.
    double muMax = cache.eigenvalues().size() ? cache.eigenvalues().maxCoeff() / conventionFactor(cache, n) : 0.0;
    const double curvatureTop = muMax / c;
    double lr = in.recipe.lr;
    const double effectiveLr = in.recipe.adamFamily() ? lr : lr / (1.0 - in.recipe.momentum);
    bool clipped = false;
    if (!in.recipe.adamFamily() && effectiveLr * curvatureTop > 1.9) {
        lr *= 1.9 / (effectiveLr * curvatureTop);
        clipped = true;
    }

    // ψ_i = w_i φ_i / √c once, in float: the simulation then reads contiguous rows.
    RowMatrixF psi = phi * static_cast<float>(invSqrt);
    if (!in.trainWeights.empty())
        for (int64_t i = 0; i < n; ++i)
            psi.row(i) *= in.trainWeights[static_cast<size_t>(i)];

    progress.begin("simulate subsets", subsets);
    Eigen::MatrixXd masks = Eigen::MatrixXd::Zero(n, subsets); // n × M, weighted membership
    std::vector<std::vector<int64_t>> subsetIndices(static_cast<size_t>(subsets));
    for (int64_t j = 0; j < subsets; ++j) {
        subsetIndices[static_cast<size_t>(j)] = sampleSubset(n, s, o.seed + static_cast<uint64_t>(j));
        for (int64_t i : subsetIndices[static_cast<size_t>(j)])
            masks(i, j) = in.trainWeights.empty() ? 1.0 : in.trainWeights[static_cast<size_t>(i)];
    }
    // Subsets are independent: simulate them on all cores; each result depends only on its
    // own seed, so the outcome does not depend on the thread count.
    Eigen::MatrixXf us(k, subsets);
    std::atomic<int64_t> next{0}, done{0};
    std::mutex progressMutex;
    std::exception_ptr failure;
    auto worker = [&] {
        try {
            for (int64_t j = next++; j < subsets; j = next++) {
                us.col(j) = simulateSubset(psi, subsetIndices[static_cast<size_t>(j)], in.recipe, static_cast<float>(lr),
                                           o.seed * 7919 + static_cast<uint64_t>(j), cancel);
                std::lock_guard<std::mutex> lock(progressMutex);
                progress.advance(++done);
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(progressMutex);
            if (!failure)
                failure = std::current_exception();
            next = subsets;
        }
    };
    const unsigned threads = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), 8u));
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t)
        pool.emplace_back(worker);
    worker();
    for (auto& t : pool)
        t.join();
    if (failure)
        std::rethrow_exception(failure);
    if (!us.allFinite())
        throw Error("λ recommendation: the simulated training diverged (lr " + std::to_string(lr)
                    + "); the recipe's learning rate is unstable on the quadratic model");
    RowMatrixD psiTest = phiTest.topRows(tests).cast<double>() * invSqrt;
    Eigen::MatrixXd outcomes = -(psiTest * us.cast<double>()); // y_j(z') = −ψ'ᵀu_j, tests × M

    // Additive scores of every subset for every λ: (Φ'Q) diag(1/(μ+λ)) (ΦQ)ᵀ W Maskᵀ.
    Eigen::MatrixXd r = cache.trainRotated().cast<double>().transpose() * masks; // k × M
    Eigen::MatrixXd testRot = cache.testRotated().topRows(tests).cast<double>();
    const size_t grid = rec.lambdas.size();
    rec.xi.resize(tests, static_cast<Eigen::Index>(grid));
    progress.begin("xi(lambda)", static_cast<int64_t>(grid));
    std::vector<double> yRow(static_cast<size_t>(subsets)), aRow(static_cast<size_t>(subsets));
    for (size_t g = 0; g < grid; ++g) {
        Eigen::VectorXd inv = (cache.eigenvalues().array() + rec.lambdas[g]).inverse();
        Eigen::MatrixXd additive = testRot * inv.asDiagonal() * r; // tests × M
        for (int64_t t = 0; t < tests; ++t) {
            for (int64_t j = 0; j < subsets; ++j) {
                yRow[static_cast<size_t>(j)] = outcomes(t, j);
                aRow[static_cast<size_t>(j)] = additive(t, j);
            }
            rec.xi(t, static_cast<Eigen::Index>(g)) = spearman(yRow, aRow);
        }
        cancel.throwIfCancelled();
        progress.advance(static_cast<int64_t>(g) + 1);
    }
    rec.meanXi.resize(static_cast<Eigen::Index>(grid));
    for (size_t g = 0; g < grid; ++g) {
        double sum = 0;
        int64_t used = 0;
        for (int64_t t = 0; t < tests; ++t) {
            double v = rec.xi(t, static_cast<Eigen::Index>(g));
            if (std::isfinite(v)) {
                sum += v;
                ++used;
            }
        }
        rec.meanXi[static_cast<Eigen::Index>(g)] = used ? sum / static_cast<double>(used) : std::nan("");
    }
    summarizeCurve(rec);
    std::ostringstream text;
    text << subsets << " simulated subsets of " << s << " points, " << in.recipe.optimizer << " lr " << in.recipe.lr
         << " momentum " << in.recipe.momentum << " batch " << in.recipe.batchSize << " epochs " << in.recipe.epochs
         << " wd " << in.recipe.weightDecay << ", feature scale c=" << c << ", " << tests << " test points";
    if (clipped)
        text << "; simulated lr clipped to " << lr << " for stability";
    rec.inputs = text.str();
}

} // namespace attri
