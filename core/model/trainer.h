#pragma once

#include "model/model.h"
#include "model/train_recipe.h"

#include <string>
#include <vector>

namespace attri {

struct ImageSet;
class ProgressSink;
class CancelToken;

/// Accuracy and mean cross-entropy of a model on a set.
struct EvalMetrics {
    double accuracy = 0.0;
    double meanLoss = 0.0;
};

/// What a training run produced.
struct TrainResult {
    Model model;                          ///< the final model (equals the last checkpoint)
    std::vector<Checkpoint> checkpoints;  ///< recipe.checkpoints states, the last is the final model
    std::vector<double> epochLoss;        ///< mean training loss of each epoch
    double seconds = 0.0;                 ///< wall time
    std::string device;                   ///< where it trained ("cpu", "cuda:0")
    /// Per training point: the mean over epochs of p(1 − p), p = the model's probability of the
    /// true class at the moment training visited the point (before that batch's step). The
    /// Gauss–Newton weight along the training path, for the λ selector; free (same logits).
    std::vector<float> pathGaussNewtonWeight;
};

/// Trains `init` (not modified; a clone is trained) with the recipe on `train`.
/// Deterministic for a given recipe.seed and thread count. Polls cancel every batch.
TrainResult trainModel(const Model& init, const TrainRecipe& recipe, const ImageSet& train,
                       ProgressSink& progress, const CancelToken& cancel);

/// Accuracy and mean loss in evaluation mode.
EvalMetrics evaluateModel(const Model& model, const ImageSet& set);

/// Per-sample cross-entropy losses in evaluation mode (used by ground truth).
std::vector<double> perSampleLoss(const Model& model, const ImageSet& set);

/// Predicted class of each sample.
std::vector<int64_t> predictLabels(const Model& model, const ImageSet& set);

} // namespace attri
