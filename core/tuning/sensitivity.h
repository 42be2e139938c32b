#pragma once

#include "tuning/lambda_grid.h"

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

namespace attri {

class SpectralCache;
class ProgressSink;
class CancelToken;

/// Settings of a λ × k sensitivity sweep.
struct SensitivityOptions {
    LambdaGrid grid = LambdaGrid::defaultRelative(); ///< λ values, compared in the order given
    std::vector<int64_t> testIndices;                ///< test points (rows of the caches); empty: all
    int64_t topK = 10;                               ///< size of the top-k sets for Jaccard (≥ 1)
    int64_t blockSize = 64;                          ///< test points scored per GEMM (≥ 1)
    int threads = 0;                                 ///< ranking workers; ≤ 0: hardware threads

    /// Throws ConfigError naming the field (grid values, topK ≥ 1, blockSize ≥ 1).
    void validate() const;
};

/// A table of means over test points, one cell per (row, column), with the number of test
/// points behind each mean (test points whose Spearman is undefined — a constant score row —
/// are skipped; Jaccard uses every test point). Row-major.
struct SensitivityTable {
    int64_t rows = 0;           ///< table rows
    int64_t cols = 0;           ///< table columns
    std::vector<double> mean;   ///< rows·cols means; NaN where count is 0
    std::vector<int64_t> count; ///< rows·cols test point counts

    double at(int64_t row, int64_t col) const { return mean[static_cast<size_t>(row * cols + col)]; }
    int64_t countAt(int64_t row, int64_t col) const { return count[static_cast<size_t>(row * cols + col)]; }
};

/// How stable rankings are across neighbouring λ and neighbouring k. Immutable; share as
/// std::shared_ptr<const SensitivityResult>.
///   lambda tables: (L−1) × K; cell (j, c) compares λ_j with λ_{j+1} at k_c.
///   k tables:      L × (K−1); cell (j, c) compares k_c with k_{c+1} at grid value j (the same
///                  relative c when the grid is relative — the absolute λ differs per k —, the
///                  same absolute λ otherwise).
struct SensitivityResult {
    std::vector<int64_t> ks;                          ///< k of each column, ascending
    LambdaGrid grid;                                  ///< the grid as given
    std::vector<std::vector<double>> absoluteLambdas; ///< [k column][grid index] absolute λ
    std::vector<int64_t> testIndices;                 ///< test points used
    int64_t topK = 10;                                ///< Jaccard set size
    SensitivityTable lambdaSpearman;                  ///< mean Spearman, λ_j vs λ_{j+1}
    SensitivityTable lambdaJaccard;                   ///< mean top-k Jaccard, λ_j vs λ_{j+1}
    SensitivityTable kSpearman;                       ///< mean Spearman, k_c vs k_{c+1}
    SensitivityTable kJaccard;                        ///< mean top-k Jaccard, k_c vs k_{c+1}
    double seconds = 0.0;                             ///< wall time
};

/// Sweeps every (k, λ) of `caches` (keyed by k) over the test points. All caches must have the
/// same training and test counts. Scores per (k, λ) come as one GEMM per block of test points;
/// ranking runs on `threads` workers. Polls `cancel` per (block, k, λ) and throws Cancelled.
/// Throws ConfigError for an empty map, null caches, mismatched counts, bad indices or options.
std::shared_ptr<const SensitivityResult>
lambdaSensitivity(const std::map<int64_t, std::shared_ptr<const SpectralCache>>& caches,
                  const SensitivityOptions& options, ProgressSink& progress, const CancelToken& cancel);

} // namespace attri
