#include "eval/removal_checks.h"

#include "common/error.h"
#include "data/image_set.h"
#include "eval/ground_truth.h"
#include "eval/subset_sampler.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "store/h5_file.h"
#include "eval/rank_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

namespace attri {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void checkPool(const char* what, int workers, int threadsPerWorker, int repeats)
{
    if (repeats < 1 || repeats > 1000)
        throw ConfigError(std::string(what) + ": 'repeats' must be in [1, 1000], got " + std::to_string(repeats));
    if (workers < 1)
        throw ConfigError(std::string(what) + ": 'workers' must be >= 1, got " + std::to_string(workers));
    if (threadsPerWorker < 1)
        throw ConfigError(std::string(what) + ": 'threadsPerWorker' must be >= 1, got "
                          + std::to_string(threadsPerWorker));
}

void checkScores(const char* what, const RowMatrixF& scores, const ImageSet& train, const ImageSet& test)
{
    if (scores.rows() != test.count || scores.cols() != train.count)
        throw ConfigError(std::string(what) + ": the scores are " + std::to_string(scores.rows()) + "×"
                          + std::to_string(scores.cols()) + ", expected test×train = "
                          + std::to_string(test.count) + "×" + std::to_string(train.count));
}

std::vector<int64_t> allBut(int64_t n, const std::vector<int64_t>& removed)
{
    std::vector<uint8_t> drop(static_cast<size_t>(n), 0);
    for (int64_t i : removed)
        drop[static_cast<size_t>(i)] = 1;
    std::vector<int64_t> keep;
    keep.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
        if (!drop[static_cast<size_t>(i)])
            keep.push_back(i);
    return keep;
}

double meanOfDefined(const std::vector<double>& v)
{
    double sum = 0.0;
    int64_t count = 0;
    for (double x : v)
        if (std::isfinite(x)) {
            sum += x;
            ++count;
        }
    return count > 0 ? sum / static_cast<double>(count) : kNaN;
}

/// Trains every keep-list `repeats` times, repeat r with the recipe's seed + r (its own
/// initialization and shuffling, retrainingStart), reporting one progress step per model; returns
/// each list's test losses averaged over the repeats. Differences between lists are then the mean
/// of the per-seed differences, each against the same seed's baseline.
std::vector<std::vector<double>> retrainAll(const Model& model, const TrainRecipe& recipe, int repeats,
                                            const ImageSet& train, const ImageSet& test,
                                            const std::vector<std::vector<int64_t>>& keepLists,
                                            const RetrainPool& pool, const char* stage,
                                            ProgressSink& progress, const CancelToken& cancel)
{
    std::vector<std::vector<double>> losses(keepLists.size(), std::vector<double>(static_cast<size_t>(test.count), 0.0));
    int64_t finished = 0, notConverged = 0;
    progress.begin(stage, static_cast<int64_t>(keepLists.size()) * repeats);
    for (int r = 0; r < repeats; ++r) {
        TrainRecipe seeded = recipe;
        seeded.seed = recipe.seed + static_cast<uint64_t>(r);
        const Model start = retrainingStart(model, seeded);
        notConverged += retrainEach(
            start, seeded, train, test, keepLists, pool,
            [&](size_t job, std::vector<double>&& loss) {
                for (size_t t = 0; t < loss.size(); ++t)
                    losses[job][t] += loss[t] / repeats;
                progress.advance(++finished);
            },
            cancel);
    }
    if (notConverged > 0)
        progress.message("warning: " + std::to_string(notConverged) + " of "
                         + std::to_string(static_cast<int64_t>(keepLists.size()) * repeats)
                         + " retrained models did not reach the L-BFGS tolerance within the cap (--epochs)");
    return losses;
}

} // namespace

void LooOptions::validate(int64_t trainCount) const
{
    checkPool("leave-one-out", workers, threadsPerWorker, repeats);
    if (removed.empty())
        throw ConfigError("leave-one-out: 'removed' must list at least one training point");
    std::set<int64_t> seen;
    for (int64_t i : removed) {
        if (i < 0 || i >= trainCount)
            throw ConfigError("leave-one-out: 'removed' holds " + std::to_string(i)
                              + ", expected indices in [0, " + std::to_string(trainCount) + ")");
        if (!seen.insert(i).second)
            throw ConfigError("leave-one-out: 'removed' lists training point " + std::to_string(i)
                              + " twice");
    }
    if (trainCount < 2)
        throw ConfigError("leave-one-out needs at least 2 training points");
}

