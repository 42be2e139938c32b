#pragma once
// Internal to attri_core (includes Torch): per-sample gradients of selected layers and their
// projections. The featurizer drives these; tests use them to check the batched path.

#include "features/feature_options.h"
#include "features/projection.h"
#include "model/internal/net.h"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace attri {

class CancelToken;

/// How a layer's parameters form its per-sample gradient matrix (out × in).
enum class GradLayout {
    WeightBias, ///< weight (out × …) flattened to out × iw, then the bias (if any) as one more column
    Columns,    ///< several equal-length vectors (e.g. BatchNorm weight and bias), one column each
    Flat,       ///< anything else: every value in one column (in = 1)
};

/// One selected layer: a traced Linear/Conv2d, or (for nets without traced layers) the
/// parameters that share a module prefix.
struct GradLayer {
    std::string name;
    int64_t tracedIndex = -1;          ///< index in Net::tracedLayers(); −1 for a parameter group
    TracedLayer traced;                ///< geometry and live tensors (traced layers only)
    std::vector<torch::Tensor> params; ///< live parameters in flatten order (weight, then bias)
    GradLayout layout = GradLayout::Flat;
    int64_t out = 0;   ///< gradient-matrix rows (o_l)
    int64_t in = 0;    ///< gradient-matrix columns, bias column included (i_l)
    int64_t numel = 0; ///< parameters of the layer (= out · in)

    bool isConv() const { return tracedIndex >= 0 && traced.kind == "Conv2d"; }
};

/// The names a Net offers for selection: its traced layers in forward order, or, when it has
/// none, its parameters grouped by module prefix ("fc.weight" → "fc"; top-level ones → "(top)").
std::vector<std::string> selectableLayers(Net& net);

/// Resolves names (as returned by selectableLayers) to layers, in the given order.
/// Throws ConfigError for a name the net does not offer.
std::vector<GradLayer> resolveLayers(Net& net, const std::vector<std::string>& names);

/// Per-sample targets for logits (B×K) and labels (B): cross-entropy, or TRAK's margin
/// logit_y − logsumexp over the other classes (= log(p_y / (1 − p_y))).
torch::Tensor perSampleTargets(const torch::Tensor& logits, const torch::Tensor& labels,
                               FeatureTarget target);

/// Per-sample gradients of the targets of one batch w.r.t. the selected layers' parameters.
/// Batched path: one forward/backward, keeping each layer's input and output gradient (the
/// per-sample gradient is their outer product, summed over positions for Conv2d). Loop path:
/// one autograd call per sample (any Net).
class PerSampleGradients {
public:
    PerSampleGradients(Net& net, std::vector<GradLayer> layers, FeatureTarget target);

    /// Per-sample targets from the batch's logits (B×K, with graph) and labels (B): B values.
    using TargetFunction = std::function<torch::Tensor(const torch::Tensor& logits, const torch::Tensor& labels)>;
    /// Replaces the FeatureTarget for the following computations (empty: back to it). Used for
    /// the GGN's pseudo-targets sᵀz, whose gradients are Jᵀs.
    void setTargetFunction(TargetFunction target) { m_targetFunction = std::move(target); }

    /// Inputs are moved to the net's device; results (logits, gradients, factors) stay there.
    /// Batched path (the net must be in evaluation mode). Returns false, having kept nothing,
    /// when the net's trace cannot give exact per-sample gradients (no traced layers selected,
    /// grouped convolutions, unexpected shapes, a traced output modified in place).
    bool computeBatched(const torch::Tensor& x, const torch::Tensor& labels);
    /// Per-sample autograd loop; polls `cancel` (if given) between samples.
    void computeLoop(const torch::Tensor& x, const torch::Tensor& labels,
                     const CancelToken* cancel = nullptr);

    bool batched() const { return m_batched; }
    int64_t batchSize() const { return m_batchSize; }
    /// Logits of the batch, detached (B×K).
    const torch::Tensor& logits() const { return m_logits; }
    const std::vector<GradLayer>& layers() const { return m_layers; }
    /// Σ numel over the layers (p).
    int64_t fullDimension() const;

    /// B×p per-sample gradients: layers in order, each flattened weight then bias.
    torch::Tensor flat() const;
    /// flat() written into `out` (B×p, row-major contiguous), e.g. a caller's buffer.
    void flatInto(torch::Tensor out) const;
    /// Samples [s0, s1) of layer l flattened (s×numel).
    torch::Tensor layerFlat(size_t l, int64_t s0, int64_t s1) const;
    /// ‖g_i‖² over every selected layer for samples [s0, s1) (float64, on the net's device), in
    /// memory-bounded chunks; Linear layers on the batched path as ‖δ‖²·‖[a 1]‖², without
    /// forming the outer product.
    torch::Tensor squaredNorms(int64_t s0, int64_t s1) const;
    /// Samples [s0, s1) of layer l as gradient matrices (s × out × in, bias column last).
    torch::Tensor matrix(size_t l, int64_t s0, int64_t s1) const;

    /// Batched path only: samples [s0, s1) of layer l as (input with a ones column/row for the
    /// bias, output gradient). Linear: (s×in, s×out); Conv2d: unfolded (s×in×L, s×out×L).
    std::pair<torch::Tensor, torch::Tensor> factors(size_t l, int64_t s0, int64_t s1) const;
    /// Samples per chunk so that a chunk's working set for layer l, plus `extraPerSample`
    /// floats per sample, stays within a fixed budget (≥ 1).
    int64_t chunkSize(size_t l, int64_t extraPerSample) const;

private:
    void writeLayerFlat(size_t l, int64_t s0, int64_t s1, torch::Tensor dst) const;
    torch::Tensor targets(const torch::Tensor& logits, const torch::Tensor& labels) const;
    int64_t positions(size_t l) const;
    torch::TensorOptions floatOptions() const { return torch::TensorOptions().dtype(torch::kFloat).device(m_device); }

    Net& m_net;
    torch::Device m_device = torch::kCPU; ///< the net's device at the last compute call
    std::vector<GradLayer> m_layers;
    FeatureTarget m_target;
    TargetFunction m_targetFunction;
    bool m_batched = false;
    int64_t m_batchSize = 0;
    torch::Tensor m_logits;
    std::vector<torch::Tensor> m_inputs; ///< batched: layer inputs (detached)
    std::vector<torch::Tensor> m_deltas; ///< batched: gradients w.r.t. layer outputs
    std::vector<torch::Tensor> m_flat;   ///< loop: per layer B×numel
};

/// The gradient matrix (s×out×in) of a layer from its flattened gradients (s×numel).
torch::Tensor matrixFromFlat(const GradLayer& layer, const torch::Tensor& flat);

} // namespace attri
