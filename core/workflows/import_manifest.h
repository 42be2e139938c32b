#pragma once

#include "common/json_object.h"
#include "workflows/create_experiment.h"

#include <optional>
#include <string>

namespace attri {

/// What DIR/manifest.json says about a run saved from PyTorch (docs/examples/train_in_pytorch.py
/// writes one next to its .pt files):
///   {"model": "model.pt", "init": "init.pt",
///    "checkpoints": [{"file": "epoch2.pt", "epoch": 2}, {"file": "epoch4.pt", "epoch": 4, "lr": 0.05}],
///    "recipe": {"optimizer": "sgd", "lr": 0.05, "epochs": 10, "batch_size": 64}}
/// "model" is required; "init", "checkpoints" (in training order) and "recipe" (a recipe file's
/// keys, TrainRecipe::jsonKeys) are optional. Paths are relative to DIR.
struct ImportManifest {
    std::string path;                 ///< the manifest file
    ImportSources sources;            ///< paths joined to DIR
    std::optional<JsonObject> recipe; ///< the "recipe" object, for TrainRecipe::fromJson
};

/// Reads DIR/manifest.json strictly: ConfigError naming the file and the key for an unknown key,
/// a wrong type, or a named file that does not exist; IoError when the manifest cannot be read.
/// The order of the checkpoints is checked by importExperiment.
ImportManifest readImportManifest(const std::string& dir);

} // namespace attri
