#include "experiment_factory.h"

#include "common/error.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "model/trainer.h"
#include "store/experiment_file.h"

#include <QRegularExpression>
#include <QString>
#include <filesystem>

namespace attri::ui {

NewExperiment NewExperiment::demo(const std::string& path, int64_t trainSize, int64_t testSize)
{
    NewExperiment e;
    e.path = path;
    e.data.spec = "demo";
    e.data.trainSize = trainSize;
    e.data.testSize = testSize;
    const DatasetSpec spec = DatasetSpec::parse("demo");
    e.data.mean = spec.standardMean();
    e.data.std = spec.standardStd();
    e.architecture = Architecture::LogisticRegression;
    e.recipe = TrainRecipe::standardFor(Architecture::LogisticRegression);
    return e;
}

void createTrainedExperiment(const NewExperiment& spec, ProgressSink& progress, const CancelToken& cancel)
{
    spec.data.validate();
    spec.recipe.validate();
    if (spec.path.empty())
        throw ConfigError("new experiment: no output file given");
    progress.message("loading " + spec.data.spec);
    DataBundle data = loadData(spec.data);
    cancel.throwIfCancelled();
    InputShape shape{data.train.channels, data.train.height, data.train.width};
    Model init = Model::create(spec.architecture, shape, data.numClasses, spec.recipe.seed);
    TrainResult result = trainModel(init, spec.recipe, data.train, progress, cancel);
    ModelRecord record;
    record.architecture = spec.architecture;
    record.input = shape;
    record.numClasses = data.numClasses;
    record.recipe = spec.recipe;
    record.checkpoints = result.checkpoints;
    record.epochLoss = result.epochLoss;
    record.trainMetrics = evaluateModel(result.model, data.train);
    record.testMetrics = evaluateModel(result.model, data.test);
    record.trainSeconds = result.seconds;
    record.parameterCount = result.model.parameterCount();
    cancel.throwIfCancelled();
    createExperimentFile(spec.path, data, spec.data, record);
}

void createImportedExperiment(const std::string& path, const std::string& torchscriptPath,
                              const DataOptions& options, ProgressSink& progress, const CancelToken& cancel)
{
    options.validate();
    progress.message("loading " + options.spec);
    DataBundle data = loadData(options);
    cancel.throwIfCancelled();
    Model model = Model::importTorchScript(torchscriptPath);
    InputShape shape{data.train.channels, data.train.height, data.train.width};
    model.checkCompatible(shape, data.numClasses);
    ModelRecord record;
    record.architecture = Architecture::TorchScript;
    record.input = shape;
    record.numClasses = data.numClasses;
    record.torchscriptPath = std::filesystem::absolute(torchscriptPath).string();
    Checkpoint checkpoint;
    checkpoint.params = model.parameters();
    checkpoint.buffers = model.buffers();
    record.checkpoints.push_back(std::move(checkpoint));
    record.trainMetrics = evaluateModel(model, data.train);
    record.testMetrics = evaluateModel(model, data.test);
    record.parameterCount = model.parameterCount();
    createExperimentFile(path, data, options, record);
}

bool parseEpochMessage(const QString& text, int* epoch, double* loss)
{
    static const QRegularExpression re(QStringLiteral("^epoch (\\d+)/(\\d+): loss ([-+0-9.eE]+|nan|inf)"));
    const auto m = re.match(text);
    if (!m.hasMatch())
        return false;
    *epoch = m.captured(1).toInt();
    *loss = m.captured(3).toDouble();
    return true;
}

} // namespace attri::ui
