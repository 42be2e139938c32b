#pragma once
// The check task: an attribution checked against retraining beyond the LDS (top-k removal and
// leave-one-out). The CLI's `check` and the GUI's "Retrain without these proponents" call it.

#include "common/row_matrix.h"
#include "eval/removal_checks.h"

#include <string>

namespace attri {

class AttributionSession;
class ProgressSink;
class CancelToken;

/// A check's result with the setting it was run in and, when stored, its group in the file.
template <class Result>
struct CheckOutcome {
    Result result;
    CheckedSetting setting; ///< method, k, λ, recipe, repeats, seconds
    std::string group;      ///< /checks/<kind>/<method>-k<K> when stored, else empty
};

/// Retrains without each test point's top `options.k` proponents of `session` at `lambda` (and
/// without as many random points), from the experiment's own start and recipe. With `store` the
/// result replaces any earlier one of the same kind, method and k in `path`. ConfigError (naming
/// `path`) for a model without a recipe or options that do not fit the data, before any work.
CheckOutcome<TopKRemovalResult> runTopKCheck(const std::string& path, const AttributionSession& session,
                                             double lambda, const TopKRemovalOptions& options, bool store,
                                             ProgressSink& progress, const CancelToken& cancel);

/// Retrains without each of `options.removed` and correlates every test point's loss change with
/// its scores; otherwise as runTopKCheck. `scores` (when not null) receives the scores used.
CheckOutcome<LooResult> runLeaveOneOutCheck(const std::string& path, const AttributionSession& session, double lambda,
                                            const LooOptions& options, bool store, ProgressSink& progress,
                                            const CancelToken& cancel, RowMatrixF* scores = nullptr);

} // namespace attri