void TopKRemovalOptions::validate(int64_t trainCount, int64_t testCount) const
{
    checkPool("top-k removal", workers, threadsPerWorker, repeats);
    if (k < 1 || k >= trainCount)
        throw ConfigError("top-k removal: 'k' must be in [1, n = " + std::to_string(trainCount) + "), got "
                          + std::to_string(k));
    if (tests.empty())
        throw ConfigError("top-k removal: 'tests' must list at least one test point");
    for (int64_t t : tests)
        if (t < 0 || t >= testCount)
            throw ConfigError("top-k removal: 'tests' holds " + std::to_string(t)
                              + ", expected indices in [0, " + std::to_string(testCount) + ")");
}

LooResult leaveOneOutCheck(const Model& model, const std::optional<TrainRecipe>& recipe,
                           const ImageSet& train, const ImageSet& test, const RowMatrixF& scores,
                           const LooOptions& options, ProgressSink& progress, const CancelToken& cancel)
{
    options.validate(train.count);
    checkScores("leave-one-out", scores, train, test);
    retrainingStart(model, recipe); // no recipe: its error before any work

    // Job 0: all points (the baseline); job 1 + r: all but removed[r].
    std::vector<std::vector<int64_t>> keepLists;
    keepLists.push_back(allBut(train.count, {}));
    for (int64_t i : options.removed)
        keepLists.push_back(allBut(train.count, {i}));
    const auto losses =
        retrainAll(model, *recipe, options.repeats, train, test, keepLists,
                   {options.workers, options.threadsPerWorker}, "leave-one-out", progress, cancel);

    const auto R = static_cast<int64_t>(options.removed.size());
    const int64_t m = test.count;
    LooResult r;
    r.removed = options.removed;
    r.baselineLoss = losses[0];
    r.lossChange.resize(R, m);
    for (int64_t k = 0; k < R; ++k)
        for (int64_t t = 0; t < m; ++t)
            r.lossChange(k, t) = losses[static_cast<size_t>(k + 1)][static_cast<size_t>(t)]
                                 - r.baselineLoss[static_cast<size_t>(t)];

    std::vector<double> change(static_cast<size_t>(R)), predicted(static_cast<size_t>(R));
    std::vector<double> allChange, allPredicted;
    for (int64_t t = 0; t < m; ++t) {
        for (int64_t k = 0; k < R; ++k) {
            change[static_cast<size_t>(k)] = r.lossChange(k, t);
            predicted[static_cast<size_t>(k)] = scores(t, options.removed[static_cast<size_t>(k)]);
        }
        r.perTestPearson.push_back(pearson(change, predicted));
        r.perTestSpearman.push_back(spearman(change, predicted));
        allChange.insert(allChange.end(), change.begin(), change.end());
        allPredicted.insert(allPredicted.end(), predicted.begin(), predicted.end());
    }
    r.meanPearson = meanOfDefined(r.perTestPearson);
    r.meanSpearman = meanOfDefined(r.perTestSpearman);
    r.pooledPearson = pearson(allChange, allPredicted);
    return r;
}

TopKRemovalResult topKRemovalCheck(const Model& model, const std::optional<TrainRecipe>& recipe,
                                   const ImageSet& train, const ImageSet& test, const RowMatrixF& scores,
                                   const TopKRemovalOptions& options, ProgressSink& progress,
                                   const CancelToken& cancel)
{
    options.validate(train.count, test.count);
    checkScores("top-k removal", scores, train, test);
    retrainingStart(model, recipe); // no recipe: its error before any work

    TopKRemovalResult r;
    r.tests = options.tests;
    std::vector<std::vector<int64_t>> keepLists;
    keepLists.push_back(allBut(train.count, {}));
    for (int64_t t : options.tests) {
        std::vector<int64_t> top = topIndices(scores.row(t).data(), train.count, options.k);
        auto random = sampleSubset(train.count, options.k, options.seed + static_cast<uint64_t>(t));
        keepLists.push_back(allBut(train.count, top));
        keepLists.push_back(allBut(train.count, random));
        r.topK.push_back(std::move(top));
        r.random.push_back(std::move(random));
    }
    const auto losses =
        retrainAll(model, *recipe, options.repeats, train, test, keepLists,
                   {options.workers, options.threadsPerWorker}, "top-k removal", progress, cancel);
    for (size_t c = 0; c < options.tests.size(); ++c) {
        const auto t = static_cast<size_t>(options.tests[c]);
        const double base = losses[0][t];
        r.baselineLoss.push_back(base);
        r.topKIncrease.push_back(losses[1 + 2 * c][t] - base);
        r.randomIncrease.push_back(losses[2 + 2 * c][t] - base);
    }
    r.meanTopKIncrease = meanOfDefined(r.topKIncrease);
    r.meanRandomIncrease = meanOfDefined(r.randomIncrease);
    const auto T = static_cast<double>(r.tests.size());
    double sumSq = 0.0;
    const double meanExcess = r.meanTopKIncrease - r.meanRandomIncrease;
    for (size_t c = 0; c < r.tests.size(); ++c) {
        const double excess = r.topKIncrease[c] - r.randomIncrease[c];
        sumSq += (excess - meanExcess) * (excess - meanExcess);
        if (excess > 0)
            ++r.testsAboveRandom;
    }
    r.excessStderr = r.tests.size() > 1 ? std::sqrt(sumSq / (T - 1) / T) : kNaN;
    return r;
}

