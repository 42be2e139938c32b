#include "workflows/check.h"

#include "attribution/attribution_session.h"
#include "common/error.h"
#include "data/data_loader.h"
#include "eval/retraining.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "store/atomic_write.h"
#include "store/h5_file.h"

#include <chrono>

namespace attri {

namespace {

/// The model to retrain and the setting a check records; ConfigError without a recipe.
CheckedSetting settingFor(const std::string& path, const AttributionSession& session, double lambda, int repeats)
{
    const ModelRecord& model = session.model();
    if (!model.recipe)
        throw ConfigError(path + ": the model has no training recipe, so it cannot be retrained for a check; import it "
                          "again with --optimizer/--lr/--momentum/--epochs/--batch-size/--weight-decay/--seed");
    CheckedSetting setting;
    setting.method = toString(session.method());
    setting.k = session.k();
    if (session.usesLambda())
        setting.lambda = lambda;
    setting.recipe = recipeSummary(*model.recipe);
    setting.repeats = repeats;
    return setting;
}

double since(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

CheckOutcome<TopKRemovalResult> runTopKCheck(const std::string& path, const AttributionSession& session,
                                             double lambda, const TopKRemovalOptions& options, bool store,
                                             ProgressSink& progress, const CancelToken& cancel)
{
    CheckOutcome<TopKRemovalResult> out;
    out.setting = settingFor(path, session, lambda, options.repeats);
    options.validate(session.trainCount(), session.testCount());
    const RowMatrixF scores = session.scores({}, lambda);
    const DataBundle data = reloadData(session.data());
    const ModelRecord& model = session.model();
    const auto start = std::chrono::steady_clock::now();
    out.result = topKRemovalCheck(rebuildModel(model), model.recipe, data.train, data.test, scores, options, progress,
                                  cancel);
    out.setting.seconds = since(start);
    if (store)
        writeHdf5Atomically(path, true,
                            [&](H5File& file) { out.group = writeTopKRemoval(file, out.setting, options, out.result); });
    return out;
}

CheckOutcome<LooResult> runLeaveOneOutCheck(const std::string& path, const AttributionSession& session, double lambda,
                                            const LooOptions& options, bool store, ProgressSink& progress,
                                            const CancelToken& cancel, RowMatrixF* scoresOut)
{
    CheckOutcome<LooResult> out;
    out.setting = settingFor(path, session, lambda, options.repeats);
    options.validate(session.trainCount());
    const RowMatrixF scores = session.scores({}, lambda);
    const DataBundle data = reloadData(session.data());
    const ModelRecord& model = session.model();
    const auto start = std::chrono::steady_clock::now();
    out.result = leaveOneOutCheck(rebuildModel(model), model.recipe, data.train, data.test, scores, options, progress,
                                  cancel);
    out.setting.seconds = since(start);
    if (store)
        writeHdf5Atomically(path, true, [&](H5File& file) { out.group = writeLeaveOneOut(file, out.setting, out.result); });
    if (scoresOut)
        *scoresOut = scores;
    return out;
}

} // namespace attri
