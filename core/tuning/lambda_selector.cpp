#include "tuning/lambda_selector.h"

#include "tuning/private/selector_rules.h"

#include "common/error.h"
#include "eval/subset_sampler.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <thread>

namespace attri {

int64_t subsetSteps(const TrainRecipe& r, int64_t subsetSize)
{
    return r.epochs * ((subsetSize + r.batchSize - 1) / r.batchSize);
}

double conventionFactor(const SpectralCache& cache, int64_t n)
{
    return cache.convention() == CurvatureConvention::Sum ? static_cast<double>(n) : 1.0;
}

void summarizeCurve(LambdaRecommendation& rec)
{
    const Eigen::Index g = rec.meanXi.size();
    if (g == 0)
        return;
    Eigen::Index best = 0;
    for (Eigen::Index j = 1; j < g; ++j)
        if (rec.meanXi[j] > rec.meanXi[best])
            best = j;
    rec.gridIndex = best;
    rec.lambda = rec.lambdas[static_cast<size_t>(best)];
    std::vector<double> sorted(rec.meanXi.data(), rec.meanXi.data() + g);
    std::sort(sorted.begin(), sorted.end());
    rec.peakedness = rec.meanXi[best] - sorted[sorted.size() / 2];
    Eigen::Index lo = best, hi = best;
    while (lo > 0 && rec.meanXi[lo - 1] >= rec.meanXi[best] - 0.01)
        --lo;
    while (hi + 1 < g && rec.meanXi[hi + 1] >= rec.meanXi[best] - 0.01)
        ++hi;
    rec.plateauWidthDecades = std::log10(rec.lambdas[static_cast<size_t>(hi)] / rec.lambdas[static_cast<size_t>(lo)]);
}

std::string toString(SelectorRule rule)
{
    switch (rule) {
    case SelectorRule::SimulatedSgd: return "simulated-sgd";
    case SelectorRule::DynamicsPrior: return "dynamics-prior";
    case SelectorRule::DynamicsPriorUncalibrated: return "dynamics-prior-uncalibrated";
    case SelectorRule::EffectiveDimension: return "effective-dimension";
    case SelectorRule::StabilityPlateau: return "stability-plateau";
    case SelectorRule::FixedRelative: return "fixed-0.1-mean-eig";
    case SelectorRule::FixedAbsolute: return "fixed-1e-3";
    case SelectorRule::PathMatch: return "path-match";
    case SelectorRule::PathOrPrior: return "path-or-prior";
    }
    return "?";
}

std::vector<SelectorRule> allSelectorRules()
{
    return {SelectorRule::PathOrPrior,        SelectorRule::DynamicsPrior,    SelectorRule::DynamicsPriorUncalibrated,
            SelectorRule::SimulatedSgd,       SelectorRule::EffectiveDimension, SelectorRule::StabilityPlateau,
            SelectorRule::FixedRelative,      SelectorRule::FixedAbsolute};
}

std::vector<SelectorRule> selectableSelectorRules()
{
    std::vector<SelectorRule> rules = allSelectorRules();
    rules.push_back(SelectorRule::PathMatch);
    return rules;
}

SelectorRule parseSelectorRule(const std::string& name)
{
    std::string valid;
    for (auto r : selectableSelectorRules()) {
        if (toString(r) == name)
            return r;
        valid += (valid.empty() ? "" : ", ") + toString(r);
    }
    throw ConfigError("unknown selector rule '" + name + "' (expected one of: " + valid + ")");
}

void SelectorOptions::validate() const
{
    if (simulatedSubsets < 4)
        throw ConfigError("selector: simulatedSubsets must be at least 4, got " + std::to_string(simulatedSubsets));
    if (!(alpha > 0.0 && alpha < 1.0))
        throw ConfigError("selector: alpha must lie in (0, 1), got " + std::to_string(alpha));
    if (!(stabilityThreshold > 0.0 && stabilityThreshold <= 1.0))
        throw ConfigError("selector: stabilityThreshold must lie in (0, 1]");
    if (maxTests < 1)
        throw ConfigError("selector: maxTests must be positive");
    if (!std::isfinite(scale))
        throw ConfigError("selector: scale must be finite");
    if (!(pathBudget >= 0.0))
        throw ConfigError("selector: the path budget must be a share >= 0 (or infinite), got " + std::to_string(pathBudget));
}

double estimatedRetrainSeconds(double trainSeconds, int64_t trainThreads)
{
    if (!(trainSeconds > 0.0) || !std::isfinite(trainSeconds))
        return std::numeric_limits<double>::quiet_NaN();
    const int64_t threads =
        trainThreads > 0 ? trainThreads : std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
    const LdsOptions lds;
    return static_cast<double>(lds.subsets) * lds.alpha * trainSeconds * std::sqrt(static_cast<double>(threads))
           / static_cast<double>(lds.workers);
}

namespace {

std::string fallbackInWords(const PathFallback& f)
{
    std::ostringstream text;
    switch (f.reason) {
    case PathFallback::Reason::NoPath:
        return "the experiment records no training path (train or import with checkpoints, then attribute them "
               "with TracIn)";
    case PathFallback::Reason::OneCheckpoint:
        return "one checkpoint is no training path (train with --checkpoints C, or import with --checkpoint)";
    case PathFallback::Reason::ZeroBudget:
        return "the path budget is 0";
    case PathFallback::Reason::BrokenCheckpoint:
        return "a checkpoint's features cannot be used (" + f.detail + ")";
    case PathFallback::Reason::NoStabilityClaim:
        return "no stability limit is known for the optimizer " + f.detail;
    case PathFallback::Reason::VaryingRate:
        return "the path rules unroll a constant learning rate, and this run follows the " + f.detail
               + " schedule";
    case PathFallback::Reason::Converged:
        return "the model was trained to convergence (full-batch L-BFGS), which leaves no training dynamics to "
               "unroll: it minimises the loss plus its weight decay";
    case PathFallback::Reason::Unstable:
        return "the recorded run steps beyond gradient descent's stability limit, where the unrolled path does "
               "not describe it";
    case PathFallback::Reason::OverBudget:
        text << "unrolling the training path would take " << (f.projectedIsLowerBound ? "more than " : "about ")
             << std::setprecision(2) << f.projectedSeconds << " s, over its budget of " << f.limitSeconds << " s ("
             << 100.0 * f.budgetShare << "% of the retraining it replaces)";
        return text.str();
    }
    return {};
}

} // namespace

std::string recommendationReason(const LambdaRecommendation& rec)
{
    const std::string prior = "the ridge that the recipe's early-stopped training imitates, 1/(η_eff·T) + weight "
                              "decay, carried into the method's units";
    const std::string converged = "the damping of the objective that training minimised: its weight decay (or, "
                                  "without one or short of convergence, the curvature that its iterations "
                                  "resolve), carried into the method's units";
    const bool convergedPrior = std::isnan(rec.priorStepSize) && std::isfinite(rec.priorWeightDecay);
    std::ostringstream text;
    switch (rec.rule) {
    case SelectorRule::PathOrPrior:
        if (rec.pathUsed) {
            text << "It followed the recorded training path: gradient descent is stable on it";
            if (std::isfinite(rec.pathStability))
                text << " (its step is " << std::setprecision(2) << rec.pathStability << " of the limit)";
            text << " and unrolling it fit the time budget, so λ is the one whose scores best match the influence "
                    "unrolled along the run.";
        } else if (rec.pathFallback && rec.pathFallback->reason == PathFallback::Reason::Converged) {
            text << "It took the prior for converged training, " << converged << ", because "
                 << fallbackInWords(*rec.pathFallback) << ".";
        } else {
            text << "It took the dynamics prior, " << prior;
            if (rec.pathFallback)
                text << ", because " << fallbackInWords(*rec.pathFallback);
            text << ".";
        }
        return text.str();
    case SelectorRule::DynamicsPrior:
        return convergedPrior ? "The prior for converged training: " + converged + "."
                              : "The dynamics prior: " + prior + ".";
    case SelectorRule::DynamicsPriorUncalibrated:
        return "The dynamics prior without calibration (feature scale k, no curvature or path factor).";
    case SelectorRule::PathMatch:
        text << "The λ whose scores best match the influence unrolled along the recorded checkpoints.";
        if (rec.pathStability > 1.0)
            text << " The run steps beyond gradient descent's stability limit (" << std::setprecision(2)
                 << rec.pathStability << " of it), so the match is not to be trusted.";
        return text.str();
    case SelectorRule::SimulatedSgd:
        return "The peak of mean ξ: the λ whose scores best predict the outcomes of data subsets simulated with the "
               "recipe's optimizer in feature space.";
    case SelectorRule::EffectiveDimension:
        return "The λ at which the curvature's effective dimension is half of the smaller of the subset size and k.";
    case SelectorRule::StabilityPlateau:
        return "The smallest λ whose ranking agrees with the next λ's.";
    case SelectorRule::FixedRelative:
        return "A fixed baseline: 0.1 × the mean eigenvalue.";
    case SelectorRule::FixedAbsolute:
        return "A fixed baseline: λ = 1e-3.";
    }
    return {};
}

LambdaRecommendation recommendLambda(const SelectorInputs& in, const std::vector<double>& grid,
                                     const SelectorOptions& o, ProgressSink& progress, const CancelToken& cancel)
{
    o.validate();
    in.recipe.validate();
    if (!in.cache || !in.trainFeatures || !in.testFeatures)
        throw ConfigError("selector: cache and features are required");
    if (grid.empty())
        throw ConfigError("selector: the λ grid is empty");
    for (double l : grid)
        if (!(l > 0.0) || !std::isfinite(l))
            throw ConfigError("selector: every λ of the grid must be positive and finite");
    if (in.trainFeatures->cols() != in.cache->dimension() || in.testFeatures->cols() != in.cache->dimension())
        throw ConfigError("selector: feature dimension does not match the spectrum");
    if (in.trainFeatures->rows() != in.cache->trainCount())
        throw ConfigError("selector: training features do not match the spectrum's training points");

    const auto t0 = std::chrono::steady_clock::now();
    const SpectralCache& cache = *in.cache;
    const double meanEig = cache.meanEigenvalue();
    LambdaRecommendation rec;
    rec.rule = o.rule;
    rec.lambdas = grid;
    for (double l : grid)
        rec.relativeLambdas.push_back(meanEig > 0 ? l / meanEig : std::nan(""));

    rec.featureScale = selectorFeatureScale(in, o);
    switch (o.rule) {
    case SelectorRule::SimulatedSgd:
        recommendBySimulation(in, o, rec, progress, cancel);
        break;
    case SelectorRule::DynamicsPrior:
    case SelectorRule::DynamicsPriorUncalibrated:
        recommendByDynamicsPrior(in, o, o.rule == SelectorRule::DynamicsPrior, rec);
        break;
    case SelectorRule::PathOrPrior:
        recommendByPathOrPrior(in, o, rec, progress, cancel, t0);
        break;
    case SelectorRule::EffectiveDimension:
        recommendByEffectiveDimension(in, o, rec);
        break;
    case SelectorRule::StabilityPlateau:
        recommendByStability(in, o, rec, progress, cancel);
        break;
    case SelectorRule::PathMatch:
        recommendByPathMatch(in, o, rec, progress, cancel);
        break;
    case SelectorRule::FixedRelative:
        rec.lambda = 0.1 * meanEig;
        rec.inputs = "0.1 x mean eigenvalue";
        break;
    case SelectorRule::FixedAbsolute:
        rec.lambda = 1e-3;
        rec.inputs = "lambda = 1e-3 (absolute)";
        break;
    }
    if (!(rec.lambda > 0.0) || !std::isfinite(rec.lambda))
        rec.lambda = grid.front();
    rec.relativeLambda = meanEig > 0 ? rec.lambda / meanEig : std::nan("");
    rec.reason = recommendationReason(rec);
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rec;
}

} // namespace attri
