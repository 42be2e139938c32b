#pragma once

#include "attribution/spectral_cache.h"
#include "features/featurizer.h"
#include "model/train_recipe.h"

#include <Eigen/Core>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attri {

class ProgressSink;
class CancelToken;

/// The retraining-free λ selectors AttriScope implements (see docs/lambda-selection.md).
enum class SelectorRule {
    SimulatedSgd,       ///< ξ = Spearman over simulated subsets between recipe-SGD outcomes and additive scores
    DynamicsPrior,      ///< λ = c·(1/(η_eff·T) + weight decay), the early-stopping ridge equivalent
    EffectiveDimension, ///< df(λ) = Σ μ/(μ+λ) equals min(⌊αn⌋, k)/2
    StabilityPlateau,   ///< smallest λ whose ranking agrees with the next λ's (Spearman ≥ threshold)
    FixedRelative,      ///< λ = 0.1 · mean eigenvalue
    FixedAbsolute,      ///< λ = 1e-3
};
std::string toString(SelectorRule rule);
SelectorRule parseSelectorRule(const std::string& name);
/// Every rule, the default first.
std::vector<SelectorRule> allSelectorRules();

/// Settings of the recommendation.
struct SelectorOptions {
    SelectorRule rule = SelectorRule::DynamicsPrior; ///< which rule recommends (the default is chosen by the study)
    int64_t simulatedSubsets = 64;       ///< subsets simulated for ξ
    double alpha = 0.5;                  ///< subset fraction, as in the LDS protocol
    uint64_t seed = 1000;                ///< simulation seed (distinct from the LDS seeds)
    double scale = 0.0;                  ///< feature scale c = E‖φ‖²/E‖g‖² (≤ 0: k for projections, 1 for none)
    double stabilityThreshold = 0.9;     ///< StabilityPlateau: neighbour Spearman needed
    int64_t maxTests = 500;              ///< test points used for ξ (the first ones)

    void validate() const;
};

/// The recommendation with its evidence: ξ(λ) per test point and its mean, the chosen λ, and
/// the rule's own diagnostics. Immutable once built.
struct LambdaRecommendation {
    SelectorRule rule = SelectorRule::SimulatedSgd;
    std::vector<double> lambdas;         ///< absolute grid
    std::vector<double> relativeLambdas; ///< the same grid / mean eigenvalue
    Eigen::VectorXd meanXi;              ///< mean over test points of ξ(z', λ) (SimulatedSgd; else empty)
    Eigen::MatrixXd xi;                  ///< tests × λ (SimulatedSgd; else empty)
    double lambda = 0.0;                 ///< recommended absolute λ
    double relativeLambda = 0.0;         ///< recommended λ / mean eigenvalue
    int64_t gridIndex = -1;              ///< index in the grid (−1 when the rule gives an off-grid value)
    double peakedness = 0.0;             ///< max mean ξ − median mean ξ (how decisive the curve is)
    double plateauWidthDecades = 0.0;    ///< log10 width of the λ range with mean ξ ≥ max − 0.01
    double seconds = 0.0;                ///< cost of the recommendation
    std::string inputs;                  ///< one line: what the rule used
};

/// What the selector reads: the method's features and spectrum, and the training recipe.
struct SelectorInputs {
    std::shared_ptr<const SpectralCache> cache; ///< full-data spectrum and rotated features
    const RowMatrixF* trainFeatures = nullptr;  ///< Φ (n×k) as used by the cache (unrotated)
    const RowMatrixF* testFeatures = nullptr;   ///< Φ' (m×k)
    std::vector<float> trainWeights;            ///< TRAK: 1 − p_i (empty: 1)
    TrainRecipe recipe;                         ///< the full model's recipe
};

/// Recommends λ from `grid` (absolute values) without any retrained model.
LambdaRecommendation recommendLambda(const SelectorInputs& inputs, const std::vector<double>& grid,
                                     const SelectorOptions& options, ProgressSink& progress,
                                     const CancelToken& cancel);

} // namespace attri
