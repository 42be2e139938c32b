#pragma once
// The recommend task: a λ chosen without retraining, with its evidence against ground truth when
// the experiment holds some. The CLI's `recommend`, the GUI's Recommend page and the demo call it.

#include "store/attribution_store.h"
#include "tuning/lambda_grid.h"
#include "tuning/lambda_selector.h"
#include "tuning/sweep_tables.h"

#include <cstdint>
#include <optional>
#include <string>

namespace attri {

class AttributionSession;
class ProgressSink;
class CancelToken;

/// What to recommend for, and how.
struct RecommendRequest {
    std::string method = "if"; ///< a method with λ (if, trak, unrolled, ...)
    int64_t k = 0;             ///< projection dimension; 0: the largest stored
    SelectorOptions selector;  ///< rule and its settings (selectorOptionsFor adjusts them to the method)
    /// Relative λ grid the rule chooses from (and the evidence's LDS curve is taken over).
    LambdaGrid grid = LambdaGrid::parse("log:1e-6:1e2:33");
    /// path-match, path-or-prior: the experiment holding the training path, if not this one.
    std::string pathFrom;
    int bootstrapResamples = 200; ///< with ground truth: resamples for the ratio's 90% interval
    bool store = true;            ///< write the record into the experiment file

    /// Throws ConfigError naming the field (resamples out of 10–100000, --path-from with a rule that
    /// reads no path, an invalid grid).
    void validate() const;
};

/// The ground truth behind the evidence: its size and cost.
struct GroundTruthSummary {
    int64_t subsets = 0;
    double seconds = 0.0; ///< retraining time of its models (0 when not recorded)
};

/// A recommendation with everything said about it.
struct RecommendResult {
    LambdaRecommendation recommendation;
    double meanEigenvalue = 0.0;             ///< the relative-λ unit of the session
    std::string noPathReason;                ///< path-or-prior: why the training path was not used ("" if it was)
    RecommendationRecord record;             ///< as stored (the evidence's fields filled when there is ground truth)
    std::optional<LdsEvidence> evidence;     ///< LDS at the recommended λ and the grid's best
    std::optional<GroundTruthSummary> truth; ///< the ground truth the evidence comes from
};

/// Recommends λ for the stored attribution of `request.method` at `request.k` in `path`, adds the
/// evidence when the file holds ground truth, and stores the record (request.store). ConfigError
/// for a method without λ (before any loading), a model without a recipe, a missing path.
RecommendResult recommendWithEvidence(const std::string& path, const RecommendRequest& request,
                                      ProgressSink& progress, const CancelToken& cancel);

/// The same on a session already open on `path` (request.method and request.k are ignored).
RecommendResult recommendWithEvidence(const std::string& path, const AttributionSession& session,
                                      const RecommendRequest& request, ProgressSink& progress,
                                      const CancelToken& cancel);

/// "mean_xi": the simulated-sgd mean ξ(λ) of `method` at every stored k over `grid`, stored in the
/// experiment file as a λ × k table (no retraining).
SweepTable storeMeanXiTable(const std::string& path, const std::string& method, const LambdaGrid& grid,
                            const SelectorOptions& options, ProgressSink& progress, const CancelToken& cancel);

} // namespace attri
