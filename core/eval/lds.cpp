#include "eval/lds.h"

#include "attribution/dense_products.h"
#include "common/error.h"
#include "common/parallel.h"
#include "eval/ground_truth.h"
#include "jobs/cancel_token.h"
#include "eval/rank_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace attri {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void checkShape(int64_t rows, int64_t cols, const GroundTruth& truth)
{
    if (rows != truth.testCount || cols != truth.trainCount)
        throw ConfigError("LDS: the scores are " + std::to_string(rows) + "×" + std::to_string(cols)
                          + ", the ground truth needs test×train = " + std::to_string(truth.testCount) + "×"
                          + std::to_string(truth.trainCount));
    if (truth.subsets < 2 || static_cast<int64_t>(truth.masks.size()) != truth.subsets * truth.trainCount
        || truth.testLoss.rows() != truth.subsets || truth.testLoss.cols() != truth.testCount)
        throw ConfigError("LDS: the ground truth is inconsistent (masks or test losses do not match "
                          "subsets×n / subsets×m)");
}

void checkSumsShape(const RowMatrixF& sums, const GroundTruth& truth)
{
    if (sums.rows() != truth.testCount || sums.cols() != truth.subsets)
        throw ConfigError("LDS: the subset sums are " + std::to_string(sums.rows()) + "×" + std::to_string(sums.cols())
                          + ", the ground truth needs test×subsets = " + std::to_string(truth.testCount) + "×"
                          + std::to_string(truth.subsets));
}

/// Average ranks of y_j = −testLoss(j, t) over the subsets; empty when a loss is NaN (a diverged
/// subset model makes the test undefined: rank_stats rejects NaN).
std::vector<double> targetRanks(const GroundTruth& truth, int64_t t)
{
    std::vector<double> y(static_cast<size_t>(truth.subsets));
    for (int64_t j = 0; j < truth.subsets; ++j) {
        y[static_cast<size_t>(j)] = -truth.testLoss(j, t);
        if (std::isnan(y[static_cast<size_t>(j)]))
            return {};
    }
    return averageRanks(y);
}

/// LDS of tests [first, first + sums.rows()) from their subset sums (rows × M), against the
/// targets' ranks when given, else ranking the targets here.
void ldsOfBlock(const RowMatrixF& sums, int64_t first, const GroundTruth& truth, const LdsTargets* targets,
                std::vector<double>& out)
{
    const int64_t M = truth.subsets;
    // Ranking is most of an LDS once the sums are formed: the tests are split over the cores.
    parallelFor(sums.rows(), hardwareThreads(), [&](int64_t begin, int64_t end, int) {
        std::vector<double> own;
        for (int64_t r = begin; r < end; ++r) {
            const int64_t t = first + r;
            if (!targets)
                own = targetRanks(truth, t);
            const std::vector<double>& y = targets ? targets->ranks(t) : own;
            const float* s = sums.row(r).data();
            bool defined = !y.empty();
            for (int64_t j = 0; j < M && defined; ++j)
                defined = !std::isnan(s[j]);
            // The sums are ranked as floats (the same ranks as in double, by the faster key sort).
            out[static_cast<size_t>(t)] = defined ? pearson(y, averageRanks(s, M)) : kNaN;
        }
    });
}

LdsResult summarize(std::vector<double> perTest)
{
    LdsResult r;
    double sum = 0.0;
    for (double v : perTest)
        if (std::isfinite(v)) {
            sum += v;
            ++r.usedTests;
        }
    r.mean = r.usedTests > 0 ? sum / static_cast<double>(r.usedTests) : kNaN;
    if (r.usedTests >= 2) {
        double ss = 0.0;
        for (double v : perTest)
            if (std::isfinite(v))
                ss += (v - r.mean) * (v - r.mean);
        const double sd = std::sqrt(ss / static_cast<double>(r.usedTests - 1));
        r.standardError = sd / std::sqrt(static_cast<double>(r.usedTests));
    } else {
        r.standardError = kNaN;
    }
    r.perTest = std::move(perTest);
    return r;
}

} // namespace

