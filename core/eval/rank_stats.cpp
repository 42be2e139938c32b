#include "eval/rank_stats.h"

#include "common/error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

namespace attri {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void checkSizes(size_t a, size_t b, const char* what)
{
    if (a != b)
        throw ConfigError(std::string(what) + ": the two score vectors differ in length (" + std::to_string(a)
                          + " vs " + std::to_string(b) + ")");
}

/// An unsigned key that orders like the float (−0 and +0 equal). NaN is rejected by callers.
uint32_t orderedKey(float v)
{
    if (v == 0.0f)
        v = 0.0f;
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

void checkNoNaN(const float* values, int64_t count, const char* what)
{
    for (int64_t i = 0; i < count; ++i)
        if (std::isnan(values[i]))
            throw ConfigError(std::string(what) + ": score " + std::to_string(i) + " is NaN");
}

/// Sorts (key, index) pairs packed in 64 bits: ascending value, ties by ascending index.
/// Sweeps rank thousands of rows of thousands of scores, so large inputs use a stable LSD radix
/// sort on the 32-bit key (3 passes of 11 bits; indices are already ascending, stability keeps
/// ties in index order): measured several times faster than std::sort at n = 5000.
/// `keys` holds the result in its first `count` entries; it is used as scratch beyond them.
void sortedKeys(const float* values, int64_t count, std::vector<uint64_t>& keys)
{
    const size_t n = static_cast<size_t>(count);
    keys.resize(2 * n);
    for (size_t i = 0; i < n; ++i)
        keys[i] = (static_cast<uint64_t>(orderedKey(values[i])) << 32) | static_cast<uint32_t>(i);
    if (n < 256) {
        std::sort(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(n));
        return;
    }
    uint64_t* src = keys.data();
    uint64_t* dst = keys.data() + n;
    constexpr int kBits = 11;
    constexpr size_t kBuckets = size_t{1} << kBits;
    size_t offsets[kBuckets];
    for (int shift = 32; shift < 64; shift += kBits) {
        std::fill(offsets, offsets + kBuckets, size_t{0});
        for (size_t i = 0; i < n; ++i)
            ++offsets[(src[i] >> shift) & (kBuckets - 1)];
        size_t sum = 0;
        for (size_t b = 0; b < kBuckets; ++b) {
            const size_t c = offsets[b];
            offsets[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; ++i)
            dst[offsets[(src[i] >> shift) & (kBuckets - 1)]++] = src[i];
        std::swap(src, dst);
    }
    // Three passes: the result is in the second half.
    std::copy(src, src + n, keys.data());
}

/// Average ranks from sorted keys, written to out[index].
template <typename T> void ranksFromKeys(const std::vector<uint64_t>& keys, size_t n, T* out)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && (keys[j] >> 32) == (keys[i] >> 32))
            ++j;
        // Positions i..j−1 (0-based) share the 1-based average rank (i+1 + j)/2.
        const T rank = static_cast<T>(0.5 * static_cast<double>(i + 1 + j));
        for (size_t t = i; t < j; ++t)
            out[keys[t] & 0xffffffffu] = rank;
        i = j;
    }
}

} // namespace

std::vector<double> averageRanks(const float* values, int64_t count)
{
    checkNoNaN(values, count, "ranks");
    std::vector<uint64_t> keys;
    sortedKeys(values, count, keys);
    std::vector<double> ranks(static_cast<size_t>(count));
    ranksFromKeys(keys, static_cast<size_t>(count), ranks.data());
    return ranks;
}

