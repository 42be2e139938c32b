#pragma once

#include "common/error.h"
#include "features/featurizer.h"
#include "model/train_recipe.h"

#include <Eigen/Core>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace attri {

class CancelToken;
class ProgressSink;
struct Checkpoint;
struct FeatureRecord;

/// One stretch of a recorded training run: the loss-gradient features of the training points at
/// the checkpoint that ends it (the first k columns are used), their per-sample losses, the
/// gradient norm that gives the feature scale, and the epochs since the previous checkpoint.
struct PathSegment {
    const RowMatrixF* trainFeatures = nullptr;
    std::vector<float> trainLoss;
    double gradientSqNormMean = std::numeric_limits<double>::quiet_NaN();
    int64_t gradientNormSamples = 0;
    double epochs = 0.0;
};

/// The segment that ends at `checkpoint`, from its loss-gradient features' record: the training
/// points' losses and the gradient norm (trainFeatures is left for the caller to point at the rows
/// it read), and the epochs since `previousEpoch` (0 before the first), which is advanced to this
/// checkpoint's. `stepsPerEpoch` is the run's ⌈n / batch⌉. Throws FormatError naming `file` when the
/// record lacks the n = `trainCount` training losses or the checkpoint is not after the previous one.
PathSegment pathSegmentAt(const std::string& file, const FeatureRecord& record, const Checkpoint& checkpoint,
                          int64_t stepsPerEpoch, int64_t trainCount, double& previousEpoch);

/// c = mean ‖φ_i‖² / mean ‖g_i‖² over the first `samples` rows of `phi`, in its first k columns
/// (all when k < 0): how much the projection scales squared gradient norms. The column count when
/// the gradient norms are unknown or the ratio is not positive and finite.
double featureScaleOf(const RowMatrixF& phi, double gradientSqNormMean, int64_t samples, int64_t k = -1);

/// Each training point's Gauss–Newton weight p/(1 − p) of a loss-gradient feature, over n, as the
/// square root that scales its row (0 for p = 1 exactly, or a loss that is negative or not finite).
Eigen::VectorXf gaussNewtonRoots(const PathSegment& segment, int64_t n);

/// FormatError: checkpoint `index`'s features hold NaN or Inf, so no curvature can be formed there.
[[noreturn]] void throwNonFiniteCheckpoint(size_t index);

/// A wall-time limit on unrolling a path (the rule path-or-prior's budget), counted from `start`.
/// UnrolledPath::build and scores() stop with PathBudgetExceeded once the total they project
/// passes `seconds`. They project after each Gram matrix and each batch of eigendecompositions
/// (build; the first Gram matrix is summed over eighths of the rows and stops once it alone would
/// pass the limit) and after each segment from the second on (scores: the first segment's pace,
/// slowed by first touches, is left out): the time the phase has taken, extrapolated over its
/// segments, plus the time before it, plus the work expected after it as a multiple of the phase
/// (afterBuild, afterScores: what the caller still does with the result). Unlimited by default.
struct PathTimeLimit {
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    double seconds = std::numeric_limits<double>::infinity();
    double afterBuild = 0.0;  ///< the work after build() (scores() and beyond), × build's time
    double afterScores = 0.0; ///< the work after scores(), × its time

    double elapsed() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
    /// The total (from `start`) of a phase begun at `entry` seconds that has done `done` of its
    /// `count` equal units, followed by `after` × the phase's time.
    double project(double entry, double done, double count, double after) const;
    /// Throws PathBudgetExceeded when `projected` seconds (from `start`) pass the limit;
    /// `lowerBound`: the projection leaves out work not yet timed (PathBudgetExceeded::lowerBound).
    void check(double projected, bool lowerBound = false) const;
};

/// Unrolling the path would take longer than its PathTimeLimit allows.
class PathBudgetExceeded : public Error {
public:
    PathBudgetExceeded(double projectedSeconds, double limitSeconds, bool lowerBound = false);
    double projectedSeconds() const { return m_projected; } ///< the time the work was heading for
    double limitSeconds() const { return m_limit; }
    /// The projection counted only the Gram matrices, before the first eigendecompositions were
    /// timed: the path would take longer than projectedSeconds() (about 2-3 times on the study's
    /// MLP at k = 1024).
    bool lowerBound() const { return m_lowerBound; }

private:
    double m_projected, m_limit;
    bool m_lowerBound;
};