RowMatrixF ldsMaskMatrix(const GroundTruth& truth)
{
    checkShape(truth.testCount, truth.trainCount, truth);
    RowMatrixF masks(truth.subsets, truth.trainCount);
    for (int64_t j = 0; j < truth.subsets; ++j)
        for (int64_t i = 0; i < truth.trainCount; ++i)
            masks(j, i) = truth.inSubset(j, i) ? 1.0f : 0.0f;
    return masks;
}

LdsResult computeLds(const RowMatrixF& scores, const GroundTruth& truth)
{
    return ldsFromSubsetSums(ldsSubsetSums(scores, truth), truth);
}

RowMatrixF ldsSubsetSums(const RowMatrixF& scores, const GroundTruth& truth)
{
    checkShape(scores.rows(), scores.cols(), truth);
    // m×M, one GEMM on BLAS (Eigen's, at baseline SSE2 on one thread, was most of an LDS).
    return productWithTransposedF(scores, ldsMaskMatrix(truth));
}

LdsResult ldsFromSubsetSums(const RowMatrixF& sums, const GroundTruth& truth)
{
    checkShape(truth.testCount, truth.trainCount, truth);
    checkSumsShape(sums, truth);
    std::vector<double> perTest(static_cast<size_t>(truth.testCount), kNaN);
    ldsOfBlock(sums, 0, truth, nullptr, perTest);
    return summarize(std::move(perTest));
}

LdsTargets::LdsTargets(const GroundTruth& truth) : m_truth(&truth)
{
    checkShape(truth.testCount, truth.trainCount, truth);
    m_ranks.resize(static_cast<size_t>(truth.testCount));
    for (int64_t t = 0; t < truth.testCount; ++t)
        m_ranks[static_cast<size_t>(t)] = targetRanks(truth, t);
}

LdsResult ldsFromSubsetSums(const RowMatrixF& sums, const LdsTargets& targets)
{
    const GroundTruth& truth = targets.truth();
    checkSumsShape(sums, truth);
    std::vector<double> perTest(static_cast<size_t>(truth.testCount), kNaN);
    ldsOfBlock(sums, 0, truth, &targets, perTest);
    return summarize(std::move(perTest));
}

namespace {

/// One test's M values (a test loss or a method's subset sums over the M subsets), sorted once so
/// that any bootstrap resample of the subsets is ranked in O(M) instead of by a sort.
struct SortedValues {
    std::vector<int32_t> order;   ///< subsets by ascending value, ties by index
    std::vector<uint8_t> starts;  ///< 1 where order[p] begins a run of equal values
    bool hasNaN = false;

    explicit SortedValues(const std::vector<double>& v)
    {
        for (double x : v)
            hasNaN = hasNaN || std::isnan(x);
        if (hasNaN)
            return;
        order.resize(v.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](int32_t a, int32_t b) { return v[static_cast<size_t>(a)] < v[static_cast<size_t>(b)]; });
        starts.resize(v.size());
        for (size_t p = 0; p < v.size(); ++p)
            starts[p] = p == 0 || v[static_cast<size_t>(order[p])] != v[static_cast<size_t>(order[p - 1])];
    }

    /// The average ranks (1-based, ties averaged) of the resample that draws subset j `count[j]`
    /// times, in draw order (`draws`): what averageRanks gives for the resampled values, since a
    /// subset drawn twice ties with itself. `rankOf` is scratch of size M.
    void ranks(const std::vector<int64_t>& count, const std::vector<int64_t>& draws, std::vector<double>& rankOf,
               std::vector<double>& out) const
    {
        const size_t n = order.size();
        size_t p = 0;
        int64_t before = 0; // draws ranked below the current run
        while (p < n) {
            size_t q = p + 1;
            while (q < n && !starts[q])
                ++q;
            int64_t run = 0;
            for (size_t r = p; r < q; ++r)
                run += count[static_cast<size_t>(order[r])];
            const double rank = 0.5 * static_cast<double>(2 * before + 1 + run);
            for (size_t r = p; r < q; ++r)
                rankOf[static_cast<size_t>(order[r])] = rank;
            before += run;
            p = q;
        }
        out.resize(draws.size());
        for (size_t d = 0; d < draws.size(); ++d)
            out[d] = rankOf[static_cast<size_t>(draws[d])];
    }
};

