#pragma once

#include "features/feature_options.h"

#include <cstdint>
#include <vector>

namespace attri {

// Random projections for featurization, Torch-free.
//
// Every entry comes from a counter-based generator: it is a pure function of
// (seed, stream, row, column), never a position in a sequential stream. That is what makes
// projections nested (the projection to k is exactly the first k rows of the projection to
// kMax) and lets any block of a projection matrix be generated on its own, in any order, on any
// thread.

/// The 64-bit counter hash behind every entry: chained splitmix64 finalizers over seed, stream,
/// row and column (each step a bijection of 64-bit words).
uint64_t projectionHash(uint64_t seed, uint64_t stream, uint64_t row, uint64_t column);

/// N(0,1) entry: Box–Muller on two uniforms (53-bit radius, 24-bit angle) hashed from
/// (seed, stream, row, column/2); even columns take the cosine, odd columns the sine of the same
/// pair (so a pair of columns costs one logarithm). Computed in single precision.
float gaussianEntry(uint64_t seed, uint64_t stream, int64_t row, int64_t column);

/// ±1 entry: bit column%64 of the hash of (seed, stream, row, column/64).
float rademacherEntry(uint64_t seed, uint64_t stream, int64_t row, int64_t column);

/// Gaussian or Rademacher entry by kind (Kronecker factors are Gaussian). Throws ConfigError for
/// ProjectionKind::None, which has no matrix.
float projectionEntry(ProjectionKind kind, uint64_t seed, uint64_t stream, int64_t row, int64_t column);

/// Fills rows [r0, r1) × columns [c0, c1) of a projection matrix into `out`, row-major with
/// leading dimension c1 − c0. Entries equal projectionEntry() exactly. Throws ConfigError for
/// an empty or inverted range or ProjectionKind::None.
void fillProjectionBlock(ProjectionKind kind, uint64_t seed, uint64_t stream, int64_t r0, int64_t r1,
                         int64_t c0, int64_t c1, float* out);

/// Stream of the dense (Gaussian/Rademacher) projection matrix.
constexpr uint64_t kDenseProjectionStream = 0;

/// Stream of a Kronecker factor: the layer's position in the selection (0-based) and which
/// factor (P_out over output coordinates, or P_in over input coordinates incl. the bias column).
/// Distinct for every (layer, factor) and from the dense stream.
uint64_t kroneckerStream(size_t layer, bool inputFactor);

/// Shape of one layer's per-sample gradient as a matrix: out × in, where `in` counts the bias
/// column when the layer has a bias (Conv2d: in = C_in·kh·kw (+1)).
struct KronLayerDims {
    int64_t out = 0; ///< o_l
    int64_t in = 0;  ///< i_l
};

/// One Kronecker feature coordinate: (P_out δ)_a · (P_in a)_b of layer `layer`.
struct KronCoordinate {
    int32_t layer = 0; ///< position in the selection
    int64_t a = 0;     ///< row of P_out, < o_l
    int64_t b = 0;     ///< row of P_in, < i_l
};

/// The first kMax Kronecker coordinates and the factor rows they need.
struct KroneckerLayout {
    std::vector<int64_t> outRows;            ///< per layer: rows of P_out used (max a + 1; 0 if none)
    std::vector<int64_t> inRows;             ///< per layer: rows of P_in used (max b + 1; 0 if none)
    std::vector<KronCoordinate> coordinates; ///< kMax coordinates, in feature order
};

/// Σ_l o_l·i_l: the number of Kronecker coordinates that exist.
int64_t kroneckerCapacity(const std::vector<KronLayerDims>& dims);

/// Coordinates (l, a, b), a < o_l, b < i_l, ordered by shell s = max(a, b) ascending, then layer,
/// then a, then b; the first kMax of them. The first Σ_l min(s,o_l)·min(s,i_l) coordinates are
/// exactly the clipped s×s Kronecker sub-blocks, so every prefix is a nested projection.
/// Throws ConfigError when kMax < 0 or kMax > kroneckerCapacity(dims).
KroneckerLayout kroneckerLayout(const std::vector<KronLayerDims>& dims, int64_t kMax);

} // namespace attri
