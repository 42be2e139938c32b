#pragma once

#include "common/row_matrix.h"

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
/// per test point, Spearman (eval/rank_stats: average ranks for ties) between y_j = −testLoss(j, t) and
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

/// The LDS's additive predictions: subset sums Σ_{i∈S_j} τ(z'_t, z_i), m×M (row t, subset j). Throws
/// ConfigError on a shape mismatch, as computeLds does.
RowMatrixF ldsSubsetSums(const RowMatrixF& scores, const GroundTruth& truth);
/// The subsets as an M×n 0/1 matrix (row j: subset j's mask): ldsSubsetSums is scores × this ᵀ, and
/// GroupScores forms the same sums at any λ from it.
RowMatrixF ldsMaskMatrix(const GroundTruth& truth);
/// computeLds from subset sums (m×M) already formed by ldsSubsetSums (or GroupScores).
LdsResult ldsFromSubsetSums(const RowMatrixF& sums, const GroundTruth& truth);

/// The targets' half of every test's Spearman, ranked once: the average ranks of
/// y_j = −testLoss(j, t) over the M subsets (a test with a NaN loss has none: its LDS is
/// undefined). A sweep over λ then ranks only its subset sums. Keeps a reference to `truth`,
/// which must outlive it.
class LdsTargets {
public:
    /// ConfigError when the ground truth is inconsistent (as computeLds).
    explicit LdsTargets(const GroundTruth& truth);
    const GroundTruth& truth() const { return *m_truth; }
    /// Test t's ranks (M values); empty where its LDS is undefined.
    const std::vector<double>& ranks(int64_t test) const { return m_ranks[static_cast<size_t>(test)]; }

private:
    const GroundTruth* m_truth;
    std::vector<std::vector<double>> m_ranks;
};
/// ldsFromSubsetSums against targets ranked once (the same values).
LdsResult ldsFromSubsetSums(const RowMatrixF& sums, const LdsTargets& targets);

/// How far ground-truth sampling noise lets "the candidate's LDS is a given share of the
/// reference's" be trusted: a paired bootstrap of ratio = LDS(candidate) / LDS(reference). Each
/// resample draws the M subsets (retrained models) and the m test points with replacement and
/// recomputes both LDS on that draw (Spearman with average ranks; a subset drawn twice is a tie).
/// The reference stays fixed (e.g. the grid's best λ on all the ground truth): re-choosing the
/// best in every resample would bias the ratios down, the maximum of noisy values being biased
/// up. Resamples where the reference's LDS is not positive are skipped.
struct LdsRatioInterval {
    double low = 0.0;          ///< lower percentile, (1 − level)/2
    double high = 0.0;         ///< upper percentile, (1 + level)/2
    double shareAbove = 0.0;   ///< share of resamples with ratio ≥ `threshold`
    int resamples = 0;         ///< resamples used
};
/// candidateSums, referenceSums: subset sums (m×M) from ldsSubsetSums. ConfigError on mismatched
/// shapes, resamples < 10 or level outside (0, 1). Deterministic for a seed. Polls `cancel` per
/// resample. NaN fields when no resample was usable.
LdsRatioInterval bootstrapLdsRatio(const RowMatrixF& candidateSums, const RowMatrixF& referenceSums,
                                   const GroundTruth& truth, const CancelToken& cancel, int resamples = 200,
                                   double level = 0.9, double threshold = 0.95, uint64_t seed = 1);

} // namespace attri
