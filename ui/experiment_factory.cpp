#include "experiment_factory.h"

#include "workflows/create_experiment.h"
#include "workflows/demo.h"

#include "common/error.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "model/trainer.h"
#include "store/experiment_file.h"

#include <QString>
#include <filesystem>

namespace attri::ui {

NewExperiment NewExperiment::demo(const std::string& path, int64_t trainSize, int64_t testSize)
{
    NewExperiment e;
    e.path = path;
    e.data = demoData(trainSize, testSize);
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


} // namespace attri::ui
