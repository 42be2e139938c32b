#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attri {

/// What function of the model is differentiated per sample.
enum class FeatureTarget {
    Loss,   ///< cross-entropy loss ℓ(z; θ) — IF, TracIn, Grad-Dot/Cos
    Margin, ///< TRAK's margin f = log(p/(1−p)) of the true class
};

/// How per-sample gradients are compressed to k dimensions.
enum class ProjectionKind {
    None,       ///< the full gradient of the selected layers (small models only)
    Gaussian,   ///< dense, entries N(0,1)
    Rademacher, ///< dense, entries ±1
    Kronecker,  ///< per layer P_out ⊗ P_in with N(0,1) factors; never forms the per-sample gradient
};

/// "loss", "margin".
std::string toString(FeatureTarget t);
/// "none", "gaussian", "rademacher", "kron".
std::string toString(ProjectionKind p);
/// "loss" or "margin"; throws ConfigError listing the valid names.
FeatureTarget parseFeatureTarget(const std::string& name);
/// "none", "gaussian", "rademacher", "kron"; throws ConfigError listing the valid names.
ProjectionKind parseProjectionKind(const std::string& name);

/// Featurization settings. All projections are nested: the feature at k is the first k
/// coordinates of the feature at kMax, exactly, for every kind (entries come from a counter-based
/// generator keyed by (seed, layer, row, column), and are not rescaled by k).
struct FeatureOptions {
    FeatureTarget target = FeatureTarget::Loss;            ///< what is differentiated
    std::string layers = "all";                            ///< "all", "last", or comma-separated layer names
    ProjectionKind projection = ProjectionKind::Kronecker; ///< compression
    int64_t kMax = 1024;                                   ///< feature dimension (ignored for None)
    uint64_t seed = 0;                                     ///< projection seed
    int64_t batchSize = 250;                               ///< samples per batched backward pass
    bool perSampleLoop = false;                            ///< force the generic per-sample autograd path

    /// Throws ConfigError naming the field (kMax ≥ 1, batchSize ≥ 1, non-empty layers).
    void validate() const;
};

} // namespace attri
