#pragma once

#include "data/data_loader.h"
#include "model/architecture.h"
#include "model/train_recipe.h"
#include "store/experiment_file.h"

#include <optional>
#include <string>

namespace attri {

class ProgressSink;
class CancelToken;

/// Loads the data, trains a zoo model with `recipe` (progress messages per epoch) and creates the
/// experiment file at `path` atomically. Returns what was stored.
ModelRecord trainExperiment(const std::string& path, const DataOptions& data, Architecture architecture,
                            const TrainRecipe& recipe, ProgressSink& progress, const CancelToken& cancel);

/// Imports a TorchScript classifier with the data it was trained on: checks that it fits the data,
/// evaluates it and creates the experiment file (with the module's path and SHA-256). `recipe`
/// is how to retrain it for ground truth; without one, ground truth and the recommendation refuse.
/// `initPath`, when not empty, is a TorchScript archive of the same module holding the run's
/// initial weights: retraining starts from them instead of from the recipe's seed (ConfigError
/// naming both files when its parameters are not the module's).
ModelRecord importExperiment(const std::string& path, const std::string& torchscriptPath, const DataOptions& data,
                             const std::optional<TrainRecipe>& recipe, ProgressSink& progress,
                             const CancelToken& cancel, const std::string& initPath = {});

} // namespace attri
