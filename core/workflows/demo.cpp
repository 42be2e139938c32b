#include "workflows/demo.h"

#include "common/error.h"
#include "data/dataset_spec.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/train_recipe.h"
#include "workflows/create_experiment.h"

#include <algorithm>
#include <filesystem>

namespace attri {

void DemoOptions::validate() const
{
    if (path.empty())
        throw ConfigError("demo: the experiment file's path is empty");
    if (trainSize < 1 || testSize < 1)
        throw ConfigError("demo: train and test sizes must be positive, got " + std::to_string(trainSize) + " and "
                          + std::to_string(testSize));
    if (ks.empty())
        throw ConfigError("demo: needs at least one projection dimension k");
    if (sensitivityTests < 1)
        throw ConfigError("demo: sensitivity needs at least one test point");
}

DataOptions demoData(int64_t trainSize, int64_t testSize)
{
    DataOptions data;
    const DatasetSpec spec = DatasetSpec::parse("demo");
    data.spec = "demo";
    data.trainSize = trainSize;
    data.testSize = testSize;
    data.mean = spec.standardMean();
    data.std = spec.standardStd();
    return data;
}

DemoResult runDemo(const DemoOptions& options, ProgressSink& progress, const CancelToken& cancel)
{
    options.validate();
    const std::filesystem::path parent = std::filesystem::path(options.path).parent_path();
    if (!parent.empty())
        std::filesystem::create_directories(parent);

    DemoResult out;
    out.model = trainExperiment(options.path, demoData(options.trainSize, options.testSize), Architecture::LogisticRegression,
                                TrainRecipe::standardFor(Architecture::LogisticRegression), progress, cancel);

    AttributionRequest attribution;
    attribution.method = "trak";
    attribution.projection = ProjectionKind::Kronecker;
    attribution.ks = options.ks;
    attribution.sensitivityTests = options.sensitivityTests;
    out.attribution = runAttribution(options.path, attribution, progress, cancel);

    RecommendRequest recommend;
    recommend.method = "trak";
    recommend.k = *std::max_element(options.ks.begin(), options.ks.end());
    out.recommendation = recommendWithEvidence(options.path, recommend, progress, cancel);
    return out;
}

} // namespace attri