/// Centres average ranks and scales them to unit norm in place (false when they are constant:
/// the Spearman is undefined).
bool unitFromRanks(std::vector<double>& r)
{
    const double mean = 0.5 * static_cast<double>(r.size() + 1);
    double ss = 0.0;
    for (double& x : r) {
        x -= mean;
        ss += x * x;
    }
    if (!(ss > 0.0))
        return false;
    const double inv = 1.0 / std::sqrt(ss);
    for (double& x : r)
        x *= inv;
    return true;
}

double percentile(std::vector<double> v, double q)
{
    std::sort(v.begin(), v.end());
    const double pos = q * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(v.size() - 1, lo + 1);
    return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

} // namespace

LdsRatioInterval bootstrapLdsRatio(const RowMatrixF& candidateSums, const RowMatrixF& referenceSums,
                                   const GroundTruth& truth, const CancelToken& cancel, int resamples, double level,
                                   double threshold, uint64_t seed)
{
    checkShape(truth.testCount, truth.trainCount, truth);
    if (resamples < 10)
        throw ConfigError("LDS bootstrap: resamples must be >= 10, got " + std::to_string(resamples));
    if (!(level > 0.0 && level < 1.0))
        throw ConfigError("LDS bootstrap: level must be in (0, 1), got " + std::to_string(level));
    const RowMatrixF* sets[2] = {&candidateSums, &referenceSums};
    for (const RowMatrixF* s : sets)
        if (s->rows() != truth.testCount || s->cols() != truth.subsets)
            throw ConfigError("LDS bootstrap: subset sums are " + std::to_string(s->rows()) + "×"
                              + std::to_string(s->cols()) + ", expected " + std::to_string(truth.testCount) + "×"
                              + std::to_string(truth.subsets));

    const int64_t M = truth.subsets, m = truth.testCount;
    // Each test's three value vectors sorted once: a resample is then ranked in O(M).
    std::vector<SortedValues> sorted;
    sorted.reserve(static_cast<size_t>(3 * m));
    {
        std::vector<double> v(static_cast<size_t>(M));
        for (int64_t t = 0; t < m; ++t) {
            for (int64_t j = 0; j < M; ++j)
                v[static_cast<size_t>(j)] = -truth.testLoss(j, t);
            sorted.emplace_back(v);
            for (const RowMatrixF* set : sets) {
                for (int64_t j = 0; j < M; ++j)
                    v[static_cast<size_t>(j)] = static_cast<double>((*set)(t, j));
                sorted.emplace_back(v);
            }
        }
    }
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int64_t> drawSubset(0, M - 1), drawTest(0, m - 1);
    std::vector<int64_t> subsets(static_cast<size_t>(M)), drawn(static_cast<size_t>(M)),
        testCount(static_cast<size_t>(m));
    std::vector<double> rankOf(static_cast<size_t>(M)), yRanks, sRanks, ratios;
    for (int b = 0; b < resamples; ++b) {
        cancel.throwIfCancelled();
        std::fill(drawn.begin(), drawn.end(), 0);
        for (auto& j : subsets) {
            j = drawSubset(rng);
            ++drawn[static_cast<size_t>(j)];
        }
        std::fill(testCount.begin(), testCount.end(), 0);
        for (int64_t d = 0; d < m; ++d)
            ++testCount[static_cast<size_t>(drawTest(rng))];
        // A value is NaN for a resample only when a subset holding NaN was drawn.
        auto drawsNaN = [&](int64_t t, int which) {
            if (!sorted[static_cast<size_t>(3 * t + which)].hasNaN)
                return false;
            const bool loss = which == 0;
            for (int64_t j = 0; j < M; ++j)
                if (drawn[static_cast<size_t>(j)] > 0
                    && std::isnan(loss ? truth.testLoss(j, t) : (*sets[which - 1])(t, j)))
                    return true;
            return false;
        };
        auto ranksOf = [&](int64_t t, int which, std::vector<double>& out) {
            const SortedValues& v = sorted[static_cast<size_t>(3 * t + which)];
            if (!v.hasNaN) {
                v.ranks(drawn, subsets, rankOf, out);
                return;
            }
            // A NaN elsewhere in the row, in a subset not drawn: rank the drawn values directly.
            std::vector<double> values(static_cast<size_t>(M));
            for (int64_t d = 0; d < M; ++d) {
                const int64_t j = subsets[static_cast<size_t>(d)];
                values[static_cast<size_t>(d)] =
                    which == 0 ? -truth.testLoss(j, t) : static_cast<double>((*sets[which - 1])(t, j));
            }
            out = averageRanks(values);
        };
        double sum[2] = {0.0, 0.0}, used[2] = {0.0, 0.0};
        for (int64_t t = 0; t < m; ++t) {
            const double weight = static_cast<double>(testCount[static_cast<size_t>(t)]);
            if (weight == 0.0 || drawsNaN(t, 0))
                continue;
            ranksOf(t, 0, yRanks);
            if (!unitFromRanks(yRanks))
                continue;
            for (int k = 0; k < 2; ++k) {
                if (drawsNaN(t, k + 1))
                    continue;
                ranksOf(t, k + 1, sRanks);
                if (!unitFromRanks(sRanks))
                    continue;
                double dot = 0.0;
                for (int64_t d = 0; d < M; ++d)
                    dot += yRanks[static_cast<size_t>(d)] * sRanks[static_cast<size_t>(d)];
                sum[k] += weight * dot;
                used[k] += weight;
            }
        }
        if (!(used[0] > 0.0) || !(used[1] > 0.0))
            continue;
        const double reference = sum[1] / used[1];
        if (reference > 0.0)
            ratios.push_back(sum[0] / used[0] / reference);
    }
    LdsRatioInterval out;
    out.resamples = static_cast<int>(ratios.size());
    if (ratios.empty()) {
        out.low = out.high = out.shareAbove = kNaN;
        return out;
    }
    out.low = percentile(ratios, 0.5 * (1.0 - level));
    out.high = percentile(ratios, 0.5 * (1.0 + level));
    out.shareAbove = static_cast<double>(std::count_if(ratios.begin(), ratios.end(),
                                                       [&](double r) { return r >= threshold; }))
                     / static_cast<double>(ratios.size());
    return out;
}

LdsResult computeLds(const ScoreRowFn& rowOf, const GroundTruth& truth, const CancelToken& cancel,
                     int64_t blockRows)
{
    checkShape(truth.testCount, truth.trainCount, truth);
    if (blockRows < 1)
        throw ConfigError("LDS: blockRows must be >= 1, got " + std::to_string(blockRows));
    const RowMatrixF masks = ldsMaskMatrix(truth);
    std::vector<double> perTest(static_cast<size_t>(truth.testCount), kNaN);
    RowMatrixF block;
    for (int64_t first = 0; first < truth.testCount; first += blockRows) {
        cancel.throwIfCancelled();
        const int64_t rows = std::min(blockRows, truth.testCount - first);
        block.resize(rows, truth.trainCount);
        for (int64_t r = 0; r < rows; ++r)
            rowOf(first + r, block.row(r).data());
        const RowMatrixF sums = block * masks.transpose();
        ldsOfBlock(sums, first, truth, nullptr, perTest);
    }
    return summarize(std::move(perTest));
}

} // namespace attri
