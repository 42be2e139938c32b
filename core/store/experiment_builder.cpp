#include "store/experiment_builder.h"

#include "common/error.h"
#include "common/hash.h"
#include "features/featurizer.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "model/trainer.h"

#include <filesystem>

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

ModelRecord importExperiment(const std::string& path, const std::string& torchscriptPath, const DataOptions& options,
                             const std::optional<TrainRecipe>& recipe, ProgressSink& progress,
                             const CancelToken& cancel, const std::string& initPath)
{
    if (path.empty())
        throw ConfigError("import: no output file given");
    if (recipe)
        recipe->validate();
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
    if (!initPath.empty()) {
        const Model init = Model::importTorchScript(initPath);
        try {
            model.setInitialState(init.parameters(), init.buffers());
        } catch (const FormatError& e) {
            throw ConfigError("--init " + initPath + " does not hold the parameters of " + torchscriptPath + ": "
                              + e.what());
        }
        record.initialParams = init.parameters();
        record.initialBuffers = init.buffers();
    }
    Checkpoint checkpoint;
    checkpoint.params = model.parameters();
    checkpoint.buffers = model.buffers();
    if (recipe) {
        // The archive is the end of the recorded recipe's run.
        checkpoint.epoch = recipe->epochs;
        checkpoint.step = recipe->epochs * ((data.train.count + recipe->batchSize - 1) / recipe->batchSize);
        checkpoint.lr = recipe->lr;
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
