#include "tuning/sweep_tables.h"

#include "attribution/attribution_session.h"
#include "common/error.h"
#include "eval/ground_truth.h"
#include "eval/lds.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "store/experiment_file.h"
#include "store/h5_file.h"

#include <algorithm>
#include <cmath>

namespace attri {

SelectorInputs selectorInputs(const AttributionSession& session)
{
    if (!session.usesLambda())
        throw ConfigError("method " + toString(session.method()) + " has no λ to recommend");
    if (!session.model().recipe)
        throw ConfigError("the experiment has no training recipe (an imported model): the recommendation needs "
                          "the training dynamics; re-import with --optimizer/--lr/--epochs/--batch-size");
    SelectorInputs in;
    in.cache = session.caches().back();
    in.trainFeatures = &session.trainFeatures();
    in.testFeatures = &session.testFeatures();
    in.trainWeights = session.trainWeights();
    in.recipe = *session.model().recipe;
    // The final checkpoint's features, which the cache was built from.
    in.trainLoss = session.featureRecord().trainStats.loss;
    in.gradientSqNormMean = session.featureRecord().gradientSqNormMean;
    in.gradientNormSamples = session.featureRecord().gradientNormSamples;
    in.gradientDimension = session.featureRecord().fullDimension;
    in.pathTrace = session.model().pathGaussNewtonTrace;
    in.finalTrace = session.model().finalGaussNewtonTrace;
    in.gradientMaxAbs = session.model().gradientMaxAbs;
    // Only path-or-prior asks, and only with a path: timed there, as part of its cost.
    const int64_t subset = static_cast<int64_t>(std::floor(LdsOptions{}.alpha * static_cast<double>(session.trainCount())));
    ModelRecord model = session.model();
    if (model.checkpoints.size() > 1) // the final one is enough to rebuild the network
        model.checkpoints.erase(model.checkpoints.begin(), model.checkpoints.end() - 1);
    in.estimateRetrainSeconds = [record = std::move(model), subset](const CancelToken& cancel, std::string* how) {
        try {
            const double probed = probeRetrainSeconds(rebuildModel(record), *record.recipe, subset,
                                                      LdsOptions{}.subsets, RetrainPool{}, cancel);
            if (how)
                *how = "timed: a few optimizer steps of the model";
            return probed;
        } catch (const Cancelled&) {
            throw;
        } catch (const Error& e) {
            if (how)
                *how = std::string("from the recorded training time; the model's steps could not be timed: ") + e.what();
            return estimatedRetrainSeconds(record.trainSeconds, record.trainThreads);
        }
    };
    switch (session.method()) {
    case Method::Trak: in.curvature = SelectorCurvature::MarginFisher; break;
    case Method::InfluenceProjected: in.curvature = SelectorCurvature::LossFisher; break;
    default: in.curvature = SelectorCurvature::LossGaussNewton; break;
    }
    return in;
}

namespace {

/// The largest |a − b| over two parameter sets of the same layout, and the largest |b|; NaN when
/// the layouts differ.
std::pair<double, double> parameterDifference(const ParamSet& a, const ParamSet& b)
{
    if (a.size() != b.size())
        return {std::nan(""), 0.0};
    double diff = 0.0, scale = 0.0;
    for (size_t t = 0; t < a.size(); ++t) {
        if (a[t].name != b[t].name || a[t].values.size() != b[t].values.size())
            return {std::nan(""), 0.0};
        for (size_t i = 0; i < a[t].values.size(); ++i) {
            diff = std::max(diff, std::abs(static_cast<double>(a[t].values[i]) - b[t].values[i]));
            scale = std::max(scale, std::abs(static_cast<double>(b[t].values[i])));
        }
    }
    return {diff, scale};
}

} // namespace

std::shared_ptr<TrainingPathFeatures> attachTrainingPath(const std::string& experimentPath,
                                                         const AttributionSession& session, SelectorInputs& in)
{
    const int64_t k = session.k();
    H5File file(experimentPath, H5File::Mode::ReadOnly);
    checkExperimentFile(file);
    const ModelRecord run = readModelRecord(file);
    const DataRecord data = readDataRecord(file);
    const auto& checkpoints = run.checkpoints;
    const int64_t count = static_cast<int64_t>(checkpoints.size());
    const std::string how = " (train with --checkpoints C, then run attribute --method tracin --k K, or --method "
                            "trak --k K, with K >= " + std::to_string(k) + ")";
    if (count < 1)
        throw ConfigError(experimentPath + ": the model has no checkpoints: the rule path-match needs the training path"
                          + how);
    if (!run.recipe)
        throw ConfigError(experimentPath + ": the model's training recipe is not recorded (an import without "
                          "--recipe), so its checkpoints have no place on a training run: the path rules need one");
    if (data.trainIndices != session.data().trainIndices || data.testIndices != session.data().testIndices
        || data.options.spec != session.data().options.spec)
        throw ConfigError(experimentPath + ": its training or test points are not the experiment's, so its "
                          "checkpoints are not this model's training path");
    const auto [diff, scale] = parameterDifference(checkpoints.back().params, session.model().checkpoints.back().params);
    if (!(diff <= 1e-6 * scale))
        throw ConfigError(experimentPath + ": its final parameters are not the experiment's model's (largest "
                          "difference " + std::to_string(diff) + " against values up to " + std::to_string(scale)
                          + "), so its checkpoints are not this model's training path; retrain it with the same "
                          "recipe and seed");
    const std::vector<FeatureRecord> records = listFeatureRecords(file);
    const FeatureRecord& own = session.featureRecord();
    // Candidate sets: features of one (target, projection, seed, layers, dimension) at every
    // checkpoint; the session's own projection preferred, then the smallest dimension.
    auto findSet = [&](FeatureTarget target) {
        const FeatureRecord* chosen = nullptr;
        std::vector<const FeatureRecord*> chosenSet;
        for (const FeatureRecord& first : records) {
            if (first.target != target || first.checkpoint != 0 || first.dimension < k)
                continue;
            std::vector<const FeatureRecord*> set(static_cast<size_t>(count), nullptr);
            for (const FeatureRecord& r : records)
                if (r.target == target && r.projection == first.projection && r.seed == first.seed
                    && r.layers == first.layers && r.dimension == first.dimension && r.checkpoint >= 0
                    && r.checkpoint < count)
                    set[static_cast<size_t>(r.checkpoint)] = &r;
            if (std::find(set.begin(), set.end(), nullptr) != set.end())
                continue;
            const bool sameProjection = first.projection == own.projection && first.seed == own.seed;
            const bool chosenSame = chosen && chosen->projection == own.projection && chosen->seed == own.seed;
            if (!chosen || (sameProjection && !chosenSame)
                || (sameProjection == chosenSame && first.dimension < chosen->dimension)) {
                chosen = &first;
                chosenSet = set;
            }
        }
        return chosenSet;
    };
    // The loss-gradient features TracIn stores; else TRAK's margin features at every checkpoint
    // (TRAK averages a file's checkpoints), turned into loss gradients: for the cross-entropy,
    // ∇ℓ = −(1 − p)∇f with f = log(p/(1 − p)), and projections are linear.
    std::vector<const FeatureRecord*> chosenSet = findSet(FeatureTarget::Loss);
    const bool fromMargin = chosenSet.empty();
    if (fromMargin)
        chosenSet = findSet(FeatureTarget::Margin);
    if (chosenSet.empty())
        throw ConfigError(experimentPath + ": no loss-gradient (or TRAK margin) features of dimension >= "
                          + std::to_string(k) + " at all " + std::to_string(count)
                          + " checkpoints of the model: the rule path-match needs them" + how);
    // Row i times −(1 − p_i), p_i = exp(−ℓ_i) (1 − p from expm1: accurate near p = 1). The
    // gradient norm behind the feature scale c is rescaled alike over the rows it covers, so that
    // c stays the projection's measured scale.
    auto toLoss = [](RowMatrixF& phi, const std::vector<float>& loss, double& gradientSqNormMean, int64_t samples) {
        double before = 0.0, after = 0.0;
        for (Eigen::Index i = 0; i < phi.rows(); ++i) {
            const double q = -std::expm1(-static_cast<double>(loss[static_cast<size_t>(i)]));
            const double sq = static_cast<double>(phi.row(i).squaredNorm());
            phi.row(i) *= static_cast<float>(-q);
            if (i < samples) {
                before += sq;
                after += q * q * sq;
            }
        }
        if (before > 0)
            gradientSqNormMean *= after / before;
    };
    auto path = std::make_shared<TrainingPathFeatures>();
    in.path.clear();
    const int64_t batch = run.recipe ? run.recipe->batchSize : 0;
    const int64_t stepsPerEpoch = batch > 0 ? (session.trainCount() + batch - 1) / batch : 0;
    double previousEpoch = 0.0;
    path->fromMargin = fromMargin;
    for (int64_t c = 0; c < count; ++c) {
        const FeatureRecord& r = *chosenSet[static_cast<size_t>(c)];
        PathSegment segment = pathSegmentAt(experimentPath, r, checkpoints[static_cast<size_t>(c)], stepsPerEpoch,
                                            session.trainCount(), previousEpoch);
        path->train.push_back(readFeatures(file, r.key, "train", k));
        if (fromMargin)
            toLoss(path->train.back(), r.trainStats.loss, segment.gradientSqNormMean, r.gradientNormSamples);
        in.path.push_back(std::move(segment));
    }
    path->test = readFeatures(file, chosenSet.back()->key, "test", k);
    if (fromMargin) {
        const FeatureRecord& last = *chosenSet.back();
        if (static_cast<int64_t>(last.testStats.loss.size()) != path->test.rows())
            throw ConfigError(experimentPath + ": features " + last.key + " lack the test points' losses");
        double unused = 0.0;
        toLoss(path->test, last.testStats.loss, unused, 0);
    }
    for (size_t c = 0; c < in.path.size(); ++c)
        in.path[c].trainFeatures = &path->train[c];
    in.pathTestFeatures = &path->test;
    return path;
}

std::shared_ptr<TrainingPathFeatures> attachTrainingPathFor(SelectorRule rule, const std::string& pathFile,
                                                            const AttributionSession& session, SelectorInputs& in,
                                                            std::string* note)
{
    if (rule == SelectorRule::PathMatch)
        return attachTrainingPath(pathFile, session, in);
    if (rule != SelectorRule::PathOrPrior)
        return nullptr;
    if (usesFullGradients(session.method())) {
        if (note)
            *note = toString(session.method()) + " works on unprojected gradients: no training path applies";
        return nullptr;
    }
    try {
        return attachTrainingPath(pathFile, session, in);
    } catch (const Error& e) { // no usable path (missing, not recorded, inconsistent): the prior answers
        if (dynamic_cast<const Cancelled*>(&e) || dynamic_cast<const DamagedDataError*>(&e))
            throw; // a damaged file is reported, never answered around
        in.path.clear();
        in.pathTestFeatures = nullptr;
        if (note)
            *note = e.what();
        return nullptr;
    }
}

void notePathSource(const TrainingPathFeatures* path, LambdaRecommendation& rec)
{
    if (path && path->fromMargin && rec.pathUsed)
        rec.inputs += "; the checkpoints' features are TRAK's margin features times -(1 - p), as loss gradients";
}

SelectorOptions selectorOptionsFor(const AttributionSession& session, SelectorOptions options)
{
    if (usesFullGradients(session.method()))
        options.scale = 1.0;
    return options;
}

LdsEvidence ldsEvidence(const AttributionSession& session, const std::vector<double>& grid, double lambda,
                        const GroundTruth& truth, int resamples, ProgressSink& progress, const CancelToken& cancel)
{
    if (grid.empty())
        throw ConfigError("LDS evidence: the λ grid is empty");
    return ldsEvidence(GroupScores(session, ldsMaskMatrix(truth)), grid, lambda, truth, resamples, progress, cancel);
}

LdsEvidence ldsEvidence(const GroupScores& subsetSums, const std::vector<double>& grid, double lambda,
                        const GroundTruth& truth, int resamples, ProgressSink& progress, const CancelToken& cancel)
{
    if (grid.empty())
        throw ConfigError("LDS evidence: the λ grid is empty");
    LdsEvidence e;
    RowMatrixF& bestSums = e.bestSums;
    progress.begin("LDS at every grid λ", static_cast<int64_t>(grid.size()));
    const LdsTargets targets(truth);
    for (size_t g = 0; g < grid.size(); ++g) {
        cancel.throwIfCancelled();
        RowMatrixF sums = subsetSums.at(grid[g]);
        const double v = ldsFromSubsetSums(sums, targets).mean;
        e.gridLds.push_back(v);
        if (std::isfinite(v) && (!std::isfinite(e.bestLds) || v > e.bestLds)) {
            e.bestLds = v;
            e.bestLambda = grid[g];
            bestSums = std::move(sums);
        }
        progress.advance(static_cast<int64_t>(g) + 1);
    }
    const RowMatrixF sums = subsetSums.at(lambda);
    e.atLambda = ldsFromSubsetSums(sums, targets);
    e.ratio = e.bestLds > 0 ? e.atLambda.mean / e.bestLds : std::numeric_limits<double>::quiet_NaN();
    if (std::isfinite(e.bestLds)) {
        progress.message("bootstrapping the ratio's ground-truth noise (" + std::to_string(resamples) + " resamples)");
        e.interval = bootstrapLdsRatio(sums, bestSums, truth, cancel, resamples);
    } else {
        e.interval.low = e.interval.high = e.interval.shareAbove = std::numeric_limits<double>::quiet_NaN();
    }
    return e;
}

void addEvidence(RecommendationRecord& record, const LdsEvidence& evidence)
{
    record.ldsAtRecommended = evidence.atLambda.mean;
    record.ldsGridBest = evidence.bestLds;
    record.lambdaGridBest = evidence.bestLambda;
    record.ldsRatioLow = evidence.interval.low;
    record.ldsRatioHigh = evidence.interval.high;
}

RecommendationRecord recommendationRecord(const AttributionSession& session, const LambdaRecommendation& rec)
{
    RecommendationRecord record;
    record.method = toString(session.method());
    record.k = session.k();
    record.rule = toString(rec.rule);
    record.lambda = rec.lambda;
    record.relativeLambda = rec.relativeLambda;
    record.convention = toString(session.caches().back()->convention());
    record.inputs = rec.inputs;
    record.reason = rec.reason;
    record.priorStepSize = rec.priorStepSize;
    record.priorSteps = rec.priorSteps;
    record.priorWeightDecay = rec.priorWeightDecay;
    record.seconds = rec.seconds;
    record.peakedness = rec.peakedness;
    record.featureScale = rec.featureScale;
    record.curvatureRatio = rec.curvatureRatio;
    record.pathFactor = rec.pathFactor;
    record.pathStability = rec.pathStability;
    record.lambdas = rec.lambdas;
    record.meanXi.assign(rec.meanXi.data(), rec.meanXi.data() + rec.meanXi.size());
    return record;
}

std::vector<int64_t> tableKs(const AttributionSession& probe)
{
    // λ-free methods score at the largest k only, except the unrolled method, whose curvature (and so
    // whose scores) change with k as IF's do.
    const bool perK = probe.usesLambda() || probe.method() == Method::Unrolled;
    if (!perK || usesFullGradients(probe.method()) || probe.availableKs().empty())
        return {probe.k()};
    return probe.availableKs();
}

namespace {

/// A table of `quantity` over `grid` × the method's stored k, filled column by column by
/// `column(session, absolute λ grid, column of values)`.
template <typename Column>
SweepTable sweepTable(const std::string& path, const std::string& method, const std::string& quantity,
                      const LambdaGrid& grid, ProgressSink& progress, const CancelToken& cancel, Column column)
{
    grid.validate();
    if (!grid.relative)
        throw ConfigError("a λ × k table needs a relative λ grid (multiples of each k's mean eigenvalue)");
    auto probe = AttributionSession::open(path, method, 0, progress, cancel);
    const std::vector<int64_t> ks = tableKs(*probe);
    SweepTable table;
    table.method = toString(probe->method()); // the stored name ("if" resolves to if-explicit/-projected)
    table.quantity = quantity;
    table.relativeLambdas = grid.values;
    table.ks = ks;
    const auto rows = static_cast<Eigen::Index>(grid.values.size());
    table.values.resize(rows, static_cast<Eigen::Index>(ks.size()));
    table.absoluteLambdas.resizeLike(table.values);
    for (size_t c = 0; c < ks.size(); ++c) {
        cancel.throwIfCancelled();
        auto session = ks[c] == probe->k() ? probe : AttributionSession::open(path, method, ks[c], progress, cancel);
        const std::vector<double> lambdas = grid.toAbsolute(session->meanEigenvalue());
        const auto col = static_cast<Eigen::Index>(c);
        for (Eigen::Index g = 0; g < rows; ++g)
            table.absoluteLambdas(g, col) = session->usesLambda() ? lambdas[static_cast<size_t>(g)] : std::nan("");
        column(*session, lambdas, table.values.col(col));
    }
    return table;
}

} // namespace

SweepTable ldsSweepTable(const std::string& path, const std::string& method, const GroundTruth& truth,
                         const LambdaGrid& grid, ProgressSink& progress, const CancelToken& cancel)
{
    return sweepTable(path, method, "lds", grid, progress, cancel,
                      [&](const AttributionSession& session, const std::vector<double>& lambdas, auto values) {
                          progress.begin("LDS " + method + " k " + std::to_string(session.k()),
                                         static_cast<int64_t>(lambdas.size()));
                          if (!session.usesLambda()) {
                              values.setConstant(computeLds(session.scores({}, 1.0), truth).mean);
                              return;
                          }
                          const GroupScores subsetSums(session, ldsMaskMatrix(truth));
                          const LdsTargets targets(truth);
                          for (size_t g = 0; g < lambdas.size(); ++g) {
                              cancel.throwIfCancelled();
                              values(static_cast<Eigen::Index>(g)) =
                                  ldsFromSubsetSums(subsetSums.at(lambdas[g]), targets).mean;
                              progress.advance(static_cast<int64_t>(g) + 1);
                          }
                      });
}

SweepTable meanXiSweepTable(const std::string& path, const std::string& method, const LambdaGrid& grid,
                            const SelectorOptions& options, ProgressSink& progress, const CancelToken& cancel)
{
    return sweepTable(path, method, "mean_xi", grid, progress, cancel,
                      [&](const AttributionSession& session, const std::vector<double>& lambdas, auto values) {
                          SelectorOptions so = selectorOptionsFor(session, options);
                          so.rule = SelectorRule::SimulatedSgd;
                          const LambdaRecommendation rec =
                              recommendLambda(selectorInputs(session), lambdas, so, progress, cancel);
                          if (rec.meanXi.size() != values.size())
                              throw Error("the simulated-sgd rule returned " + std::to_string(rec.meanXi.size())
                                          + " ξ values for a grid of " + std::to_string(values.size()));
                          values = rec.meanXi;
                      });
}

} // namespace attri
