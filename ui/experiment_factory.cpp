#include "experiment_factory.h"

#include "store/experiment_builder.h"

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
    trainExperiment(spec.path, spec.data, spec.architecture, spec.recipe, progress, cancel);
}

void createImportedExperiment(const std::string& path, const std::string& torchscriptPath,
                              const DataOptions& options, ProgressSink& progress, const CancelToken& cancel)
{
    ImportSources sources;
    sources.torchscript = torchscriptPath;
    importExperiment(path, sources, options, std::nullopt, progress, cancel);
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
