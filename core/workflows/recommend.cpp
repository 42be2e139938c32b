#include "workflows/recommend.h"

#include "attribution/attribution_session.h"
#include "common/error.h"
#include "eval/ground_truth.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "store/atomic_write.h"
#include "store/h5_file.h"

#include <memory>

namespace attri {

void RecommendRequest::validate() const
{
    parseMethod(method);
    if (k < 0)
        throw ConfigError("recommend: k must be positive (0: the largest stored), got " + std::to_string(k));
    if (bootstrapResamples < 10 || bootstrapResamples > 100000)
        throw ConfigError("recommend: --bootstrap takes 10 to 100000 resamples, got "
                          + std::to_string(bootstrapResamples));
    if (!pathFrom.empty() && selector.rule != SelectorRule::PathMatch && selector.rule != SelectorRule::PathOrPrior)
        throw ConfigError("recommend: --path-from is for the rules path-match and path-or-prior");
    grid.validate();
}

RecommendResult recommendWithEvidence(const std::string& path, const RecommendRequest& request,
                                      ProgressSink& progress, const CancelToken& cancel)
{
    request.validate();
    // Before opening the session, which for the unrolled method decomposes every checkpoint.
    if (!usesLambda(parseMethod(request.method)))
        throw ConfigError("method " + request.method + " has no λ to recommend");
    const auto session = AttributionSession::open(path, request.method, request.k, progress, cancel);
    return recommendWithEvidence(path, *session, request, progress, cancel);
}

RecommendResult recommendWithEvidence(const std::string& path, const AttributionSession& session,
                                      const RecommendRequest& request, ProgressSink& progress,
                                      const CancelToken& cancel)
{
    request.validate();
    if (!session.usesLambda())
        throw ConfigError("method " + toString(session.method()) + " has no λ to recommend");
    RecommendResult out;
    out.meanEigenvalue = session.meanEigenvalue();
    const SelectorOptions options = selectorOptionsFor(session, request.selector);
    SelectorInputs in = selectorInputs(session);
    const std::shared_ptr<TrainingPathFeatures> trainingPath = attachTrainingPathFor(
        request.selector.rule, request.pathFrom.empty() ? path : request.pathFrom, session, in, &out.noPathReason);
    const std::vector<double> lambdas = request.grid.toAbsolute(out.meanEigenvalue);
    out.recommendation = recommendLambda(in, lambdas, options, progress, cancel);
    notePathSource(trainingPath.get(), out.recommendation);
    out.record = recommendationRecord(session, out.recommendation);

    std::optional<GroundTruth> truth;
    {
        H5File file(path, H5File::Mode::ReadOnly);
        truth = readGroundTruth(file);
    }
    if (truth) {
        out.evidence = ldsEvidence(session, lambdas, out.recommendation.lambda, *truth, request.bootstrapResamples,
                                   progress, cancel);
        addEvidence(out.record, *out.evidence);
        out.truth = GroundTruthSummary{truth->subsets, truth->seconds};
    }
    if (request.store)
        writeHdf5Atomically(path, true, [&](H5File& file) { writeRecommendation(file, out.record); });
    return out;
}

SweepTable storeMeanXiTable(const std::string& path, const std::string& method, const LambdaGrid& grid,
                            const SelectorOptions& options, ProgressSink& progress, const CancelToken& cancel)
{
    SweepTable table = meanXiSweepTable(path, method, grid, options, progress, cancel);
    writeHdf5Atomically(path, true, [&](H5File& file) { writeSweepTable(file, table); });
    return table;
}

} // namespace attri
