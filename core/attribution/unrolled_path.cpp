#include "attribution/unrolled_path.h"

#include "attribution/dense_products.h"
#include "attribution/spectral_cache.h"
#include "common/error.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/param_set.h"
#include "store/attribution_store.h"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <exception>
#include <iomanip>
#include <sstream>
#include <string>
#include <thread>

namespace attri {

PathSegment pathSegmentAt(const std::string& file, const FeatureRecord& record, const Checkpoint& checkpoint,
                          int64_t stepsPerEpoch, int64_t trainCount, double& previousEpoch)
{
    if (record.trainCount != trainCount || static_cast<int64_t>(record.trainStats.loss.size()) != trainCount)
        throw FormatError(file + ": features " + record.key + " do not cover the experiment's "
                          + std::to_string(trainCount) + " training points with their losses");
    const double epoch = checkpoint.epochsAt(stepsPerEpoch);
    if (!(epoch > previousEpoch))
        throw FormatError(file + ": checkpoint " + std::to_string(record.checkpoint) + " is at epoch "
                          + std::to_string(epoch) + ", not after the previous one");
    PathSegment segment;
    segment.trainLoss = record.trainStats.loss;
    segment.gradientSqNormMean = record.gradientSqNormMean;
    segment.gradientNormSamples = record.gradientNormSamples;
    segment.epochs = epoch - previousEpoch;
    previousEpoch = epoch;
    return segment;
}

double featureScaleOf(const RowMatrixF& phi, double gradientSqNormMean, int64_t samples, int64_t k)
{
    const Eigen::Index cols = k < 0 ? phi.cols() : std::min<Eigen::Index>(k, phi.cols());
    const Eigen::Index m = std::min<Eigen::Index>(phi.rows(), samples);
    if (m > 0 && gradientSqNormMean > 0 && std::isfinite(gradientSqNormMean)) {
        double sum = 0;
        for (Eigen::Index i = 0; i < m; ++i)
            sum += static_cast<double>(phi.row(i).head(cols).squaredNorm());
        const double c = sum / static_cast<double>(m) / gradientSqNormMean;
        if (c > 0 && std::isfinite(c))
            return c;
    }
    return static_cast<double>(cols);
}

Eigen::VectorXf gaussNewtonRoots(const PathSegment& seg, int64_t n)
{
    Eigen::VectorXf root(n);
    for (int64_t i = 0; i < n; ++i) {
        const double loss = seg.trainLoss[static_cast<size_t>(i)];
        const double p = std::exp(-loss), q = -std::expm1(-loss);
        const double w = (loss >= 0 && std::isfinite(loss) && q > 0) ? p / q : 0.0;
        root[i] = static_cast<float>(std::sqrt(w / static_cast<double>(n)));
    }
    return root;
}

void throwNonFiniteCheckpoint(size_t index)
{
    throw FormatError("training path: the features of checkpoint " + std::to_string(index)
                      + " hold NaN or Inf (a run that diverged there, or a damaged file); the unrolled path "
                        "needs finite features");
}

double PathTimeLimit::project(double entry, double done, double count, double after) const
{
    if (!(done > 0.0))
        return elapsed();
    const double phase = (elapsed() - entry) / done * count;
    return entry + phase * (1.0 + after);
}

void PathTimeLimit::check(double projected, bool lowerBound) const
{
    if (projected > seconds)
        throw PathBudgetExceeded(projected, seconds, lowerBound);
}

namespace {

std::string budgetMessage(double projected, double limit, bool lowerBound)
{
    std::ostringstream text;
    text << "unrolling the training path would take " << (lowerBound ? "more than " : "about ")
         << std::setprecision(3) << projected << " s, over its " << limit << " s budget";
    return text.str();
}

} // namespace

PathBudgetExceeded::PathBudgetExceeded(double projectedSeconds, double limitSeconds, bool lowerBound)
    : Error(budgetMessage(projectedSeconds, limitSeconds, lowerBound)),
      m_projected(projectedSeconds),
      m_limit(limitSeconds),
      m_lowerBound(lowerBound)
{
}

UnrolledPath UnrolledPath::build(const std::vector<PathSegment>& segments, int64_t k, const TrainRecipe& r,
                                 double alpha, ProgressSink& progress, const CancelToken& cancel,
                                 const PathTimeLimit& limit)
{
    r.validate();
    if (segments.empty())
        throw ConfigError("unrolled path: no checkpoint");
    if (!(alpha > 0.0 && alpha <= 1.0))
        throw ConfigError("unrolled path: subset fraction " + std::to_string(alpha) + " outside (0, 1]");
    const int64_t n = segments.front().trainFeatures ? segments.front().trainFeatures->rows() : 0;
    if (k < 1 || n < 1)
        throw ConfigError("unrolled path: needs training features and k >= 1");
    for (size_t s = 0; s < segments.size(); ++s) {
        const PathSegment& seg = segments[s];
        if (!seg.trainFeatures || seg.trainFeatures->rows() != n || seg.trainFeatures->cols() < k
            || static_cast<int64_t>(seg.trainLoss.size()) != n || !(seg.epochs > 0) || !std::isfinite(seg.epochs))
            throw ConfigError("unrolled path: checkpoint " + std::to_string(s) + " needs " + std::to_string(n)
                              + " training rows of dimension at least " + std::to_string(k)
                              + ", their losses and a positive number of epochs");
    }
    UnrolledPath out;
    out.m_k = k;
    out.m_n = n;
    out.m_effectiveLr = r.adamFamily() ? r.lr : r.lr / (1.0 - r.momentum);
    const int64_t subset = std::max<int64_t>(1, static_cast<int64_t>(std::floor(alpha * static_cast<double>(n))));
    out.m_stepsPerEpoch = static_cast<double>((subset + r.batchSize - 1) / r.batchSize);
    // Gradient descent with heavy-ball momentum β is stable on a quadratic of top curvature μ
    // while lr·μ < 2(1 + β); H_s/c_s is the loss's curvature in parameter units.
    const bool sgd = r.optimizer == "sgd";
    out.m_stability = sgd ? 0.0 : std::numeric_limits<double>::quiet_NaN();

    // The segments' eigendecompositions are independent and single-threaded (symmetricEigen), so
    // they run side by side, a batch of `threads` at a time (memory: that many k × k matrices in
    // double while they run); the Gram matrices before them use all threads through BLAS. Single
    // precision suffices: the filter (1 − e^{−aμ})/μ tends to a for small μ, so float's error in
    // the smallest eigenvalues and in the mixing of their eigenvectors does not reach the scores
    // (at k = 1024 on the CNN: the same path-match λ and curve to 4 digits as in double).
    struct Work {
        double scale = 0.0;
        Eigen::MatrixXd h;
        Eigen::VectorXd mu;
        Eigen::MatrixXd v;
    };
    const size_t count = segments.size();
    const size_t threads = std::max<size_t>(1, std::min<size_t>(std::thread::hardware_concurrency(), 8));
    const double entry = limit.elapsed();
    out.m_segments.resize(count);
    progress.begin("unroll training path", static_cast<int64_t>(count));
    for (size_t start = 0; start < count; start += threads) {
        const size_t batch = std::min(threads, count - start);
        std::vector<Work> work(batch);
        for (size_t b = 0; b < batch; ++b) {
            const PathSegment& seg = segments[start + b];
            work[b].scale = featureScaleOf(*seg.trainFeatures, seg.gradientSqNormMean, seg.gradientNormSamples, k);
            // Accumulated in float: it is rounded to float for the eigendecomposition anyway.
            // The first Gram matrix is summed over eighths of the rows, stopping as soon as that
            // one matrix alone would pass the budget (on LR at k = 2048 it takes 0.3 s, against a
            // budget of 0.12 s). Only that matrix is projected there: an eighth's pace, with the
            // fixed cost of a small product, is no measure of the whole path's (on the MLP at
            // k = 256 it projected the path at twice its time).
            const Eigen::VectorXf roots = gaussNewtonRoots(seg, n);
            const int64_t blocks = start + b == 0 ? std::min<int64_t>(8, n) : 1;
            work[b].h = Eigen::MatrixXd::Zero(k, k);
            for (int64_t block = 0; block < blocks; ++block) {
                work[b].h += weightedGramD(*seg.trainFeatures, k, roots, Accumulation::Single, n * block / blocks,
                                           n * (block + 1) / blocks);
                cancel.throwIfCancelled();
                if (block + 1 < blocks)
                    limit.check(limit.project(entry, static_cast<double>(block + 1) / static_cast<double>(blocks),
                                              1.0, 0.0),
                                true);
            }
            // Each segment costs about the same: the time since entry over the segments begun,
            // times all; plus what came before and the work expected after the build
            // (limit.afterBuild). Before the first eigendecompositions the projection is low (Gram
            // matrices only, hence a lower bound): it stops a path far over its budget before the
            // costlier part.
            if (!work[b].h.allFinite())
                throwNonFiniteCheckpoint(start + b);
            limit.check(limit.project(entry, static_cast<double>(start + b + 1), static_cast<double>(count),
                                      limit.afterBuild),
                        start == 0);
            work[b].h.diagonal().array() += work[b].scale * r.weightDecay;
        }
        std::vector<std::exception_ptr> errors(batch);
        std::vector<std::thread> pool;
        for (size_t b = 0; b < batch; ++b)
            pool.emplace_back([&work, &errors, b] {
                try {
                    symmetricEigen(work[b].h, &work[b].mu, &work[b].v, EigenPrecision::Single);
                    work[b].h = Eigen::MatrixXd();
                } catch (...) {
                    errors[b] = std::current_exception();
                }
            });
        for (auto& t : pool)
            t.join();
        for (const auto& e : errors)
            if (e)
                std::rethrow_exception(e);
        for (size_t b = 0; b < batch; ++b) {
            const size_t s = start + b;
            const Work& w = work[b];
            Segment& seg = out.m_segments[s];
            seg.train = segments[s].trainFeatures;
            seg.scale = w.scale;
            const Eigen::VectorXd mu = w.mu.cwiseMax(w.scale * r.weightDecay);
            const double step = r.lr * mu.maxCoeff() / w.scale / (2.0 * (1.0 + r.momentum));
            if (sgd && step > out.m_stability) {
                out.m_stability = step;
                out.m_leastStable = s;
            }
            const double a = out.m_effectiveLr / w.scale * out.m_stepsPerEpoch * segments[s].epochs;
            seg.filter.resize(k);
            seg.decay.resize(k);
            for (int64_t j = 0; j < k; ++j) {
                const double x = a * mu[j];
                seg.filter[j] = x < 1e-12 ? a : -std::expm1(-x) / mu[j];
                seg.decay[j] = std::exp(-x);
            }
            // Computed in float (EigenPrecision::Single): storing them in float loses nothing.
            seg.vectors = w.v.cast<float>();
        }
        cancel.throwIfCancelled();
        limit.check(limit.project(entry, static_cast<double>(start + batch), static_cast<double>(count), limit.afterBuild));
        progress.advance(static_cast<int64_t>(start + batch));
    }
    return out;
}

Eigen::MatrixXf UnrolledPath::scores(const Eigen::MatrixXd& tests, const CancelToken& cancel,
                                     const PathTimeLimit& limit) const
{
    if (tests.cols() < m_k)
        throw ConfigError("unrolled path: test features have " + std::to_string(tests.cols())
                          + " columns, fewer than k = " + std::to_string(m_k));
    // Last segment first: `carried` is φ′(T)ᵀ Π_{later segments} exp(−a H).
    Eigen::MatrixXd carried = tests.leftCols(m_k);
    Eigen::MatrixXf out = Eigen::MatrixXf::Zero(tests.rows(), m_n);
    // Projected from the second segment on, at the pace of the segments after the first (the
    // first also pays for first touches: on the MLP at k = 256 four times a later one).
    double warm = 0.0;
    for (size_t done = 0; done < m_segments.size(); ++done) {
        const Segment& seg = m_segments[m_segments.size() - 1 - done];
        const Eigen::MatrixXd v = seg.vectors.cast<double>();
        const Eigen::MatrixXd cv = productD(carried, v);
        const Eigen::MatrixXd vt = v.transpose();
        addProductWithTransposed(out, productD(cv * seg.filter.asDiagonal(), vt).cast<float>(), *seg.train);
        if (done + 1 < m_segments.size())
            carried = productD(cv * seg.decay.asDiagonal(), vt);
        cancel.throwIfCancelled();
        if (done == 0)
            warm = limit.elapsed();
        else
            limit.check(limit.project(warm, static_cast<double>(done), static_cast<double>(m_segments.size() - 1),
                                      limit.afterScores));
    }
    return out;
}

} // namespace attri
