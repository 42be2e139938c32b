#pragma once

#include "attribution/spectral_cache.h"
#include "attribution/unrolled_path.h"
#include "features/featurizer.h"
#include "model/train_recipe.h"

#include <Eigen/Core>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <limits>
#include <vector>

namespace attri {

class ProgressSink;
class CancelToken;

/// The retraining-free λ selectors AttriScope implements (see docs/lambda-selection.md).
enum class SelectorRule {
    SimulatedSgd,       ///< ξ = Spearman over simulated subsets between recipe-SGD outcomes and additive scores
    DynamicsPrior,      ///< λ = c·ρ·(1/(η_eff·T) + weight decay), the early-stopping ridge equivalent
    DynamicsPriorUncalibrated, ///< the same with c = k and ρ = 1 (kept for comparison in the study)
    EffectiveDimension, ///< df(λ) = Σ μ/(μ+λ) equals min(⌊αn⌋, k)/2
    StabilityPlateau,   ///< smallest λ whose ranking agrees with the next λ's (Spearman ≥ threshold)
    FixedRelative,      ///< λ = 0.1 · mean eigenvalue
    FixedAbsolute,      ///< λ = 1e-3
    PathMatch,          ///< the λ whose scores best match (cosine) the influence unrolled along the recorded checkpoints
    /// PathMatch where a training path (≥ 2 checkpoints) is recorded and stable (pathStability ≤ 1)
    /// and unrolling it fits SelectorOptions::pathBudget, else DynamicsPrior. The default.
    PathOrPrior,
};
std::string toString(SelectorRule rule);
SelectorRule parseSelectorRule(const std::string& name);
/// Every rule that needs nothing beyond the method's features and the recipe, the default first
/// (the study compares these; PathOrPrior reads the checkpoints' features when given them).
/// PathMatch needs them: see selectableSelectorRules.
std::vector<SelectorRule> allSelectorRules();
/// allSelectorRules and PathMatch: what `--rule` accepts.
std::vector<SelectorRule> selectableSelectorRules();

/// Settings of the recommendation.
struct SelectorOptions {
    SelectorRule rule = SelectorRule::PathOrPrior; ///< which rule recommends (the default is chosen by the study)
    int64_t simulatedSubsets = 64;       ///< subsets simulated for ξ
    double alpha = 0.5;                  ///< subset fraction, as in the LDS protocol
    uint64_t seed = 1000;                ///< simulation seed (distinct from the LDS seeds)
    double scale = 0.0;                  ///< feature scale c = E‖φ‖²/E‖g‖² (≤ 0: measured from the features, else k)
    double stabilityThreshold = 0.9;     ///< StabilityPlateau: neighbour Spearman needed
    int64_t maxTests = 500;              ///< test points used for ξ (the first ones)
    /// PathOrPrior: the share of the estimated retraining (SelectorInputs::retrainSeconds) that
    /// unrolling the path may take; past it the rule stops and takes the dynamics prior. Infinite:
    /// no limit; 0: never the path. 4%: the study's cost target is 5%, and the estimate has come
    /// out up to 1.3× the measured retraining (docs/lambda-selection.md, "Its budget").
    double pathBudget = 0.04;

    void validate() const;
};

/// Why path-or-prior took the dynamics prior instead of the recorded training path: the reason as
/// a value (for a front end to present as it likes) and its one-line description.
struct PathFallback {
    enum class Reason {
        NoPath,           ///< the experiment records no training path
        OneCheckpoint,    ///< one checkpoint is no path
        ZeroBudget,       ///< --path-budget 0
        BrokenCheckpoint, ///< a checkpoint's features are not finite (detail names it)
        OverBudget,       ///< unrolling would take more than the budget
        Unstable,         ///< the run steps beyond gradient descent's stability limit
        NoStabilityClaim, ///< no stability limit is known for the optimizer (detail names it)
        VaryingRate,      ///< the run's learning rate follows a schedule (detail names it)
        Converged,        ///< trained to convergence (lbfgs): no training dynamics to unroll
    };
    Reason reason = Reason::NoPath;
    std::string detail;          ///< BrokenCheckpoint: the error; NoStabilityClaim: the optimizer; VaryingRate: the schedule
    /// OverBudget: the projected time (a lower bound when `projectedIsLowerBound`), the limit, the
    /// share of the retraining the budget allowed, the retraining estimate and how it was made.
    double projectedSeconds = std::numeric_limits<double>::quiet_NaN();
    bool projectedIsLowerBound = false;
    double limitSeconds = std::numeric_limits<double>::quiet_NaN();
    double budgetShare = std::numeric_limits<double>::quiet_NaN();
    double retrainSeconds = std::numeric_limits<double>::quiet_NaN();
    std::string retrainEstimate;
    /// Unstable: the stability figure (a lower bound when `stabilityIsLowerBound`).
    double stability = std::numeric_limits<double>::quiet_NaN();
    bool stabilityIsLowerBound = false;

