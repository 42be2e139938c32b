#include "tuning/lambda_selector.h"

#include "attribution/dense_products.h"
#include "common/error.h"
#include "eval/subset_sampler.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "eval/rank_stats.h"

#include <Eigen/Dense>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <numeric>
#include <optional>
#include <random>
#include <thread>
#include <mutex>
#include <atomic>
#include <exception>
#include <sstream>

namespace attri {

namespace {

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Steps one subset model takes under the recipe.
int64_t subsetSteps(const TrainRecipe& r, int64_t subsetSize)
{
    return r.epochs * ((subsetSize + r.batchSize - 1) / r.batchSize);
}

double conventionFactor(const SpectralCache& cache, int64_t n)
{
    return cache.convention() == CurvatureConvention::Sum ? static_cast<double>(n) : 1.0;
}

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
    const bool adam = recipe.optimizer == "adam";
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

void summarizeCurve(LambdaRecommendation& rec)
{
    const Eigen::Index g = rec.meanXi.size();
    if (g == 0)
        return;
    Eigen::Index best = 0;
    for (Eigen::Index j = 1; j < g; ++j)
        if (rec.meanXi[j] > rec.meanXi[best])
            best = j;
    rec.gridIndex = best;
    rec.lambda = rec.lambdas[static_cast<size_t>(best)];
    std::vector<double> sorted(rec.meanXi.data(), rec.meanXi.data() + g);
    std::sort(sorted.begin(), sorted.end());
    rec.peakedness = rec.meanXi[best] - sorted[sorted.size() / 2];
    Eigen::Index lo = best, hi = best;
    while (lo > 0 && rec.meanXi[lo - 1] >= rec.meanXi[best] - 0.01)
        --lo;
    while (hi + 1 < g && rec.meanXi[hi + 1] >= rec.meanXi[best] - 0.01)
        ++hi;
    rec.plateauWidthDecades = std::log10(rec.lambdas[static_cast<size_t>(hi)] / rec.lambdas[static_cast<size_t>(lo)]);
}

void recommendBySimulation(const SelectorInputs& in, const SelectorOptions& o, LambdaRecommendation& rec,
                           ProgressSink& progress, const CancelToken& cancel)
{
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
    const double effectiveLr = in.recipe.optimizer == "adam" ? lr : lr / (1.0 - in.recipe.momentum);
    bool clipped = false;
    if (in.recipe.optimizer != "adam" && effectiveLr * curvatureTop > 1.9) {
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

double dfTargetLambda(const Eigen::VectorXd& mu, double target)
{
    auto df = [&](double lambda) { return (mu.array() / (mu.array() + lambda)).sum(); };
    double lo = 1e-30, hi = std::max(1e-30, mu.maxCoeff()) * 1e6;
    if (df(lo) <= target)
        return lo;
    for (int it = 0; it < 200; ++it) {
        double mid = std::sqrt(lo * hi);
        (df(mid) > target ? lo : hi) = mid;
    }
    return std::sqrt(lo * hi);
}

void recommendByStability(const SelectorInputs& in, const SelectorOptions& o, LambdaRecommendation& rec,
                          ProgressSink& progress, const CancelToken& cancel)
{
    const SpectralCache& cache = *in.cache;
    const int64_t tests = std::min<int64_t>(std::min<int64_t>(o.maxTests, 50), cache.testCount());
    std::vector<int64_t> idx(static_cast<size_t>(tests));
    std::iota(idx.begin(), idx.end(), 0);
    progress.begin("stability", static_cast<int64_t>(rec.lambdas.size()));
    RowMatrixF previous = cache.scoreMatrix(idx, rec.lambdas[0]);
    rec.gridIndex = static_cast<int64_t>(rec.lambdas.size()) - 1;
    for (size_t g = 1; g < rec.lambdas.size(); ++g) {
        RowMatrixF current = cache.scoreMatrix(idx, rec.lambdas[g]);
        double sum = 0;
        int64_t used = 0;
        for (int64_t t = 0; t < tests; ++t) {
            double v = spearman(previous.row(t).data(), current.row(t).data(), current.cols());
            if (std::isfinite(v)) {
                sum += v;
                ++used;
            }
        }
        if (used && sum / static_cast<double>(used) >= o.stabilityThreshold) {
            rec.gridIndex = static_cast<int64_t>(g) - 1;
            break;
        }
        previous = std::move(current);
        cancel.throwIfCancelled();
        progress.advance(static_cast<int64_t>(g));
    }
    rec.lambda = rec.lambdas[static_cast<size_t>(rec.gridIndex)];
    rec.inputs = "neighbour Spearman >= " + std::to_string(o.stabilityThreshold) + " over " + std::to_string(tests)
                 + " test points";
}

/// The training path's features, as PathMatch needs them: every checkpoint with n training rows
/// of dimension at least k, their losses and a positive span of epochs, and `tests` test rows.
void checkPath(const SelectorInputs& in, int64_t n, int64_t k, int64_t tests)
{
    if (in.path.empty() || !in.pathTestFeatures)
        throw ConfigError("selector: the rule path-match needs the loss-gradient features of every checkpoint of the "
                          "training run (train with --checkpoints C, then attribute --method tracin --k K with K at "
                          "least the method's k)");
    if (in.pathTestFeatures->rows() < tests || in.pathTestFeatures->cols() < k)
        throw ConfigError("selector: path-match: the checkpoint test features have " + std::to_string(in.pathTestFeatures->rows())
                          + " rows of dimension " + std::to_string(in.pathTestFeatures->cols()) + "; needed "
                          + std::to_string(tests) + " rows of dimension at least " + std::to_string(k));
    for (size_t s = 0; s < in.path.size(); ++s) {
        const PathSegment& seg = in.path[s];
        if (!seg.trainFeatures || seg.trainFeatures->rows() != n || seg.trainFeatures->cols() < k
            || static_cast<int64_t>(seg.trainLoss.size()) != n || !(seg.epochs > 0) || !std::isfinite(seg.epochs))
            throw ConfigError("selector: path-match: checkpoint " + std::to_string(s) + " needs " + std::to_string(n)
                              + " training rows of dimension at least " + std::to_string(k)
                              + ", their losses and a positive number of epochs");
    }
}

/// A lower bound on PathMatch's stability figure (LambdaRecommendation::pathStability) without
/// forming or decomposing any segment's curvature: block power iteration (a block of 8) on each
/// H_s through the features, where the products with the features are the cost. A step reads
/// them once for its Ritz values and, only to go on, once more for the next block. A segment whose
/// trace (an upper bound on μ_max, from one pass of row norms) keeps it under `limit` takes no
/// step. The others start at the top eigenvectors of the curvature of a sample of their training
/// rows (the first 64: a 64 × 64 eigenproblem), so that the first step counts, and take that step
/// first, in path order (a run past the limit is decided there, at one product per segment
/// visited); then, in the order of that first value (largest first), each goes on until 8 steps,
/// until its top Ritz value gains less than 0.1%, or until it could not reach `limit` even by
/// gaining as much as its last step did at every step left. Ritz values never exceed the top
/// eigenvalue whatever the start, so the bound never exceeds the figure, and a bound above
/// `limit` decides that the run is past it (the search stops there); the starts, the order and
/// ending a segment early only change what it costs, or leave the decision to path-match. A
/// segment visited with non-finite features is named (FormatError). NaN for optimizers other
/// than sgd, which have no such limit.
double pathStabilityLowerBound(const SelectorInputs& in, int64_t n, int64_t k, double limit)
{
    const TrainRecipe& r = in.recipe;
    if (r.optimizer != "sgd")
        return std::numeric_limits<double>::quiet_NaN();
    constexpr int64_t kBlock = 8, kSteps = 8, kSampleRows = 64;
    const int64_t block = std::min<int64_t>(kBlock, k), rows = std::min<int64_t>(kSampleRows, n);
    std::mt19937_64 rng(0x57ab1e);
    std::normal_distribution<double> normal;
    Eigen::MatrixXd random(k, block);
    for (int64_t j = 0; j < block; ++j)
        for (int64_t i = 0; i < k; ++i)
            random(i, j) = normal(rng);
    auto orthonormal = [&](const Eigen::MatrixXd& m) -> Eigen::MatrixXd {
        return Eigen::HouseholderQR<Eigen::MatrixXd>(m).householderQ() * Eigen::MatrixXd::Identity(k, block);
    };
    // One segment's search: its curvature's factors, its block and how far it has come.
    struct Search {
        const PathSegment* seg = nullptr;
        size_t index = 0;
        double scale = 0.0, toBound = 0.0; // toBound: μ ↦ the stability figure
        Eigen::VectorXf root;
        Eigen::MatrixXd v;
        Eigen::MatrixXf y; // (diag(root) Φ V)ᵀ of the last step
        double top = 0.0;
        int64_t steps = 0;
        bool done = false;
    };
    const double decay = r.weightDecay;
    double bound = 0.0;
    // The Ritz values of `s`'s block (one pass); true once the bound passes the limit. V is
    // orthonormal, so the Ritz matrix of H_s + c·wd·I is Y Yᵀ + c·wd·I.
    auto ritzStep = [&](Search& s) {
        s.y = scaledRowsTimes(*s.seg->trainFeatures, k, s.root, s.v);
        if (!s.y.allFinite())
            throwNonFiniteCheckpoint(s.index);
        const Eigen::MatrixXd yd = s.y.cast<double>();
        Eigen::MatrixXd ritz = yd * yd.transpose();
        ritz.diagonal().array() += s.scale * decay;
        const double top =
            Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(ritz, Eigen::EigenvaluesOnly).eigenvalues().maxCoeff();
        bound = std::max(bound, s.toBound * top);
        if (bound > limit)
            return true;
        const double gain = top - s.top, left = static_cast<double>(kSteps - 1 - s.steps);
        s.done = s.steps + 1 >= kSteps || gain <= 1e-3 * top
                 || (s.steps > 0 && s.toBound * (top + gain * left) <= limit);
        s.top = top;
        ++s.steps;
        return false;
    };
    // The next block: (H_s + c·wd·I) V (the second pass), orthonormalized.
    auto advance = [&](Search& s) {
        s.v = orthonormal(scaledProductD(s.y, s.root, *s.seg->trainFeatures, k).transpose() + s.scale * decay * s.v);
    };
    std::vector<Search> searches;
    for (size_t c = 0; c < in.path.size(); ++c) {
        Search s;
        s.seg = &in.path[c];
        s.index = c;
        const RowMatrixF& phi = *s.seg->trainFeatures;
        s.scale = featureScaleOf(phi, s.seg->gradientSqNormMean, s.seg->gradientNormSamples, k);
        s.toBound = r.lr / s.scale / (2.0 * (1.0 + r.momentum));
        s.root = gaussNewtonRoots(*s.seg, n);
        // tr(H_s) bounds μ_max from above: a segment it keeps under the limit cannot decide (one
        // pass of row norms, a fraction of a step's cost).
        const double trace =
            s.root.array().square().cast<double>().matrix().dot(rowSquaredNorms(phi, k).cast<double>());
        if (!std::isfinite(trace))
            throwNonFiniteCheckpoint(c);
        if (s.toBound * (trace + static_cast<double>(k) * s.scale * decay) <= limit)
            continue;
        // The start: the sample's curvature Sᵀ S (S = diag(root) Φ over its rows) through the
        // small S Sᵀ, whose eigenvector u gives the direction Sᵀ u.
        RowMatrixF sample = phi.topLeftCorner(rows, k);
        sample.array().colwise() *= s.root.head(rows).array();
        const Eigen::MatrixXd small = productWithTransposedF(sample, sample).cast<double>();
        s.v = random;
        if (small.allFinite()) {
            const Eigen::Index top = std::min<Eigen::Index>(block, rows);
            s.v.leftCols(top) = sample.transpose().cast<double>()
                                * Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(small).eigenvectors().rightCols(top);
        }
        if (!s.v.allFinite()) // a broken sample: the step names the checkpoint
            s.v = random;
        s.v = orthonormal(s.v);
        if (ritzStep(s))
            return bound;
        if (!s.done)
            searches.push_back(std::move(s));
    }
    std::stable_sort(searches.begin(), searches.end(), [](const Search& a, const Search& b) {
        return a.top * a.toBound > b.top * b.toBound;
    });
    for (Search& s : searches)
        while (!s.done) {
            advance(s);
            if (ritzStep(s))
                return bound;
        }
    return bound;
}

/// The unrolled scores and what went into them (for the recommendation's `inputs` line).
struct Unrolled {
    Eigen::MatrixXf scores;
    double effectiveLr = 0.0;
    double stepsPerEpoch = 0.0;
    double finalScale = 0.0;
    double stability = std::numeric_limits<double>::quiet_NaN(); ///< LambdaRecommendation::pathStability
    size_t leastStable = 0;                                        ///< the checkpoint where it peaks
};

/// PathMatch's scores: UnrolledPath at the spectrum's dimension k, with the LDS's subset size.
Unrolled unrollPath(const SelectorInputs& in, const SelectorOptions& o, int64_t tests, ProgressSink& progress,
                    const CancelToken& cancel, const PathTimeLimit& limit = {})
{
    const SpectralCache& cache = *in.cache;
    const int64_t n = cache.trainCount(), k = cache.dimension();
    checkPath(in, n, k, tests);
    const UnrolledPath path = UnrolledPath::build(in.path, k, in.recipe, o.alpha, progress, cancel, limit);
    return {path.scores(in.pathTestFeatures->topLeftCorner(tests, k).cast<double>(), cancel, limit), path.effectiveLr(),
            path.stepsPerEpoch(), path.finalScale(), path.stability(), path.leastStable()};
}

/// PathMatch: for every λ of the grid, the mean over test points of the cosine (centred over
/// training points) between the unrolled scores and the method's; the λ maximizing it.
void recommendByPathMatch(const SelectorInputs& in, const SelectorOptions& o, LambdaRecommendation& rec,
                          ProgressSink& progress, const CancelToken& cancel, const PathTimeLimit& limit = {})
{
    const SpectralCache& cache = *in.cache;
    const int64_t n = cache.trainCount();
    const int64_t tests = std::min<int64_t>(o.maxTests, cache.testCount());
    const Unrolled path = unrollPath(in, o, tests, progress, cancel, limit);
    const Eigen::MatrixXf& unrolled = path.scores;
    // Cosines with the method's scores S_λ = (Φ′Q) diag(1/(μ+λ)) (ΦQ)ᵀ W, without forming them:
    // ⟨P, S_λ⟩ = x·(P W ΦQ), Σ_i S_λ = x·(QᵀΦᵀw), ‖S_λ‖² = x (QᵀΦᵀW²ΦQ) xᵀ with x = (Φ′Q)_t/(μ+λ).
    const RowMatrixF& b = cache.trainRotated();
    Eigen::VectorXf w = Eigen::VectorXf::Ones(n);
    if (!cache.trainWeights().empty())
        w = Eigen::Map<const Eigen::VectorXf>(cache.trainWeights().data(), n);
    const int64_t k = cache.dimension();
    const Eigen::MatrixXd u = scaledProductD(unrolled, w, b, k);                       // tests × k
    const Eigen::VectorXd m = (b.transpose() * w).cast<double>();                     // k
    const Eigen::MatrixXd gram = weightedGramD(b, k, w);                              // k × k
    const Eigen::MatrixXd unrolledD = unrolled.cast<double>();
    const Eigen::VectorXd sumP = unrolledD.rowwise().sum();
    const Eigen::VectorXd sqP = unrolledD.rowwise().squaredNorm();
    const Eigen::MatrixXd testRot = cache.testRotated().topRows(tests).cast<double>();
    const double nd = static_cast<double>(n);
    const size_t grid = rec.lambdas.size();
    rec.meanXi.resize(static_cast<Eigen::Index>(grid));
    double warm = 0.0;
    progress.begin("match(lambda)", static_cast<int64_t>(grid));
    for (size_t g = 0; g < grid; ++g) {
        const Eigen::VectorXd inv = (cache.eigenvalues().array() + rec.lambdas[g]).inverse();
        const Eigen::MatrixXd x = testRot * inv.asDiagonal();
        const Eigen::VectorXd dot = x.cwiseProduct(u).rowwise().sum();
        const Eigen::VectorXd sumS = x * m;
        const Eigen::VectorXd sqS = productD(x, gram).cwiseProduct(x).rowwise().sum();
        double sum = 0.0;
        int64_t used = 0;
        for (int64_t t = 0; t < tests; ++t) {
            const double cov = dot[t] - sumP[t] * sumS[t] / nd;
            const double varS = sqS[t] - sumS[t] * sumS[t] / nd, varP = sqP[t] - sumP[t] * sumP[t] / nd;
            const double cosine = cov / std::sqrt(varS * varP);
            if (varS > 0 && varP > 0 && std::isfinite(cosine)) {
                sum += cosine;
                ++used;
            }
        }
        rec.meanXi[static_cast<Eigen::Index>(g)] = used ? sum / static_cast<double>(used) : std::nan("");
        cancel.throwIfCancelled();
        // Projected at the pace of the λ after the first, as UnrolledPath::scores is.
        if (g == 0)
            warm = limit.elapsed();
        else
            limit.check(limit.project(warm, static_cast<double>(g), static_cast<double>(grid - 1), 0.0));
        progress.advance(static_cast<int64_t>(g) + 1);
    }
    if (!rec.meanXi.allFinite())
        throw Error("λ recommendation: path-match found no test point whose unrolled scores vary over the training "
                    "points");
    summarizeCurve(rec);
    rec.pathStability = path.stability;
    rec.pathUsed = true;
    std::ostringstream text;
    text << "influence unrolled along " << in.path.size() << " checkpoints (eta_eff " << path.effectiveLr << ", "
         << path.stepsPerEpoch << " subset steps per epoch, wd " << in.recipe.weightDecay
         << ", feature scale c at the end " << path.finalScale << "), mean cosine over " << tests << " test points";
    if (std::isfinite(path.stability))
        text << "; step against GD's stability limit, lr*mu_max/c / 2(1+momentum): " << path.stability
             << " (checkpoint " << path.leastStable << ")";
    rec.inputs = text.str();
}
} // namespace

double selectorFeatureScale(const SelectorInputs& in, const SelectorOptions& o)
{
    if (o.scale > 0)
        return o.scale;
    return featureScaleOf(*in.trainFeatures, in.gradientSqNormMean, in.gradientNormSamples);
}

double selectorCurvatureRatio(const SelectorInputs& in)
{
    const RowMatrixF& phi = *in.trainFeatures;
    if (in.curvature == SelectorCurvature::LossGaussNewton
        || static_cast<Eigen::Index>(in.trainLoss.size()) != phi.rows())
        return 1.0;
    // Per sample, with p = exp(−ℓ) and 1 − p = −expm1(−ℓ) (accurate when p is close to 1):
    // TRAK's margin features carry the loss's Gauss–Newton weight p(1−p) outside the features;
    // loss features are (1−p) × margin features, so their GN weight is p/(1−p) per unit of ‖g‖².
    const Eigen::VectorXf norms = rowSquaredNorms(phi, phi.cols()); // one pass on BLAS threads
    double used = 0, gaussNewton = 0;
    for (Eigen::Index i = 0; i < phi.rows(); ++i) {
        const double sq = static_cast<double>(norms[i]);
        const double loss = in.trainLoss[static_cast<size_t>(i)];
        if (!(loss >= 0) || !std::isfinite(loss) || !std::isfinite(sq))
            continue;
        const double p = std::exp(-loss), q = -std::expm1(-loss);
        used += sq;
        if (in.curvature == SelectorCurvature::MarginFisher)
            gaussNewton += p * q * sq;
        else if (q > 0)
            gaussNewton += p / q * sq;
    }
    const double rho = used / gaussNewton;
    return rho > 0 && std::isfinite(rho) ? rho : 1.0;
}

double selectorPathFactor(const SelectorInputs& in)
{
    if (in.pathTrace.empty() || !(in.finalTrace > 0) || !std::isfinite(in.finalTrace))
        return 1.0;
    double sum = 0.0;
    for (double t : in.pathTrace) {
        if (!(t > 0) || !std::isfinite(t))
            return 1.0;
        sum += t;
    }
    const double pi = in.finalTrace / (sum / static_cast<double>(in.pathTrace.size()));
    return pi > 0 && std::isfinite(pi) ? pi : 1.0;
}

Eigen::MatrixXf unrolledPathScores(const SelectorInputs& in, const SelectorOptions& options, int64_t tests,
                                   ProgressSink& progress, const CancelToken& cancel)
{
    options.validate();
    in.recipe.validate();
    if (!in.cache)
        throw ConfigError("selector: the spectrum is required");
    if (tests < 1 || tests > in.cache->testCount())
        throw ConfigError("selector: path-match: test count " + std::to_string(tests) + " outside [1, "
                          + std::to_string(in.cache->testCount()) + "]");
    return unrollPath(in, options, tests, progress, cancel).scores;
}

std::string toString(SelectorRule rule)
{
    switch (rule) {
    case SelectorRule::SimulatedSgd: return "simulated-sgd";
    case SelectorRule::DynamicsPrior: return "dynamics-prior";
    case SelectorRule::DynamicsPriorUncalibrated: return "dynamics-prior-uncalibrated";
    case SelectorRule::EffectiveDimension: return "effective-dimension";
    case SelectorRule::StabilityPlateau: return "stability-plateau";
    case SelectorRule::FixedRelative: return "fixed-0.1-mean-eig";
    case SelectorRule::FixedAbsolute: return "fixed-1e-3";
    case SelectorRule::PathMatch: return "path-match";
    case SelectorRule::PathOrPrior: return "path-or-prior";
    }
    return "?";
}

std::vector<SelectorRule> allSelectorRules()
{
    return {SelectorRule::PathOrPrior,        SelectorRule::DynamicsPrior,    SelectorRule::DynamicsPriorUncalibrated,
            SelectorRule::SimulatedSgd,       SelectorRule::EffectiveDimension, SelectorRule::StabilityPlateau,
            SelectorRule::FixedRelative,      SelectorRule::FixedAbsolute};
}

std::vector<SelectorRule> selectableSelectorRules()
{
    std::vector<SelectorRule> rules = allSelectorRules();
    rules.push_back(SelectorRule::PathMatch);
    return rules;
}

SelectorRule parseSelectorRule(const std::string& name)
{
    std::string valid;
    for (auto r : selectableSelectorRules()) {
        if (toString(r) == name)
            return r;
        valid += (valid.empty() ? "" : ", ") + toString(r);
    }
    throw ConfigError("unknown selector rule '" + name + "' (expected one of: " + valid + ")");
}

void SelectorOptions::validate() const
{
    if (simulatedSubsets < 4)
        throw ConfigError("selector: simulatedSubsets must be at least 4, got " + std::to_string(simulatedSubsets));
    if (!(alpha > 0.0 && alpha < 1.0))
        throw ConfigError("selector: alpha must lie in (0, 1), got " + std::to_string(alpha));
    if (!(stabilityThreshold > 0.0 && stabilityThreshold <= 1.0))
        throw ConfigError("selector: stabilityThreshold must lie in (0, 1]");
    if (maxTests < 1)
        throw ConfigError("selector: maxTests must be positive");
    if (!std::isfinite(scale))
        throw ConfigError("selector: scale must be finite");
    if (!(pathBudget >= 0.0))
        throw ConfigError("selector: the path budget must be a share >= 0 (or infinite), got " + std::to_string(pathBudget));
}

double estimatedRetrainSeconds(double trainSeconds, int64_t trainThreads)
{
    if (!(trainSeconds > 0.0) || !std::isfinite(trainSeconds))
        return std::numeric_limits<double>::quiet_NaN();
    const int64_t threads =
        trainThreads > 0 ? trainThreads : std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
    const LdsOptions lds;
    return static_cast<double>(lds.subsets) * lds.alpha * trainSeconds * std::sqrt(static_cast<double>(threads))
           / static_cast<double>(lds.workers);
}

LambdaRecommendation recommendLambda(const SelectorInputs& in, const std::vector<double>& grid,
                                     const SelectorOptions& o, ProgressSink& progress, const CancelToken& cancel)
{
    o.validate();
    in.recipe.validate();
    if (!in.cache || !in.trainFeatures || !in.testFeatures)
        throw ConfigError("selector: cache and features are required");
    if (grid.empty())
        throw ConfigError("selector: the λ grid is empty");
    for (double l : grid)
        if (!(l > 0.0) || !std::isfinite(l))
            throw ConfigError("selector: every λ of the grid must be positive and finite");
    if (in.trainFeatures->cols() != in.cache->dimension() || in.testFeatures->cols() != in.cache->dimension())
        throw ConfigError("selector: feature dimension does not match the spectrum");
    if (in.trainFeatures->rows() != in.cache->trainCount())
        throw ConfigError("selector: training features do not match the spectrum's training points");

    const auto t0 = std::chrono::steady_clock::now();
    const SpectralCache& cache = *in.cache;
    const int64_t n = in.trainFeatures->rows(), k = in.trainFeatures->cols();
    const double meanEig = cache.meanEigenvalue();
    LambdaRecommendation rec;
    rec.rule = o.rule;
    rec.lambdas = grid;
    for (double l : grid)
        rec.relativeLambdas.push_back(meanEig > 0 ? l / meanEig : std::nan(""));

    const int64_t s = static_cast<int64_t>(std::floor(o.alpha * static_cast<double>(n)));
    rec.featureScale = selectorFeatureScale(in, o);
    auto dynamicsPrior = [&](bool calibrated) {
        const TrainRecipe& r = in.recipe;
        const double steps = static_cast<double>(subsetSteps(r, s));
        const double effectiveLr = r.optimizer == "adam" ? r.lr : r.lr / (1.0 - r.momentum);
        const double trueLambda = 1.0 / (effectiveLr * steps) + r.weightDecay;
        if (!calibrated)
            rec.featureScale = o.scale > 0 ? o.scale : static_cast<double>(k);
        rec.curvatureRatio = calibrated ? selectorCurvatureRatio(in) : 1.0;
        rec.pathFactor = calibrated ? selectorPathFactor(in) : 1.0;
        rec.lambda = trueLambda * rec.featureScale * rec.curvatureRatio * rec.pathFactor * conventionFactor(cache, n);
        std::ostringstream text;
        text << "1/(eta_eff*T) + wd with eta_eff " << effectiveLr << ", T " << static_cast<int64_t>(steps)
             << " subset steps, wd " << r.weightDecay << "; feature scale c " << rec.featureScale
             << (calibrated && o.scale <= 0 && !(in.gradientSqNormMean > 0) ? " (= k: no stored gradient norm)" : "")
             << ", curvature ratio rho " << rec.curvatureRatio << ", path factor pi " << rec.pathFactor
             << (calibrated && in.pathTrace.empty() ? " (no recorded training path)" : "");
        rec.inputs = text.str();
    };
    switch (o.rule) {
    case SelectorRule::SimulatedSgd:
        recommendBySimulation(in, o, rec, progress, cancel);
        break;
    case SelectorRule::DynamicsPrior:
    case SelectorRule::DynamicsPriorUncalibrated:
        dynamicsPrior(o.rule == SelectorRule::DynamicsPrior);
        break;
    case SelectorRule::PathOrPrior: {
        // path-match where the experiment records a training path that gradient descent follows
        // stably (LambdaRecommendation::pathStability ≤ 1), the dynamics prior otherwise.
        // One checkpoint is no path (the final model held for the whole run, which misses where
        // the path passes: docs/lambda-selection.md, "frozen match").
        // The path may take o.pathBudget of the retraining it replaces (unlimited when that is
        // unknown); past it, the prior. Timed from here: the stability bound and the retraining
        // estimate count against it.
        PathTimeLimit limit;
        limit.start = t0;
        // What path-match does after the build and after the scores, as multiples of their time:
        // measured on the study's MLP and CNN paths (10 checkpoints, 500 tests, 25 λ) at k = 256
        // and 1024, 0.75-1.18 and 0.62-1.03; the study's 33 λ add a third to the match
        // (docs/lambda-selection.md, "Its budget").
        limit.afterBuild = 1.0;
        limit.afterScores = 1.0;
        double retrain = in.retrainSeconds;
        std::string how = std::isfinite(retrain) ? "given" : "unknown";
        auto setBudget = [&] {
            if (o.pathBudget == 0.0)
                limit.seconds = 0.0; // whatever the retraining costs
            else if (std::isfinite(o.pathBudget) && std::isfinite(retrain))
                limit.seconds = o.pathBudget * retrain;
            rec.pathBudgetSeconds = std::isfinite(limit.seconds) ? limit.seconds : std::nan("");
            rec.retrainSeconds = retrain;
            rec.retrainEstimate = how;
        };
        std::string why = in.path.empty() ? "no recorded training path"
                                          : "one checkpoint is no training path (train with --checkpoints C, or import with --checkpoint)";
        if (in.path.size() >= 2 && o.pathBudget == 0.0) {
            setBudget();
            why = "the path budget is 0";
        } else if (in.path.size() >= 2) {
            // A run past the limit is seen from a lower bound, before any segment's
            // eigendecomposition (most of path-match's cost); path-match's own figure decides the rest.
            checkPath(in, n, k, std::min<int64_t>(o.maxTests, cache.testCount()));
            // A checkpoint with non-finite features has no curvature: the prior, saying so.
            std::optional<std::string> broken;
            double bound = std::numeric_limits<double>::quiet_NaN();
            try {
                bound = pathStabilityLowerBound(in, n, k, 1.0);
            } catch (const FormatError& e) {
                broken = e.what();
            }
            const bool past = bound > 1.0 || broken.has_value();
            // The retraining is estimated only for a path that may be unrolled.
            if (!past && !std::isfinite(retrain) && in.estimateRetrainSeconds && std::isfinite(o.pathBudget))
                retrain = in.estimateRetrainSeconds(cancel, &how);
            setBudget();
            LambdaRecommendation matched = rec;
            std::optional<PathBudgetExceeded> over;
            if (past) {
                matched.pathStability = bound;
            } else {
                try {
                    recommendByPathMatch(in, o, matched, progress, cancel, limit);
                } catch (const PathBudgetExceeded& e) {
                    over.emplace(e);
                } catch (const FormatError& e) {
                    broken = e.what();
                }
            }
            if (!past && !over && !broken && matched.pathStability <= 1.0) {
                matched.inputs = "path-match: " + matched.inputs;
                matched.rule = SelectorRule::PathOrPrior;
                matched.seconds = 0.0;
                matched.pathBudgetSeconds = rec.pathBudgetSeconds;
                matched.retrainSeconds = rec.retrainSeconds;
                matched.retrainEstimate = rec.retrainEstimate;
                rec = std::move(matched);
                break;
            }
            std::ostringstream reason;
            if (broken) {
                reason << *broken;
            } else if (over) {
                const char* about = over->lowerBound() ? "more than " : "about ";
                reason << "unrolling the training path would take " << about << std::setprecision(3)
                       << over->projectedSeconds() << " s, over its budget of " << over->limitSeconds() << " s: "
                       << o.pathBudget << " of the estimated " << retrain << " s of retraining "
                       << LdsOptions{}.subsets << " models (" << how << "); --path-budget sets it";
                // The share this path would need, rounded up to two digits (a projection: timing
                // varies; "more than" where it stopped before timing any eigendecomposition).
                const double need = over->projectedSeconds() / retrain;
                if (need > 0 && std::isfinite(need)) {
                    const double digit = std::pow(10.0, std::floor(std::log10(need)) - 1.0);
                    reason << " (this path projects to " << about << std::setprecision(2)
                           << std::ceil(need / digit) * digit << " of the retraining)";
                }
            } else {
                rec.pathStability = matched.pathStability;
                if (std::isfinite(matched.pathStability))
                    reason << "the recorded run steps beyond gradient descent's stability limit ("
                           << (past ? "at least " : "") << matched.pathStability << " of it)";
                else
                    reason << "no stability limit is claimed for " << in.recipe.optimizer;
            }
            why = reason.str();
        }
        dynamicsPrior(true);
        rec.inputs = "dynamics-prior (" + why + "): " + rec.inputs;
        break;
    }
    case SelectorRule::EffectiveDimension: {
        const double target = 0.5 * static_cast<double>(std::min<int64_t>(s, k));
        rec.lambda = dfTargetLambda(cache.eigenvalues(), target);
        rec.inputs = "df(lambda) = " + std::to_string(target);
        break;
    }
    case SelectorRule::StabilityPlateau:
        recommendByStability(in, o, rec, progress, cancel);
        break;
    case SelectorRule::PathMatch:
        recommendByPathMatch(in, o, rec, progress, cancel);
        break;
    case SelectorRule::FixedRelative:
        rec.lambda = 0.1 * meanEig;
        rec.inputs = "0.1 x mean eigenvalue";
        break;
    case SelectorRule::FixedAbsolute:
        rec.lambda = 1e-3;
        rec.inputs = "lambda = 1e-3 (absolute)";
        break;
    }
    if (!(rec.lambda > 0.0) || !std::isfinite(rec.lambda))
        rec.lambda = grid.front();
    rec.relativeLambda = meanEig > 0 ? rec.lambda / meanEig : std::nan("");
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rec;
}

} // namespace attri
