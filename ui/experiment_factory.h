#pragma once

#include "data/data_loader.h"
#include "model/architecture.h"
#include "model/train_recipe.h"

#include <QString>

#include <string>

namespace attri {
class ProgressSink;
class CancelToken;
} // namespace attri

namespace attri::ui {

/// What "New experiment" trains: a dataset selection, a zoo model and its recipe.
struct NewExperiment {
    std::string path;                                             ///< experiment file to create
    DataOptions data;                                             ///< dataset spec, sizes, normalization
    Architecture architecture = Architecture::LogisticRegression; ///< zoo model
    TrainRecipe recipe = TrainRecipe::standardFor(Architecture::LogisticRegression); ///< training

    /// The embedded demo with the standard LR recipe (sizes may be reduced for quick runs).
    static NewExperiment demo(const std::string& path, int64_t trainSize = 5000, int64_t testSize = 500);
};

/// Loads the data, trains the model (a "train_loss" metric per epoch) and creates the experiment
/// file atomically.
void createTrainedExperiment(const NewExperiment& spec, ProgressSink& progress, const CancelToken& cancel);

/// Imports a TorchScript classifier into a new experiment over `data` (no training recipe unless
/// given: the λ recommendation needs one).
void createImportedExperiment(const std::string& path, const std::string& torchscriptPath,
                              const DataOptions& data, ProgressSink& progress, const CancelToken& cancel);

} // namespace attri::ui
