#include "eval/subset_sampler.h"

#include "common/error.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

namespace attri {

namespace {

template <typename T> [[noreturn]] void fail(const char* field, const std::string& expected, T got)
{
    std::ostringstream msg;
    msg << "LDS options: '" << field << "' must be " << expected << ", got " << got;
    throw ConfigError(msg.str());
}

} // namespace

void LdsOptions::validate(int64_t trainCount) const
{
    if (!std::isfinite(alpha) || alpha <= 0.0 || alpha >= 1.0)
        fail("alpha", "in (0, 1) exclusive (the fraction of training points per subset)", alpha);
    if (subsets < 2)
        fail("subsets", ">= 2 (a rank correlation needs at least two retrained models)", subsets);
    if (workers < 1)
        fail("workers", ">= 1", workers);
    if (threadsPerWorker < 1)
        fail("threadsPerWorker", ">= 1", threadsPerWorker);
    if (trainCount >= 0 && subsetSize(trainCount) < 1) {
        std::ostringstream expected;
        expected << "large enough that floor(alpha * n) >= 1 with n = " << trainCount << " training points";
        fail("alpha", expected.str(), alpha);
    }
}

int64_t LdsOptions::subsetSize(int64_t trainCount) const
{
    // The small epsilon keeps e.g. 0.3 · 10 = 2.9999999999999996 at 3, as a reader expects.
    return static_cast<int64_t>(std::floor(alpha * static_cast<double>(trainCount) * (1.0 + 1e-12)));
}

bool LdsOptions::sameSubsets(const LdsOptions& other) const
{
    return subsets == other.subsets && alpha == other.alpha && seed == other.seed;
}

std::vector<int64_t> sampleSubset(int64_t n, int64_t size, uint64_t seed)
{
    if (n < 0 || size < 0 || size > n)
        throw ConfigError("subset sampler: size must be in [0, n = " + std::to_string(n) + "], got "
                          + std::to_string(size));
    std::vector<int64_t> perm(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937_64 rng(seed);
    // Partial Fisher–Yates with plain modulo, as the trainer's shuffle: portable across standard
    // libraries (std::uniform_int_distribution is not), and the bias of a 64-bit draw modulo n
    // is negligible.
    for (int64_t i = 0; i < size; ++i) {
        const auto j = i + static_cast<int64_t>(rng() % static_cast<uint64_t>(n - i));
        std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
    }
    perm.resize(static_cast<size_t>(size));
    std::sort(perm.begin(), perm.end());
    return perm;
}

std::vector<std::vector<int64_t>> sampleSubsets(int64_t n, const LdsOptions& options)
{
    options.validate(n);
    const int64_t size = options.subsetSize(n);
    std::vector<std::vector<int64_t>> out;
    out.reserve(static_cast<size_t>(options.subsets));
    for (int64_t j = 0; j < options.subsets; ++j)
        out.push_back(sampleSubset(n, size, options.seed + static_cast<uint64_t>(j)));
    return out;
}

std::vector<uint8_t> sampleSubsetMasks(int64_t n, const LdsOptions& options)
{
    const auto subsets = sampleSubsets(n, options);
    std::vector<uint8_t> masks(static_cast<size_t>(options.subsets * n), 0);
    for (size_t j = 0; j < subsets.size(); ++j)
        for (int64_t i : subsets[j])
            masks[j * static_cast<size_t>(n) + static_cast<size_t>(i)] = 1;
    return masks;
}

} // namespace attri