    /// One line, as `recommend` prints it inside "dynamics-prior (…)".
    std::string describe() const;
};

/// The recommendation with its evidence: ξ(λ) per test point and its mean, the chosen λ, and
/// the rule's own diagnostics. Immutable once built.
struct LambdaRecommendation {
    SelectorRule rule = SelectorRule::SimulatedSgd;
    std::vector<double> lambdas;         ///< absolute grid
    std::vector<double> relativeLambdas; ///< the same grid / mean eigenvalue
    Eigen::VectorXd meanXi;              ///< mean over test points of ξ(z', λ) (SimulatedSgd), or of the cosine
                                         ///< with the unrolled scores (PathMatch); else empty
    Eigen::MatrixXd xi;                  ///< tests × λ (SimulatedSgd; else empty)
    double lambda = 0.0;                 ///< recommended absolute λ
    double relativeLambda = 0.0;         ///< recommended λ / mean eigenvalue
    int64_t gridIndex = -1;              ///< index in the grid (−1 when the rule gives an off-grid value)
    double peakedness = 0.0;             ///< max mean ξ − median mean ξ (how decisive the curve is)
    double plateauWidthDecades = 0.0;    ///< log10 width of the λ range with mean ξ ≥ max − 0.01
    double seconds = 0.0;                ///< cost of the recommendation
    double featureScale = 0.0;           ///< c used (E‖φ‖²/E‖g‖², or k when not measurable)
    double curvatureRatio = 1.0;         ///< ρ used by dynamics-prior (1 for the other rules)
    double pathFactor = 1.0;             ///< π used by dynamics-prior (1 for the other rules)
    /// PathMatch: the recorded run's step against gradient descent's stability limit on its own
    /// curvature, max over the segments of lr·μ_max(H_s)/c_s ÷ 2(1 + momentum). Above 1 the
    /// run is unstable along its top directions and the unrolled (linearised) path does not
    /// describe it: the match is not to be trusted. NaN for other rules and for adam.
    double pathStability = std::numeric_limits<double>::quiet_NaN();
    bool pathUsed = false;               ///< the λ came from the unrolled training path (PathMatch, or PathOrPrior on it)
    /// PathOrPrior: the time it allowed for unrolling the path (NaN: no limit, or another rule),
    /// and the estimated retraining it is the share of, with how it was estimated.
    double pathBudgetSeconds = std::numeric_limits<double>::quiet_NaN();
    double retrainSeconds = std::numeric_limits<double>::quiet_NaN();
    std::string retrainEstimate;
    /// PathOrPrior on the prior: why the path was not used (empty when it was, or another rule).
    std::optional<PathFallback> pathFallback;
    /// dynamics-prior (and path-or-prior on it): the recipe's effective step size η_eff, the
    /// subset model's steps T and the weight decay behind 1/(η_eff·T) + wd (NaN for other rules).
    /// A converged (lbfgs) recipe has no η_eff or T (NaN): priorWeightDecay is then its whole
    /// λ_true, the weight decay or the curvature's floor (docs/lambda-selection.md, "Converged
    /// training").
    double priorStepSize = std::numeric_limits<double>::quiet_NaN();
    double priorSteps = std::numeric_limits<double>::quiet_NaN();
    double priorWeightDecay = std::numeric_limits<double>::quiet_NaN();
    std::string reason;                  ///< why this λ, in words (recommendationReason)
    std::string inputs;                  ///< one line: what the rule used
};

/// Why the rule gave its λ, in a sentence for a user: what the rule follows and, for the default
/// rule, which branch it took and why (the path-or-prior fall-back's reason in words).
std::string recommendationReason(const LambdaRecommendation& rec);

/// What the method's curvature is, relative to the Gauss–Newton curvature of the training loss
/// that the optimizer's dynamics follow (see docs/lambda-selection.md, "Calibration").
enum class SelectorCurvature {
    LossGaussNewton, ///< exact Hessian / GGN of the loss (explicit IF): ρ = 1
    LossFisher,      ///< Σ g gᵀ of loss gradients (projected IF): ρ = Σ‖g‖² / Σ (p/(1−p))‖g‖²
    MarginFisher,    ///< Σ φ φᵀ of margin gradients (TRAK): ρ = Σ‖φ‖² / Σ p(1−p)‖φ‖²
};

/// What the selector reads: the method's features and spectrum, and the training recipe.
struct SelectorInputs {
    std::shared_ptr<const SpectralCache> cache; ///< full-data spectrum and rotated features
    const RowMatrixF* trainFeatures = nullptr;  ///< Φ (n×k) as used by the cache (unrotated)
    const RowMatrixF* testFeatures = nullptr;   ///< Φ' (m×k)
    std::vector<float> trainWeights;            ///< TRAK: 1 − p_i (empty: 1)
    TrainRecipe recipe;                         ///< the full model's recipe
    SelectorCurvature curvature = SelectorCurvature::LossGaussNewton; ///< what the cache's curvature is
    std::vector<float> trainLoss;               ///< per-sample loss −log p_i (needed for ρ; empty: ρ = 1)
    double gradientSqNormMean = 0.0;            ///< mean ‖g_i‖² of the full gradient (≤ 0 or NaN: unknown, c = k)
    int64_t gradientNormSamples = 0;            ///< ... over the first this many training points
    int64_t gradientDimension = 0;              ///< p of that gradient (the featurized layers' parameters)
    /// The loss's Gauss–Newton trace per sample along the training run (at evenly spaced
    /// marks) and at its end (ModelRecord); empty / NaN: unknown, π = 1.
    std::vector<double> pathTrace;
    double finalTrace = std::numeric_limits<double>::quiet_NaN();
    /// lbfgs recipes: max |g| of the training objective at the final model (ModelRecord); NaN:
    /// not recorded (an import), and the run is taken to have reached its tolerance.
    double gradientMaxAbs = std::numeric_limits<double>::quiet_NaN();
    /// PathMatch only: the run's checkpoints in training order (the last is the final model) and
    /// the test points' loss-gradient features at the last one (same columns).
    std::vector<PathSegment> path;
    const RowMatrixF* pathTestFeatures = nullptr;
    /// The retraining a recommendation replaces, in seconds: LdsOptions' default M subset models.
    /// NaN: estimateRetrainSeconds is asked, when PathOrPrior has a path to budget for.
    double retrainSeconds = std::numeric_limits<double>::quiet_NaN();
    /// Estimates retrainSeconds (selectorInputs: probeRetrainSeconds on the model, else
    /// estimatedRetrainSeconds from its recorded training time) and says how in `*how`; timed as
    /// part of the recommendation. Empty, or NaN returned: unknown, and the budget is unlimited.
    std::function<double(const CancelToken& cancel, std::string* how)> estimateRetrainSeconds;
};

/// The time to retrain the LDS's default M = 50 models on ⌊αn⌋ points each, LdsOptions' workers
/// at a time with one thread each, from the full model's recorded training time on n points with
/// T threads: M·α·trainSeconds·√T/workers. T threads are taken to have sped training up √T-fold,
/// between none and perfect, since small models gain little from more threads
/// (docs/lambda-selection.md, "Its budget"). T ≤ 0 (not recorded): this machine's
/// hardware threads, the training default. NaN when the training time is not positive (an import).
double estimatedRetrainSeconds(double trainSeconds, int64_t trainThreads);

/// The feature scale c = mean ‖φ_i‖² / mean ‖g_i‖² over the first gradientNormSamples training
/// points (k when the gradient norms are unknown, `options.scale` when set).
double selectorFeatureScale(const SelectorInputs& inputs, const SelectorOptions& options);
/// ρ = tr(method's curvature) / tr(Gauss–Newton curvature of the loss), both in the method's
/// feature space, from the per-sample losses; 1 for LossGaussNewton or without losses.
double selectorCurvatureRatio(const SelectorInputs& inputs);

/// π = tr(loss Gauss–Newton at the end of training) / its mean along the training run
/// (inputs.finalTrace / mean of inputs.pathTrace); 1 when they are not recorded or not positive.
double selectorPathFactor(const SelectorInputs& inputs);

/// PathMatch's unrolled scores (first `tests` test points × training points): early-stopped
/// training linearised one checkpoint segment at a time (docs/lambda-selection.md), in the
/// features of `inputs.path`, at the spectrum's dimension k. ConfigError without a path.
Eigen::MatrixXf unrolledPathScores(const SelectorInputs& inputs, const SelectorOptions& options, int64_t tests,
                                   ProgressSink& progress, const CancelToken& cancel);

/// Recommends λ from `grid` (absolute values) without any retrained model.
LambdaRecommendation recommendLambda(const SelectorInputs& inputs, const std::vector<double>& grid,
                                     const SelectorOptions& options, ProgressSink& progress,
                                     const CancelToken& cancel);


} // namespace attri
