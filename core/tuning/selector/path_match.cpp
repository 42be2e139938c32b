#include "tuning/private/selector_rules.h"

#include "common/error.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "attribution/dense_products.h"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

namespace attri {

namespace {

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

} // namespace

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

/// PathMatch: for every λ of the grid, the mean over test points of the cosine (centred over
/// training points) between the unrolled scores and the method's; the λ maximizing it.
void recommendByPathMatch(const SelectorInputs& in, const SelectorOptions& o, LambdaRecommendation& rec,
                          ProgressSink& progress, const CancelToken& cancel, const PathTimeLimit& limit)
{
    if (in.recipe.converged())
        throw ConfigError("path-match unrolls the dynamics of a stochastic-gradient run; this model was trained to "
                          "convergence with " + in.recipe.optimizer
                          + ", which has none to unroll (the default rule path-or-prior takes the prior for "
                            "converged training)");
    if (!in.recipe.constantRate())
        throw ConfigError("path-match unrolls a constant learning rate; this run follows the "
                          + in.recipe.scheduleText() + " schedule (the default rule path-or-prior covers it)");
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

} // namespace attri
