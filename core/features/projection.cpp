#include "features/projection.h"

#include "common/error.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace attri {

namespace {

/// splitmix64's finalizer (Steele, Lea, Flood 2014): a bijection with full avalanche.
inline uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

constexpr float kTwoPi = 6.28318530717958647692f;
constexpr double kInv2Pow53 = 1.0 / 9007199254740992.0;
constexpr float kInv2Pow24 = 1.0f / 16777216.0f;

/// The hash chain up to the row: entries of one row share it, so a block pays one mix per
/// column (or column pair, or 64 columns).
inline uint64_t rowKey(uint64_t seed, uint64_t stream, uint64_t row)
{
    return mix64(mix64(mix64(seed) ^ stream) ^ row);
}

/// Both outputs of one Box–Muller pair, from the row key and the pair index. Single precision
/// trigonometry: plenty for a random projection, and it halves the cost of generating one.
inline void gaussianPair(uint64_t key, uint64_t pair, float& c, float& s)
{
    const uint64_t h1 = mix64(key ^ pair);
    // The second uniform is a further mix of the first hash: independent bits, one more round.
    const uint64_t h2 = mix64(h1 ^ 0xD1B54A32D192ED03ULL);
    const double u1 = (static_cast<double>(h1 >> 11) + 1.0) * kInv2Pow53; // (0, 1]: log is finite
    const float u2 = static_cast<float>(h2 >> 40) * kInv2Pow24;           // [0, 1)
    const float r = std::sqrt(-2.0f * static_cast<float>(std::log(u1)));
    c = r * std::cos(kTwoPi * u2);
    s = r * std::sin(kTwoPi * u2);
}

void checkKind(ProjectionKind kind)
{
    if (kind == ProjectionKind::None)
        throw ConfigError("projection kind 'none' has no projection matrix; expected gaussian, "
                          "rademacher or kron");
}

} // namespace

uint64_t projectionHash(uint64_t seed, uint64_t stream, uint64_t row, uint64_t column)
{
    return mix64(rowKey(seed, stream, row) ^ column);
}

float gaussianEntry(uint64_t seed, uint64_t stream, int64_t row, int64_t column)
{
    float c = 0.0f, s = 0.0f;
    gaussianPair(rowKey(seed, stream, static_cast<uint64_t>(row)), static_cast<uint64_t>(column) >> 1, c, s);
    return (column & 1) ? s : c;
}

float rademacherEntry(uint64_t seed, uint64_t stream, int64_t row, int64_t column)
{
    const uint64_t h =
        projectionHash(seed, stream, static_cast<uint64_t>(row), static_cast<uint64_t>(column) >> 6);
    return ((h >> (column & 63)) & 1ULL) ? 1.0f : -1.0f;
}

float projectionEntry(ProjectionKind kind, uint64_t seed, uint64_t stream, int64_t row, int64_t column)
{
    checkKind(kind);
    return kind == ProjectionKind::Rademacher ? rademacherEntry(seed, stream, row, column)
                                              : gaussianEntry(seed, stream, row, column);
}

void fillProjectionBlock(ProjectionKind kind, uint64_t seed, uint64_t stream, int64_t r0, int64_t r1,
                         int64_t c0, int64_t c1, float* out)
{
    checkKind(kind);
    if (r0 < 0 || c0 < 0 || r1 < r0 || c1 < c0) {
        std::ostringstream msg;
        msg << "projection block rows [" << r0 << ", " << r1 << ") × columns [" << c0 << ", " << c1
            << ") is not a valid range (expected 0 ≤ start ≤ end)";
        throw ConfigError(msg.str());
    }
    const int64_t width = c1 - c0;
    for (int64_t r = r0; r < r1; ++r) {
        float* dst = out + (r - r0) * width;
        const uint64_t key = rowKey(seed, stream, static_cast<uint64_t>(r));
        if (kind == ProjectionKind::Rademacher) {
            int64_t c = c0;
            while (c < c1) {
                // One hash serves up to 64 consecutive columns.
                const uint64_t word = static_cast<uint64_t>(c) >> 6;
                const uint64_t h = mix64(key ^ word);
                const int64_t end = std::min<int64_t>(c1, static_cast<int64_t>((word + 1) << 6));
                for (; c < end; ++c)
                    dst[c - c0] = ((h >> (c & 63)) & 1ULL) ? 1.0f : -1.0f;
            }
        } else {
            int64_t c = c0;
            while (c < c1) {
                const uint64_t pair = static_cast<uint64_t>(c) >> 1;
                float cs = 0.0f, sn = 0.0f;
                gaussianPair(key, pair, cs, sn);
                if ((c & 1) == 0) {
                    dst[c - c0] = cs;
                    ++c;
                    if (c < c1) {
                        dst[c - c0] = sn;
                        ++c;
                    }
                } else {
                    dst[c - c0] = sn;
                    ++c;
                }
            }
        }
    }
}

uint64_t kroneckerStream(size_t layer, bool inputFactor)
{
    return 1 + 2 * static_cast<uint64_t>(layer) + (inputFactor ? 1 : 0);
}

int64_t kroneckerCapacity(const std::vector<KronLayerDims>& dims)
{
    int64_t total = 0;
    for (const KronLayerDims& d : dims)
        total += std::max<int64_t>(0, d.out) * std::max<int64_t>(0, d.in);
    return total;
}

KroneckerLayout kroneckerLayout(const std::vector<KronLayerDims>& dims, int64_t kMax)
{
    const int64_t capacity = kroneckerCapacity(dims);
    if (kMax < 0 || kMax > capacity) {
        std::ostringstream msg;
        msg << "k=" << kMax << " exceeds the Kronecker feature space of the selected layers (";
        for (size_t l = 0; l < dims.size(); ++l)
            msg << (l ? " + " : "") << dims[l].out << "×" << dims[l].in;
        msg << " = " << capacity << " coordinates); expected 0 ≤ k ≤ " << capacity;
        throw ConfigError(msg.str());
    }
    KroneckerLayout layout;
    layout.outRows.assign(dims.size(), 0);
    layout.inRows.assign(dims.size(), 0);
    layout.coordinates.reserve(static_cast<size_t>(kMax));
    auto& coords = layout.coordinates;
    const auto full = [&] { return static_cast<int64_t>(coords.size()) >= kMax; };
    const auto push = [&](size_t l, int64_t a, int64_t b) {
        coords.push_back({static_cast<int32_t>(l), a, b});
        layout.outRows[l] = std::max(layout.outRows[l], a + 1);
        layout.inRows[l] = std::max(layout.inRows[l], b + 1);
    };
    for (int64_t s = 0; !full(); ++s) {
        for (size_t l = 0; l < dims.size() && !full(); ++l) {
            const int64_t o = dims[l].out, i = dims[l].in;
            // Shell s of layer l, ordered by a then b: (a, s) for a < s, then (s, b) for b ≤ s.
            if (s < i) {
                for (int64_t a = 0; a < std::min(s, o) && !full(); ++a)
                    push(l, a, s);
            }
            if (s < o) {
                for (int64_t b = 0; b <= std::min(s, i - 1) && !full(); ++b)
                    push(l, s, b);
            }
        }
    }
    return layout;
}

} // namespace attri
