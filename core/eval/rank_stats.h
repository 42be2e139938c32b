#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <vector>

namespace attri {

/// Rank statistics for comparing score vectors across settings (λ, k, methods). Scores change
/// scale with λ and k, so sensitivity is measured on ranks.
///
/// Conventions: ranks are 1-based average ranks (ties share the mean of their positions, as in
/// scipy.stats.rankdata(method="average")). Correlations are NaN when either side has zero
/// variance (e.g. all scores equal) or when fewer than 2 values are given: callers skip NaN
/// (and count what they used). NaN inputs are not supported (ConfigError).

/// 1-based average ranks of `values` (ascending: the smallest gets rank 1).
std::vector<double> averageRanks(const float* values, int64_t count);
std::vector<double> averageRanks(const std::vector<double>& values);

/// Pearson correlation; NaN when a side is constant or count < 2. ConfigError on size mismatch.
double pearson(const std::vector<double>& a, const std::vector<double>& b);
/// Spearman correlation with average ranks for ties; NaN when a side is constant.
double spearman(const float* a, const float* b, int64_t count);
double spearman(const std::vector<double>& a, const std::vector<double>& b);
double spearman(const Eigen::VectorXf& a, const Eigen::VectorXf& b);

/// Indices of the k largest values, largest first; ties broken by the smaller index first.
/// k is clamped to [0, count].
std::vector<int64_t> topIndices(const float* values, int64_t count, int64_t k);
/// |A ∩ B| / |A ∪ B| of the top-k index sets of a and b (by topIndices). 1 when k is 0 or
/// both are empty. ConfigError on size mismatch.
double topKJaccard(const float* a, const float* b, int64_t count, int64_t k);
double topKJaccard(const Eigen::VectorXf& a, const Eigen::VectorXf& b, int64_t k);
/// Jaccard index of two index sets (duplicates ignored); 1 when both are empty.
double jaccard(std::vector<int64_t> a, std::vector<int64_t> b);

/// Centred, unit-norm average ranks of a row (the Spearman correlation of two rows is the dot
/// product of these). Returns false (and leaves `out` zero) when the row is constant.
/// `scratch` is reused between calls to avoid allocations in sweeps.
bool normalizedRanks(const float* values, int64_t count, float* out, std::vector<uint64_t>& scratch);

} // namespace attri