std::vector<double> averageRanks(const std::vector<double>& values)
{
    const int64_t n = static_cast<int64_t>(values.size());
    for (int64_t i = 0; i < n; ++i)
        if (std::isnan(values[i]))
            throw ConfigError("ranks: value " + std::to_string(i) + " is NaN");
    // (value, index) pairs sorted by value: the order within ties does not change their average
    // rank, and sorting the pairs themselves is several times faster than sorting indices by an
    // indirect comparison (LDS sweeps rank thousands of such vectors).
    std::vector<std::pair<double, int64_t>> sorted(values.size());
    for (int64_t i = 0; i < n; ++i)
        sorted[static_cast<size_t>(i)] = {values[static_cast<size_t>(i)], i};
    std::sort(sorted.begin(), sorted.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    std::vector<double> ranks(values.size());
    int64_t i = 0;
    while (i < n) {
        int64_t j = i + 1;
        while (j < n && sorted[static_cast<size_t>(j)].first == sorted[static_cast<size_t>(i)].first)
            ++j;
        const double rank = 0.5 * static_cast<double>(i + 1 + j);
        for (int64_t t = i; t < j; ++t)
            ranks[static_cast<size_t>(sorted[static_cast<size_t>(t)].second)] = rank;
        i = j;
    }
    return ranks;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b)
{
    checkSizes(a.size(), b.size(), "pearson");
    const size_t n = a.size();
    if (n < 2)
        return kNaN;
    const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n;
    const double mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; ++i) {
        const double da = a[i] - ma;
        const double db = b[i] - mb;
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    if (saa <= 0.0 || sbb <= 0.0)
        return kNaN;
    return std::clamp(sab / std::sqrt(saa * sbb), -1.0, 1.0);
}

double spearman(const float* a, const float* b, int64_t count)
{
    return pearson(averageRanks(a, count), averageRanks(b, count));
}

double spearman(const std::vector<double>& a, const std::vector<double>& b)
{
    checkSizes(a.size(), b.size(), "spearman");
    return pearson(averageRanks(a), averageRanks(b));
}

double spearman(const Eigen::VectorXf& a, const Eigen::VectorXf& b)
{
    checkSizes(a.size(), b.size(), "spearman");
    return spearman(a.data(), b.data(), a.size());
}

std::vector<int64_t> topIndices(const float* values, int64_t count, int64_t k)
{
    checkNoNaN(values, count, "top-k");
    k = std::clamp<int64_t>(k, 0, count);
    std::vector<int64_t> order(static_cast<size_t>(count));
    std::iota(order.begin(), order.end(), 0);
    auto larger = [&](int64_t x, int64_t y) {
        return values[x] > values[y] || (values[x] == values[y] && x < y);
    };
    std::partial_sort(order.begin(), order.begin() + k, order.end(), larger);
    order.resize(static_cast<size_t>(k));
    return order;
}

double jaccard(std::vector<int64_t> a, std::vector<int64_t> b)
{
    std::sort(a.begin(), a.end());
    a.erase(std::unique(a.begin(), a.end()), a.end());
    std::sort(b.begin(), b.end());
    b.erase(std::unique(b.begin(), b.end()), b.end());
    if (a.empty() && b.empty())
        return 1.0;
    std::vector<int64_t> common;
    std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(common));
    const double inter = static_cast<double>(common.size());
    return inter / (static_cast<double>(a.size() + b.size()) - inter);
}

double topKJaccard(const float* a, const float* b, int64_t count, int64_t k)
{
    return jaccard(topIndices(a, count, k), topIndices(b, count, k));
}

double topKJaccard(const Eigen::VectorXf& a, const Eigen::VectorXf& b, int64_t k)
{
    checkSizes(a.size(), b.size(), "top-k Jaccard");
    return topKJaccard(a.data(), b.data(), a.size(), k);
}

bool normalizedRanks(const float* values, int64_t count, float* out, std::vector<uint64_t>& scratch)
{
    checkNoNaN(values, count, "ranks");
    sortedKeys(values, count, scratch);
    ranksFromKeys(scratch, static_cast<size_t>(count), out);
    // Mean rank is (n+1)/2 exactly, ties included.
    const double mean = 0.5 * static_cast<double>(count + 1);
    double ss = 0.0;
    for (int64_t i = 0; i < count; ++i) {
        const double d = out[i] - mean;
        ss += d * d;
    }
    if (!(ss > 0.0)) {
        std::fill(out, out + count, 0.0f);
        return false;
    }
    const double inv = 1.0 / std::sqrt(ss);
    for (int64_t i = 0; i < count; ++i)
        out[i] = static_cast<float>((out[i] - mean) * inv);
    return true;
}

} // namespace attri
