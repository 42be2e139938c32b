#include "eval/lds.h"

#include "common/error.h"
#include "eval/ground_truth.h"
#include "jobs/cancel_token.h"
#include "tuning/rank_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

/// M×n float 0/1 matrix of the masks (row-major, so masksᵀ is a column-major view for the GEMM).
RowMatrixF maskMatrix(const GroundTruth& truth)
{
    RowMatrixF masks(truth.subsets, truth.trainCount);
    for (int64_t j = 0; j < truth.subsets; ++j)
        for (int64_t i = 0; i < truth.trainCount; ++i)
            masks(j, i) = truth.inSubset(j, i) ? 1.0f : 0.0f;
    return masks;
}

/// LDS of tests [first, first + sums.rows()) from their subset sums (rows × M).
void ldsOfBlock(const RowMatrixF& sums, int64_t first, const GroundTruth& truth, std::vector<double>& out)
{
    const int64_t M = truth.subsets;
    std::vector<double> y(static_cast<size_t>(M));
    std::vector<double> s(static_cast<size_t>(M));
    for (int64_t r = 0; r < sums.rows(); ++r) {
        const int64_t t = first + r;
        for (int64_t j = 0; j < M; ++j) {
            y[static_cast<size_t>(j)] = -truth.testLoss(j, t);
            s[static_cast<size_t>(j)] = static_cast<double>(sums(r, j));
        }
        bool defined = true;
        for (int64_t j = 0; j < M; ++j)
            defined =
                defined && !std::isnan(y[static_cast<size_t>(j)]) && !std::isnan(s[static_cast<size_t>(j)]);
        // rank_stats rejects NaN; a NaN loss (a diverged subset model) makes this test undefined.
        out[static_cast<size_t>(t)] = defined ? spearman(y, s) : kNaN;
    }
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

LdsResult computeLds(const RowMatrixF& scores, const GroundTruth& truth)
{
    checkShape(scores.rows(), scores.cols(), truth);
    const RowMatrixF masks = maskMatrix(truth);
    const RowMatrixF sums = scores * masks.transpose(); // m×M, one GEMM
    std::vector<double> perTest(static_cast<size_t>(truth.testCount), kNaN);
    ldsOfBlock(sums, 0, truth, perTest);
    return summarize(std::move(perTest));
}

LdsResult computeLds(const ScoreRowFn& rowOf, const GroundTruth& truth, const CancelToken& cancel,
                     int64_t blockRows)
{
    checkShape(truth.testCount, truth.trainCount, truth);
    if (blockRows < 1)
        throw ConfigError("LDS: blockRows must be >= 1, got " + std::to_string(blockRows));
    const RowMatrixF masks = maskMatrix(truth);
    std::vector<double> perTest(static_cast<size_t>(truth.testCount), kNaN);
    RowMatrixF block;
    for (int64_t first = 0; first < truth.testCount; first += blockRows) {
        cancel.throwIfCancelled();
        const int64_t rows = std::min(blockRows, truth.testCount - first);
        block.resize(rows, truth.trainCount);
        for (int64_t r = 0; r < rows; ++r)
            rowOf(first + r, block.row(r).data());
        const RowMatrixF sums = block * masks.transpose();
        ldsOfBlock(sums, first, truth, perTest);
    }
    return summarize(std::move(perTest));
}

} // namespace attri
