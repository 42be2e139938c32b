#pragma once
// Internal to attri_core (includes Torch): the dense and Kronecker projections of per-sample
// gradients. The featurizer drives these; tests check them against explicit products.

#include "features/internal/per_sample_grads.h"
#include "features/projection.h"

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace attri {

/// Dense projection φ = P g (P: kMax × p, Gaussian or Rademacher). P is split into tiles of
/// kRowBlock rows × kColumnBlock columns (rows run up to the next multiple of kRowBlock; the extra
/// columns of φ are dropped). Each row block of φ is the sum, in column-block order, of one
/// single-threaded batch × kColumnBlock × kRowBlock product per tile; row blocks run in parallel.
/// Every product has a shape that depends only on the batch size, so φ does not depend on kMax
/// (φ at k is bitwise the first k columns of φ at kMax) nor on the thread count.
///
/// P is generated once and kept when it takes at most `cacheBytes` (default kCacheBytes);
/// otherwise each task regenerates its tiles for every batch.
class DenseProjector {
public:
    /// The largest matrix kept between batches: 2 GiB (k = 4096 at p ≈ 131 000).
    static constexpr int64_t kCacheBytes = int64_t(2) << 30;
    static constexpr int64_t kRowBlock = 256;
    static constexpr int64_t kColumnBlock = 16384;

    /// P is generated on the CPU (the same numbers everywhere) and kept on `device`.
    DenseProjector(ProjectionKind kind, uint64_t seed, int64_t p, int64_t kMax,
                   const torch::Device& device = torch::kCPU, int64_t cacheBytes = kCacheBytes);
    /// B×p → B×kMax (on g's device, which must be the projector's).
    torch::Tensor apply(const torch::Tensor& g) const;
    bool cached() const { return m_cache; }

private:
    /// Rows [r0, r1) of column block `columnBlock`, (r1 − r0) × width, on the projector's device.
    torch::Tensor block(int64_t columnBlock, int64_t r0, int64_t r1) const;

    ProjectionKind m_kind;
    uint64_t m_seed;
    int64_t m_p, m_kMax, m_rows, m_columnBlocks;
    torch::Device m_device;
    bool m_cache = false;
    std::vector<torch::Tensor> m_blocks; ///< kept: one m_rows × width block per column block
};

/// Kronecker projection: per layer Gaussian factors P_out (rows a) and P_in (rows b); feature
/// coordinate (l, a, b) = (P_out δ)_a (P_in a)_b, in kroneckerLayout() order. Factors are
/// generated once, in row blocks of 64 whose shapes do not depend on kMax, so features are
/// bitwise nested.
class KronProjector {
public:
    /// Factors are generated on the CPU and kept on `device`, the device of the gradients.
    KronProjector(const std::vector<KronLayerDims>& dims, int64_t kMax, uint64_t seed,
                  const torch::Device& device = torch::kCPU);
    /// B×kMax features of the batch held by `grads` (batched or loop path).
    torch::Tensor apply(const PerSampleGradients& grads) const;
    /// The same into `out` (batch × kMax, contiguous float), which must be zero.
    void applyInto(const PerSampleGradients& grads, torch::Tensor& out) const;
    const KroneckerLayout& layout() const { return m_layout; }
    /// Linear layers on the CPU use one fused multiply-and-scatter pass; off it (or with this
    /// set to false, which tests use to check the device path on the CPU) the coordinates are
    /// gathered with index_select and scattered with index_copy_: the same products.
    void setFusedLinear(bool on) { m_fusedLinear = on; }

    static constexpr int64_t kRowBlock = 64;

private:
    struct BlockPair {
        int64_t outBlock = 0, inBlock = 0;
        torch::Tensor columns; ///< feature columns (long)
        torch::Tensor local;   ///< index into the flattened Rob×Rib block product (long)
    };
    struct Layer {
        KronLayerDims dims;
        std::vector<torch::Tensor> outBlocks, inBlocks; ///< factor row blocks (R×o, R×i)
        torch::Tensor columns, aIndex, bIndex;          ///< all coordinates of the layer (long)
        std::vector<BlockPair> pairs;
    };

    int64_t m_kMax;
    KroneckerLayout m_layout;
    torch::Device m_device;
    bool m_fusedLinear = true;
    std::vector<Layer> m_layers;
};

} // namespace attri
