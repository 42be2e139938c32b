#pragma once

#include "features/featurizer.h" // RowMatrixF

#include <cstdint>
#include <functional>
#include <vector>

namespace attri {

struct GroundTruth;
class CancelToken;

/// Linear Datamodeling Score of a score matrix against ground truth (attribution notes §4).
struct LdsResult {
    double mean = 0.0;           ///< mean LDS over the tests where it is defined (NaN if none)
    double standardError = 0.0;  ///< sample standard deviation / √usedTests (NaN if usedTests < 2)
    std::vector<double> perTest; ///< LDS of each test point; NaN where undefined (constant ranks)
    int64_t usedTests = 0;       ///< test points with a defined LDS
};

/// LDS of scores (m×n: row t holds τ(z'_t, z_i) for every training point i) against `truth`:
/// per test point, Spearman (tuning/rank_stats: average ranks for ties) between y_j = −testLoss(j, t) and
/// Σ_{i∈S_j} τ(z'_t, z_i) over the M subsets; undefined (constant or NaN) ones are NaN and skipped. The
/// subset sums of all tests are one GEMM, scores × masksᵀ. Throws ConfigError when the shape does not match
/// the ground truth (m×n).
LdsResult computeLds(const RowMatrixF& scores, const GroundTruth& truth);

/// Fills `row` (n values) with the scores of test point t.
using ScoreRowFn = std::function<void(int64_t test, float* row)>;

/// The same for scores produced row by row (e.g. read from a file): rows are fetched in
/// blocks of `blockRows` and each block multiplied by masksᵀ in one GEMM. Polls `cancel` per block.
LdsResult computeLds(const ScoreRowFn& rowOf, const GroundTruth& truth, const CancelToken& cancel,
                     int64_t blockRows = 256);

} // namespace attri
