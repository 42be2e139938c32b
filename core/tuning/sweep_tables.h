#pragma once
// λ × k tables computed from stored attribution results, as drawn by the sensitivity heatmap and
// printed by the CLI: LDS against ground truth, and the selector's mean ξ. One implementation
// for the CLI and the GUI.

#include "eval/lds.h"
#include "store/attribution_store.h"
#include "tuning/lambda_grid.h"
#include "tuning/lambda_selector.h"

#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace attri {

class AttributionSession;
class GroupScores;
struct GroundTruth;
class ProgressSink;
class CancelToken;

/// What the selector reads from an attribution session (its final checkpoint's spectrum and
/// features, TRAK's weights, the model's recipe), and the options adjusted to the method
/// (explicit IF works on unprojected gradients: feature scale 1). Throws ConfigError when the
/// method has no λ or the model has no training recipe (an import without one).
SelectorInputs selectorInputs(const AttributionSession& session);
SelectorOptions selectorOptionsFor(const AttributionSession& session, SelectorOptions options);

/// The recorded training path the rule path-match reads: the loss-gradient features of every
/// checkpoint of the session's model, as stored by `attribute --method tracin` (one projection,
/// seed and layer set covering all checkpoints, with at least the session's k columns; the
/// session's own projection preferred), or, where there are none, TRAK's margin features of every
/// checkpoint (`attribute --method trak` on a model trained with checkpoints) turned into loss
/// gradients, row i times −(1 − p_i). Owns the matrices `in.path` points to.
struct TrainingPathFeatures {
    std::vector<RowMatrixF> train; ///< per checkpoint, the first k columns
    RowMatrixF test;               ///< the last checkpoint's test features
    bool fromMargin = false;       ///< converted from TRAK's margin features
};
/// Loads the path from `pathFile` into `in` (in.path, in.pathTestFeatures). `pathFile` is the
/// session's own experiment, or another one recording the same run with checkpoints: the same
/// training and test points, and a final checkpoint whose parameters equal the session's model's
/// (to 1e-6 of their largest magnitude; the study trains such a companion, since TRAK on a file
/// with checkpoints averages them). Throws ConfigError naming the file and what is missing
/// (checkpoints, features) or what differs.
std::shared_ptr<TrainingPathFeatures> attachTrainingPath(const std::string& pathFile,
                                                         const AttributionSession& session, SelectorInputs& in);
/// The path a rule reads, by rule: PathMatch needs it (attachTrainingPath's errors propagate);
/// PathOrPrior uses it when there is one (why not, when not, in `*note`); the others read none
/// (null).
std::shared_ptr<TrainingPathFeatures> attachTrainingPathFor(SelectorRule rule, const std::string& pathFile,
                                                            const AttributionSession& session, SelectorInputs& in,
                                                            std::string* note = nullptr);

/// Says in `rec.inputs` that the path's features were TRAK's margin features, converted, when they
/// were and the rule used them (`path` may be null).
void notePathSource(const TrainingPathFeatures* path, LambdaRecommendation& rec);

/// The store's record of a recommendation made on `session` (method, k, rule, λ, convention,
/// inputs, cost, ξ curve); the LDS fields stay NaN for the caller to fill when ground truth exists.
RecommendationRecord recommendationRecord(const AttributionSession& session, const LambdaRecommendation& rec);

/// How a λ fares against ground truth on `session`: the LDS at every λ of `grid` (absolute), the
/// grid's best, the LDS at `lambda`, their ratio and the ratio's interval under ground-truth noise
/// (bootstrapLdsRatio against the best grid λ, with `resamples`). One implementation for
/// `recommend`, `study` and the GUI.
struct LdsEvidence {
    std::vector<double> gridLds;  ///< LDS at each grid λ (NaN where undefined)
    double bestLambda = std::numeric_limits<double>::quiet_NaN();
    double bestLds = std::numeric_limits<double>::quiet_NaN();
    LdsResult atLambda;           ///< LDS at `lambda`
    double ratio = std::numeric_limits<double>::quiet_NaN(); ///< atLambda.mean / bestLds (NaN if best ≤ 0)
    LdsRatioInterval interval;
    RowMatrixF bestSums;          ///< the best grid λ's subset sums (ldsSubsetSums), for other intervals
};
LdsEvidence ldsEvidence(const AttributionSession& session, const std::vector<double>& grid, double lambda,
                        const GroundTruth& truth, int resamples, ProgressSink& progress, const CancelToken& cancel);
/// The same from the session's subset sums (GroupScores over ldsMaskMatrix(truth)) made by the caller.
LdsEvidence ldsEvidence(const GroupScores& subsetSums, const std::vector<double>& grid, double lambda,
                        const GroundTruth& truth, int resamples, ProgressSink& progress, const CancelToken& cancel);

/// Copies the evidence into a recommendation's record (LDS at λ and at the grid's best, the best
/// λ, the ratio's interval).
void addEvidence(RecommendationRecord& record, const LdsEvidence& evidence);

/// The stored k of a method that a λ × k table covers: every stored k for projected methods and
/// the unrolled method, the single one of explicit IF (and the largest of the other methods
/// without λ).
std::vector<int64_t> tableKs(const AttributionSession& probe);

/// "lds": LDS against `truth` at every (relative λ of `grid`, stored k) of `method` in the
/// experiment file at `path`. Methods without λ repeat their one value down each column.
SweepTable ldsSweepTable(const std::string& path, const std::string& method, const GroundTruth& truth,
                         const LambdaGrid& grid, ProgressSink& progress, const CancelToken& cancel);

/// "mean_xi": the simulated-sgd indicator's mean over test points, ξ̄(λ), at every (relative λ
/// of `grid`, stored k); no retraining. `options` gives the simulation settings (its rule is
/// ignored). Throws ConfigError for a method without λ or a model without a recipe.
SweepTable meanXiSweepTable(const std::string& path, const std::string& method, const LambdaGrid& grid,
                            const SelectorOptions& options, ProgressSink& progress, const CancelToken& cancel);

} // namespace attri
