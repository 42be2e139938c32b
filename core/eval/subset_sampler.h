#pragma once

#include <cstdint>
#include <vector>

namespace attri {

/// How the LDS ground truth is drawn and computed (attribution notes §4). The first three fields
/// determine the result and are stored with it; the rest only say how the work is executed.
struct LdsOptions {
    /// M: number of random training subsets (one retrained model each); at least 2.
    int64_t subsets = 50;
    /// Subset fraction α in (0, 1): every subset holds exactly ⌊α·n⌋ training points.
    double alpha = 0.5;
    /// Subset j is drawn with std::mt19937_64 seeded with seed + j (so subsets are reproducible
    /// one by one, independent of M and of the order they are trained in).
    uint64_t seed = 0;
    /// Models trained in parallel, each on its own std::thread.
    int workers = 2;
    /// LibTorch intra-op threads per worker, set for the duration of the run and restored after.
    int threadsPerWorker = 1;
    /// Replace ground truth already stored in the experiment with other options (CLI --force);
    /// without it such a run throws ConfigError.
    bool replace = false;

    /// Throws ConfigError naming the field and the valid range (α in (0,1), M ≥ 2, ⌊α·n⌋ ≥ 1,
    /// workers ≥ 1, threadsPerWorker ≥ 1). trainCount < 0 skips the check that needs n.
    void validate(int64_t trainCount = -1) const;
    /// ⌊α·n⌋.
    int64_t subsetSize(int64_t trainCount) const;
    /// True when the fields that determine the result (subsets, alpha, seed) are equal.
    bool sameSubsets(const LdsOptions& other) const;
};

/// `size` distinct indices drawn uniformly without replacement from [0, n) by a partial
/// Fisher–Yates shuffle driven by std::mt19937_64(seed); returned sorted ascending.
/// Throws ConfigError unless 0 ≤ size ≤ n.
std::vector<int64_t> sampleSubset(int64_t n, int64_t size, uint64_t seed);

/// The M subsets of `options` over n training points, each as sorted indices (subset j from
/// seed + j). Validates the options first.
std::vector<std::vector<int64_t>> sampleSubsets(int64_t n, const LdsOptions& options);

/// The same subsets as an M×n row-major 0/1 mask (1: the point is in the subset).
std::vector<uint8_t> sampleSubsetMasks(int64_t n, const LdsOptions& options);

} // namespace attri
