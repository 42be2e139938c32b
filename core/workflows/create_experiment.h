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

/// A state saved along an imported run: a TorchScript archive of the same module.
struct ImportedCheckpoint {
    std::string path;   ///< the archive
    double epoch = 0.0; ///< epochs completed when saved (fractional inside an epoch), > 0
    double lr = 0.0;    ///< learning rate of the steps before it (TracIn's η); 0: the recipe's
};

/// What an import reads besides the data.
struct ImportSources {
    std::string torchscript; ///< the trained module: the model attributions use
    /// The same module saved before training: retraining (ground truth, removal checks) starts
    /// from its weights instead of from the recipe's seed. Empty: none.
    std::string init;
    /// Earlier states of the run, in training order, each before the recipe's end (where the
    /// trained module sits): TracIn, TRAK's ensembles, `unrolled` and the path rules use them.
    /// They need a recipe (its batch size and epochs place them on the run).
    std::vector<ImportedCheckpoint> checkpoints;
};

/// Imports a TorchScript classifier with the data it was trained on: checks that it fits the data,
/// evaluates it and creates the experiment file (with the module's path and SHA-256). `recipe`
/// is how to retrain it for ground truth; without one, ground truth and the recommendation refuse.
/// ConfigError, naming the files, when an init or checkpoint archive does not hold the module's
/// parameters, or when checkpoints are out of order, outside the run, or given without a recipe.
ModelRecord importExperiment(const std::string& path, const ImportSources& sources, const DataOptions& data,
                             const std::optional<TrainRecipe>& recipe, ProgressSink& progress,
                             const CancelToken& cancel);

} // namespace attri
