#include "tuning/private/selector_rules.h"

#include "common/error.h"
#include "eval/subset_sampler.h"
#include "jobs/cancel_token.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <optional>
#include <sstream>

namespace attri {

std::string PathFallback::describe() const
{
    std::ostringstream text;
    switch (reason) {
    case Reason::NoPath:
        return "no recorded training path";
    case Reason::OneCheckpoint:
        return "one checkpoint is no training path (train with --checkpoints C, or import with --checkpoint)";
    case Reason::ZeroBudget:
        return "the path budget is 0";
    case Reason::BrokenCheckpoint:
        return detail;
    case Reason::NoStabilityClaim:
        return "no stability limit is claimed for " + detail;
    case Reason::Converged:
        return "trained to convergence (lbfgs): no training dynamics to unroll";
    case Reason::VaryingRate:
        return "the path rules unroll a constant learning rate; this run's is " + detail;
    case Reason::Unstable:
        text << "the recorded run steps beyond gradient descent's stability limit ("
             << (stabilityIsLowerBound ? "at least " : "") << stability << " of it)";
        return text.str();
    case Reason::OverBudget: {
        const char* about = projectedIsLowerBound ? "more than " : "about ";
        text << "unrolling the training path would take " << about << std::setprecision(3) << projectedSeconds
             << " s, over its budget of " << limitSeconds << " s: " << budgetShare << " of the estimated "
             << retrainSeconds << " s of retraining " << LdsOptions{}.subsets << " models (" << retrainEstimate
             << "); --path-budget sets it";
        // The share this path would need, rounded up to two digits (a projection: timing varies;
        // "more than" where it stopped before timing any eigendecomposition).
        const double need = projectedSeconds / retrainSeconds;
        if (need > 0 && std::isfinite(need)) {
            const double digit = std::pow(10.0, std::floor(std::log10(need)) - 1.0);
            text << " (this path projects to " << about << std::setprecision(2) << std::ceil(need / digit) * digit
                 << " of the retraining)";
        }
        return text.str();
    }
    }
    return {};
}

// path-match where the experiment records a training path that gradient descent follows stably
// (LambdaRecommendation::pathStability ≤ 1), the dynamics prior otherwise. One checkpoint is no
// path (the final model held for the whole run, which misses where the path passes:
// docs/lambda-selection.md, "frozen match"). The path may take o.pathBudget of the retraining it
// replaces (unlimited when that is unknown); past it, the prior. Timed from `start`: the stability
// bound and the retraining estimate count against it.
void recommendByPathOrPrior(const SelectorInputs& in, const SelectorOptions& o, LambdaRecommendation& rec,
                            ProgressSink& progress, const CancelToken& cancel,
                            std::chrono::steady_clock::time_point start)
{
    const SpectralCache& cache = *in.cache;
    const int64_t n = in.trainFeatures->rows(), k = in.trainFeatures->cols();
    PathTimeLimit limit;
    limit.start = start;
    // What path-match does after the build and after the scores, as multiples of their time
    // (docs/lambda-selection.md, "Its budget").
    limit.afterBuild = 1.0;
    limit.afterScores = 1.0;
    double retrain = in.retrainSeconds;
    std::string how = std::isfinite(retrain) ? "given" : "unknown";
    auto setBudget = [&] {
        if (o.pathBudget == 0.0)
            limit.seconds = 0.0; // whatever the retraining costs
        else if (std::isfinite(o.pathBudget) && std::isfinite(retrain))
            limit.seconds = o.pathBudget * retrain;
        rec.pathBudgetSeconds = std::isfinite(limit.seconds) ? limit.seconds : std::nan("");
        rec.retrainSeconds = retrain;
        rec.retrainEstimate = how;
    };
    PathFallback fallback;
    fallback.reason = in.path.empty() ? PathFallback::Reason::NoPath : PathFallback::Reason::OneCheckpoint;
    if (in.recipe.converged()) {
        // Whatever its checkpoints, a converged run is described by its objective, not its path.
        fallback.reason = PathFallback::Reason::Converged;
        fallback.detail = in.recipe.optimizer;
    } else if (in.path.size() >= 2 && !in.recipe.constantRate()) {
        fallback.reason = PathFallback::Reason::VaryingRate;
        fallback.detail = in.recipe.scheduleText();
    } else if (in.path.size() >= 2 && o.pathBudget == 0.0) {
        setBudget();
        fallback.reason = PathFallback::Reason::ZeroBudget;
    } else if (in.path.size() >= 2) {
        // A run past the limit is seen from a lower bound, before any segment's
        // eigendecomposition (most of path-match's cost); path-match's own figure decides the rest.
        checkPath(in, n, k, std::min<int64_t>(o.maxTests, cache.testCount()));
        // A checkpoint with non-finite features has no curvature: the prior, saying so.
        std::optional<std::string> broken;
        double bound = std::numeric_limits<double>::quiet_NaN();
        try {
            bound = pathStabilityLowerBound(in, n, k, 1.0);
        } catch (const DamagedDataError&) {
            throw;
        } catch (const FormatError& e) {
            broken = e.what();
        }
        const bool past = bound > 1.0 || broken.has_value();
        // The retraining is estimated only for a path that may be unrolled.
        if (!past && !std::isfinite(retrain) && in.estimateRetrainSeconds && std::isfinite(o.pathBudget))
            retrain = in.estimateRetrainSeconds(cancel, &how);
        setBudget();
        LambdaRecommendation matched = rec;
        std::optional<PathBudgetExceeded> over;
        if (past) {
            matched.pathStability = bound;
        } else {
            try {
                recommendByPathMatch(in, o, matched, progress, cancel, limit);
            } catch (const PathBudgetExceeded& e) {
                over.emplace(e);
            } catch (const DamagedDataError&) {
                throw;
            } catch (const FormatError& e) {
                broken = e.what();
            }
        }
        if (!past && !over && !broken && matched.pathStability <= 1.0) {
            matched.inputs = "path-match: " + matched.inputs;
            matched.rule = SelectorRule::PathOrPrior;
            matched.seconds = 0.0;
            matched.pathBudgetSeconds = rec.pathBudgetSeconds;
            matched.retrainSeconds = rec.retrainSeconds;
            matched.retrainEstimate = rec.retrainEstimate;
            rec = std::move(matched);
            return;
        }
        if (broken) {
            fallback.reason = PathFallback::Reason::BrokenCheckpoint;
            fallback.detail = *broken;
        } else if (over) {
            fallback.reason = PathFallback::Reason::OverBudget;
            fallback.projectedSeconds = over->projectedSeconds();
            fallback.projectedIsLowerBound = over->lowerBound();
            fallback.limitSeconds = over->limitSeconds();
            fallback.budgetShare = o.pathBudget;
            fallback.retrainSeconds = retrain;
            fallback.retrainEstimate = how;
        } else {
            rec.pathStability = matched.pathStability;
            if (std::isfinite(matched.pathStability)) {
                fallback.reason = PathFallback::Reason::Unstable;
                fallback.stability = matched.pathStability;
                fallback.stabilityIsLowerBound = past;
            } else {
                fallback.reason = PathFallback::Reason::NoStabilityClaim;
                fallback.detail = in.recipe.optimizer;
            }
        }
    }
    recommendByDynamicsPrior(in, o, true, rec);
    rec.inputs = std::string(in.recipe.converged() ? "converged prior (" : "dynamics-prior (") + fallback.describe()
                 + "): " + rec.inputs;
    rec.pathFallback = fallback;
}

} // namespace attri