namespace {

/// Replaces /checks/<kind>/<method>-k<K> by an empty group carrying the setting's attributes.
std::string checkGroup(H5File& file, const char* kind, const CheckedSetting& s)
{
    const std::string group = std::string("/checks/") + kind + "/" + s.method + "-k" + std::to_string(s.k);
    if (file.exists(group))
        file.remove(group);
    file.createGroup(group);
    file.setAttr(group, "method", s.method);
    file.setAttr(group, "k", s.k);
    file.setAttr(group, "lambda", s.lambda);
    file.setAttr(group, "recipe", s.recipe);
    file.setAttr(group, "seconds", s.seconds);
    file.setAttr(group, "repeats", static_cast<int64_t>(s.repeats));
    return group;
}

/// Rows of equal length as one row-major int64 matrix.
std::vector<int64_t> flatten(const std::vector<std::vector<int64_t>>& rows)
{
    std::vector<int64_t> out;
    for (const auto& row : rows)
        out.insert(out.end(), row.begin(), row.end());
    return out;
}

} // namespace

std::string writeTopKRemoval(H5File& file, const CheckedSetting& setting, const TopKRemovalOptions& options,
                             const TopKRemovalResult& r)
{
    const std::string g = checkGroup(file, "topk_removal", setting);
    const auto T = static_cast<int64_t>(r.tests.size());
    file.setAttr(g, "removed_per_test", options.k);
    file.setAttr(g, "seed", static_cast<int64_t>(options.seed));
    file.setAttr(g, "mean_topk_increase", r.meanTopKIncrease);
    file.setAttr(g, "mean_random_increase", r.meanRandomIncrease);
    file.setAttr(g, "excess_stderr", r.excessStderr);
    file.setAttr(g, "tests_above_random", r.testsAboveRandom);
    file.writeInt64(g + "/tests", {T}, r.tests.data());
    file.writeInt64(g + "/top_k", {T, options.k}, flatten(r.topK).data());
    file.writeInt64(g + "/random", {T, options.k}, flatten(r.random).data());
    file.writeDoubles(g + "/baseline_loss", {T}, r.baselineLoss.data());
    file.writeDoubles(g + "/topk_increase", {T}, r.topKIncrease.data());
    file.writeDoubles(g + "/random_increase", {T}, r.randomIncrease.data());
    return g;
}

std::string writeLeaveOneOut(H5File& file, const CheckedSetting& setting, const LooResult& r)
{
    const std::string g = checkGroup(file, "leave_one_out", setting);
    const auto R = static_cast<int64_t>(r.removed.size());
    const auto m = static_cast<int64_t>(r.baselineLoss.size());
    file.setAttr(g, "mean_pearson", r.meanPearson);
    file.setAttr(g, "mean_spearman", r.meanSpearman);
    file.setAttr(g, "pooled_pearson", r.pooledPearson);
    file.writeInt64(g + "/removed", {R}, r.removed.data());
    file.writeDoubles(g + "/baseline_loss", {m}, r.baselineLoss.data());
    const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> change = r.lossChange;
    file.writeDoubles(g + "/loss_change", {R, m}, change.data());
    file.writeDoubles(g + "/per_test_pearson", {m}, r.perTestPearson.data());
    file.writeDoubles(g + "/per_test_spearman", {m}, r.perTestSpearman.data());
    return g;
}

} // namespace attri
