#include "workflows/create_experiment.h"

#include "common/error.h"
#include "common/hash.h"
#include "features/featurizer.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "model/trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <tuple>

namespace attri {

namespace {

/// Observation marks along the training run for the Gauss–Newton path trace.
constexpr int kPathMarks = 8;

InputShape shapeOf(const ImageSet& set) { return {set.channels, set.height, set.width}; }

DataBundle loadFor(const DataOptions& options, ProgressSink& progress, const CancelToken& cancel)
{
    options.validate();
    progress.message("loading " + options.spec);
    DataBundle data = loadData(options);
    progress.message("data: " + std::to_string(data.train.count) + " train / " + std::to_string(data.test.count)
                     + " test images of " + std::to_string(data.train.channels) + "x" + std::to_string(data.train.height)
                     + "x" + std::to_string(data.train.width) + ", " + std::to_string(data.numClasses) + " classes");
    cancel.throwIfCancelled();
    return data;
}

} // namespace

ModelRecord trainExperiment(const std::string& path, const DataOptions& options, Architecture architecture,
                            const TrainRecipe& recipe, ProgressSink& progress, const CancelToken& cancel)
{
    if (path.empty())
        throw ConfigError("new experiment: no output file given");
    if (architecture == Architecture::TorchScript)
        throw ConfigError("new experiment: TorchScript models are imported, not trained from scratch");
    recipe.validate();
    DataBundle data = loadFor(options, progress, cancel);
    Model init = Model::create(architecture, shapeOf(data.train), data.numClasses, recipe.seed);
    // The Gauss–Newton trace along the run and at its end, for the λ selector's path factor.
    std::vector<double> pathTrace;
    TrainObserver observer;
    observer.marks = kPathMarks;
    observer.atMark = [&](const Model& model, int64_t, int64_t) {
        pathTrace.push_back(meanGaussNewtonTrace(model, data.train, kGradientNormSamples, cancel));
    };
    TrainResult result = trainModel(init, recipe, data.train, progress, cancel, &observer);
    ModelRecord record;
    record.architecture = architecture;
    record.input = shapeOf(data.train);
    record.numClasses = data.numClasses;
    record.recipe = recipe;
    record.checkpoints = result.checkpoints;
    record.epochLoss = result.epochLoss;
    record.pathGaussNewtonTrace = pathTrace;
    record.finalGaussNewtonTrace = meanGaussNewtonTrace(result.model, data.train, kGradientNormSamples, cancel);
    record.gradientMaxAbs = result.gradientMaxAbs;
    record.trainMetrics = evaluateModel(result.model, data.train);
    record.testMetrics = evaluateModel(result.model, data.test);
    record.trainSeconds = result.seconds;
    record.trainDevice = result.device;
    record.trainThreads = result.threads;
    record.parameterCount = result.model.parameterCount();
    cancel.throwIfCancelled();
    createExperimentFile(path, data, options, record);
    return record;
}

namespace {

/// The parameters and buffers of the archive at `path`, checked against `model`'s names and shapes.
std::pair<ParamSet, ParamSet> stateOf(const Model& model, const std::string& path, const std::string& what,
                                      const std::string& modulePath)
{
    const Model other = Model::importTorchScript(path);
    try {
        model.clone().setParameters(other.parameters(), other.buffers());
    } catch (const FormatError& e) {
        throw ConfigError(what + " " + path + " does not hold the parameters of " + modulePath + ": " + e.what());
    }
    return {other.parameters(), other.buffers()};
}

} // namespace

ModelRecord importExperiment(const std::string& path, const ImportSources& sources, const DataOptions& options,
                             const std::optional<TrainRecipe>& recipe, ProgressSink& progress,
                             const CancelToken& cancel)
{
    if (path.empty())
        throw ConfigError("import: no output file given");
    if (recipe)
        recipe->validate();
    if (!sources.checkpoints.empty() && !recipe)
        throw ConfigError("import: --checkpoint needs the run's recipe (--optimizer/--lr/--epochs/--batch-size), "
                          "which places the checkpoints on the run");
    const std::string& torchscriptPath = sources.torchscript;
    Model model = Model::importTorchScript(torchscriptPath);
    DataBundle data = loadFor(options, progress, cancel);
    model.checkCompatible(shapeOf(data.train), data.numClasses);
    ModelRecord record;
    record.architecture = Architecture::TorchScript;
    record.input = shapeOf(data.train);
    record.numClasses = data.numClasses;
    record.torchscriptPath = std::filesystem::absolute(torchscriptPath).string();
    record.torchscriptSha256 = sha256File(torchscriptPath);
    record.recipe = recipe;
    if (!sources.init.empty())
        std::tie(record.initialParams, record.initialBuffers) = stateOf(model, sources.init, "--init", torchscriptPath);
    const int64_t stepsPerEpoch =
        recipe ? (static_cast<int64_t>(data.train.count) + recipe->batchSize - 1) / recipe->batchSize : 0;
    double previous = 0.0;
    int64_t previousStep = 0;
    for (const ImportedCheckpoint& c : sources.checkpoints) {
        cancel.throwIfCancelled();
        if (!(c.epoch > previous) || !(c.epoch < static_cast<double>(recipe->epochs))) {
            // Named by file and epoch, whether it came from --checkpoint or a manifest.
            std::ostringstream msg;
            msg << "checkpoint " << c.path << " (epoch " << c.epoch
                << "): checkpoints go in training order, each after the one before (epoch " << previous
                << ") and before the recipe's end (epoch " << recipe->epochs << ", where " << torchscriptPath
                << " sits)";
            throw ConfigError(msg.str());
        }
        if (!(c.lr >= 0.0) || !std::isfinite(c.lr))
            throw ConfigError("--checkpoint " + c.path + ": lr must be a finite value >= 0");
        previous = c.epoch;
        Checkpoint checkpoint;
        std::tie(checkpoint.params, checkpoint.buffers) = stateOf(model, c.path, "--checkpoint", torchscriptPath);
        checkpoint.epoch = static_cast<int64_t>(std::floor(c.epoch));
        checkpoint.step = std::max<int64_t>(1, std::llround(c.epoch * static_cast<double>(stepsPerEpoch)));
        if (checkpoint.step <= previousStep || checkpoint.step >= recipe->epochs * stepsPerEpoch)
            throw ConfigError("--checkpoint " + c.path + ":epoch=" + std::to_string(c.epoch) + " falls on optimizer step "
                              + std::to_string(checkpoint.step) + " (of " + std::to_string(stepsPerEpoch)
                              + " per epoch), the step of the checkpoint before it or of the run's end");
        previousStep = checkpoint.step;
        // Unless given, the rate of the step that ended there (the schedule's, as trainModel records).
        checkpoint.lr = c.lr > 0.0 ? c.lr
                                   : recipe->lr * recipe->lrMultiplier(checkpoint.step - 1, stepsPerEpoch,
                                                                       recipe->epochs * stepsPerEpoch);
        record.checkpoints.push_back(std::move(checkpoint));
    }
    Checkpoint checkpoint;
    checkpoint.params = model.parameters();
    checkpoint.buffers = model.buffers();
    if (recipe) {
        // The archive is the end of the recorded recipe's run.
        checkpoint.epoch = recipe->epochs;
        checkpoint.step = recipe->epochs * stepsPerEpoch;
        checkpoint.lr = recipe->lr * recipe->lrMultiplier(checkpoint.step - 1, stepsPerEpoch, checkpoint.step);
    }
    record.checkpoints.push_back(std::move(checkpoint));
    record.trainMetrics = evaluateModel(model, data.train);
    record.testMetrics = evaluateModel(model, data.test);
    record.parameterCount = model.parameterCount();
    cancel.throwIfCancelled();
    createExperimentFile(path, data, options, record);
    return record;
}

} // namespace attri
