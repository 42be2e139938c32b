#include "tuning/sensitivity.h"

#include "attribution/spectral_cache.h"
#include "common/error.h"
#include "common/parallel.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "eval/rank_stats.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace attri {

namespace {

SensitivityTable makeTable(int64_t rows, int64_t cols)
{
    SensitivityTable t;
    t.rows = std::max<int64_t>(rows, 0);
    t.cols = std::max<int64_t>(cols, 0);
    t.mean.assign(static_cast<size_t>(t.rows * t.cols), 0.0);
    t.count.assign(static_cast<size_t>(t.rows * t.cols), 0);
    return t;
}

void finish(SensitivityTable& t)
{
    for (size_t i = 0; i < t.mean.size(); ++i)
        t.mean[i] = t.count[i] > 0 ? t.mean[i] / static_cast<double>(t.count[i])
                                   : std::numeric_limits<double>::quiet_NaN();
}

/// Ranks of one (k, λ) setting for a block of test points.
struct BlockRanks {
    RowMatrixF ranks;                      ///< centred unit-norm average ranks, one row per test
    std::vector<char> valid;               ///< false: constant row (Spearman undefined)
    std::vector<std::vector<int64_t>> top; ///< top-k training indices per row
};

/// Per-row sums for one table cell, accumulated by the workers then merged.
struct CellSums {
    double spearman = 0.0;
    int64_t spearmanCount = 0;
    double jaccard = 0.0;
    int64_t jaccardCount = 0;
};

} // namespace

void SensitivityOptions::validate() const
{
    grid.validate();
    if (topK < 1)
        throw ConfigError("sensitivity: topK must be ≥ 1, got " + std::to_string(topK));
    if (blockSize < 1)
        throw ConfigError("sensitivity: blockSize must be ≥ 1, got " + std::to_string(blockSize));
}

std::shared_ptr<const SensitivityResult>
lambdaSensitivity(const std::map<int64_t, std::shared_ptr<const SpectralCache>>& caches,
                  const SensitivityOptions& options, ProgressSink& progress, const CancelToken& cancel)
{
    const auto start = std::chrono::steady_clock::now();
    options.validate();
    if (caches.empty())
        throw ConfigError("sensitivity: no spectral caches given (one per k is expected)");
    const SpectralCache* first = nullptr;
    for (const auto& [k, cache] : caches) {
        if (!cache)
            throw ConfigError("sensitivity: the cache for k = " + std::to_string(k) + " is null");
        if (!first)
            first = cache.get();
        if (cache->trainCount() != first->trainCount() || cache->testCount() != first->testCount())
            throw ConfigError("sensitivity: the cache for k = " + std::to_string(k) + " has "
                              + std::to_string(cache->trainCount()) + " training and "
                              + std::to_string(cache->testCount()) + " test points, the first has "
                              + std::to_string(first->trainCount()) + " and "
                              + std::to_string(first->testCount()));
    }
    const int64_t n = first->trainCount();

    auto result = std::make_shared<SensitivityResult>();
    result->grid = options.grid;
    result->topK = options.topK;
    result->testIndices = options.testIndices;
    if (result->testIndices.empty()) {
        for (int64_t t = 0; t < first->testCount(); ++t)
            result->testIndices.push_back(t);
    }
    for (int64_t t : result->testIndices)
        if (t < 0 || t >= first->testCount())
            throw ConfigError("sensitivity: test index " + std::to_string(t) + " is out of range ("
                              + std::to_string(first->testCount()) + " test points)");

    std::vector<const SpectralCache*> ordered;
    for (const auto& [k, cache] : caches) {
        result->ks.push_back(k);
        result->absoluteLambdas.push_back(options.grid.toAbsolute(cache->meanEigenvalue()));
        ordered.push_back(cache.get());
    }
    const int64_t kCount = static_cast<int64_t>(ordered.size());
    const int64_t lCount = static_cast<int64_t>(options.grid.values.size());
    result->lambdaSpearman = makeTable(lCount - 1, kCount);
    result->lambdaJaccard = makeTable(lCount - 1, kCount);
    result->kSpearman = makeTable(lCount, kCount - 1);
    result->kJaccard = makeTable(lCount, kCount - 1);

    const int threads = options.threads > 0 ? options.threads : hardwareThreads();
    const int64_t m = static_cast<int64_t>(result->testIndices.size());
    const int64_t blocks = (m + options.blockSize - 1) / options.blockSize;
    progress.begin("sensitivity", blocks * kCount * lCount);
    int64_t done = 0;

    // Ranks of every λ for the current and the previous k (the k tables compare them).
    std::vector<BlockRanks> current(static_cast<size_t>(lCount));
    std::vector<BlockRanks> previous(static_cast<size_t>(kCount > 1 ? lCount : 0));
    std::vector<std::vector<uint64_t>> scratch(static_cast<size_t>(threads));

    auto compare = [&](const BlockRanks& a, const BlockRanks& b, int64_t rows, SensitivityTable& sp,
                       SensitivityTable& jac, int64_t cell) {
        for (int64_t r = 0; r < rows; ++r) {
            if (a.valid[r] && b.valid[r]) {
                const double rho = a.ranks.row(r).cast<double>().dot(b.ranks.row(r).cast<double>());
                sp.mean[cell] += std::clamp(rho, -1.0, 1.0);
                ++sp.count[cell];
            }
            jac.mean[cell] += jaccard(a.top[r], b.top[r]);
            ++jac.count[cell];
        }
    };

    for (int64_t b = 0; b < blocks; ++b) {
        const int64_t begin = b * options.blockSize;
        const int64_t rows = std::min(m, begin + options.blockSize) - begin;
        const std::vector<int64_t> block(result->testIndices.begin() + begin,
                                         result->testIndices.begin() + begin + rows);
        for (int64_t c = 0; c < kCount; ++c) {
            for (int64_t j = 0; j < lCount; ++j) {
                cancel.throwIfCancelled();
                // One GEMM (BLAS threads) on this thread, then ranking on the workers.
                const RowMatrixF scores = ordered[c]->scoreMatrix(block, result->absoluteLambdas[c][j]);
                BlockRanks& br = current[static_cast<size_t>(j)];
                br.ranks.resize(rows, n);
                br.valid.assign(static_cast<size_t>(rows), 0);
                br.top.assign(static_cast<size_t>(rows), {});
                parallelFor(rows, threads, [&](int64_t r0, int64_t r1, int w) {
                    for (int64_t r = r0; r < r1; ++r) {
                        br.valid[r] = normalizedRanks(scores.row(r).data(), n, br.ranks.row(r).data(),
                                                      scratch[static_cast<size_t>(w)]);
                        br.top[r] = topIndices(scores.row(r).data(), n, options.topK);
                    }
                });
                if (j > 0)
                    compare(current[j - 1], br, rows, result->lambdaSpearman, result->lambdaJaccard,
                            (j - 1) * kCount + c);
                if (c > 0)
                    compare(previous[j], br, rows, result->kSpearman, result->kJaccard,
                            j * (kCount - 1) + (c - 1));
                progress.advance(++done);
            }
            if (kCount > 1)
                std::swap(current, previous);
        }
    }
    finish(result->lambdaSpearman);
    finish(result->lambdaJaccard);
    finish(result->kSpearman);
    finish(result->kJaccard);
    result->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

} // namespace attri