/// The subset fraction whose models the unrolled method's scores describe: the LDS protocol's
/// α = 1/2 (attribution notes §4), the counterfactual the λ selector's rules use too (the dynamics
/// prior's step count, path-match). With α = 1 (the recorded run's own steps) the LDS on the
/// study's MLP and CNN was 5–11% lower (docs/lambda-selection.md).
constexpr double kUnrolledSubsetFraction = 0.5;

/// The influence of a training point on a test loss through early-stopped SGD, unrolled along the
/// recorded checkpoints with one closed-form segment each (docs/lambda-selection.md, "A lead:
/// unrolling the recorded training path"):
///   τ(z′, z_i) = φ′(T)ᵀ Σ_s [Π_{s′>s} exp(−a_{s′} H_{s′})] H_s⁻¹ (I − exp(−a_s H_s)) φ_i(s),
/// H_s = (1/n) Σ_i p_i/(1 − p_i) φ_i(s)φ_i(s)ᵀ + c_s·wd, a_s = η_eff/c_s × the steps a model on
/// ⌊α·n⌋ points takes in the segment (η_eff = lr/(1 − momentum)). Positive = proponent, as IF.
/// Nothing is fitted: the recipe gives η_eff, the batch and the epochs, the features c_s.
///
/// build() decomposes every segment's k × k curvature once (single precision, two at a time; the
/// eigenvectors are kept in float, which loses nothing since they are computed in float); scores()
/// then costs, per test point, two k × k products per segment and one pass over the features.
/// The segments' features are referenced, not copied: they must outlive the object.
class UnrolledPath {
public:
    /// ConfigError when there is no segment, when the segments do not all have the same number of
    /// rows, of dimension ≥ k, with their losses and a positive span of epochs, or when α is outside
    /// (0, 1]. For adam, η_eff is its lr (a rough stand-in: the closed form is gradient descent's,
    /// and the attribution method refuses adam) and the stability figure is NaN.
    static UnrolledPath build(const std::vector<PathSegment>& segments, int64_t k, const TrainRecipe& recipe,
                              double alpha, ProgressSink& progress, const CancelToken& cancel,
                              const PathTimeLimit& limit = {});

    /// Scores of the test points whose last-checkpoint features are the rows of `tests` (their
    /// first k columns) against every training point: tests × n.
    Eigen::MatrixXf scores(const Eigen::MatrixXd& tests, const CancelToken& cancel,
                           const PathTimeLimit& limit = {}) const;

    int64_t dimension() const { return m_k; }
    int64_t trainCount() const { return m_n; }
    double effectiveLr() const { return m_effectiveLr; }
    double stepsPerEpoch() const { return m_stepsPerEpoch; }
    /// The feature scale c of the last segment.
    double finalScale() const { return m_segments.empty() ? 0.0 : m_segments.back().scale; }
    /// max over segments of lr·μ_max(H_s)/c_s ÷ 2(1 + momentum): above 1 the recorded run steps
    /// beyond gradient descent's stability limit along its top directions, where this
    /// linearisation does not describe it.
    double stability() const { return m_stability; }
    /// The segment where the stability figure peaks.
    size_t leastStable() const { return m_leastStable; }

private:
    struct Segment {
        const RowMatrixF* train = nullptr;
        double scale = 0.0;
        Eigen::MatrixXf vectors;  ///< eigenvectors of H_s (k × k)
        Eigen::VectorXd filter;   ///< (1 − e^{−aμ})/μ per eigenvalue
        Eigen::VectorXd decay;    ///< e^{−aμ}
    };
    std::vector<Segment> m_segments; ///< training order
    int64_t m_k = 0, m_n = 0;
    double m_effectiveLr = 0.0, m_stepsPerEpoch = 0.0;
    double m_stability = std::numeric_limits<double>::quiet_NaN();
    size_t m_leastStable = 0;
};

} // namespace attri
