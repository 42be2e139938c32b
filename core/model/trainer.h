#pragma once

#include "model/model.h"
#include "model/train_recipe.h"

#include <functional>
#include <limits>
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
    std::vector<double> epochLoss;        ///< mean training loss of each epoch (lbfgs: of each iterate)
    /// lbfgs: max |g| of the objective L + wd/2·‖θ‖² at the final model (NaN for the other
    /// optimizers), the iterations it took and whether it reached the recipe's tolerance within
    /// the cap (recipe.epochs iterations). A run that stops short still returns its last iterate.
    double gradientMaxAbs = std::numeric_limits<double>::quiet_NaN();
    int64_t iterations = 0;
    bool converged = true;
    double seconds = 0.0;                 ///< wall time
    std::string device;                   ///< where it trained ("cpu", "cuda:0")
    int threads = 0;                      ///< LibTorch intra-op threads it ran with
};

/// Looks at the model being trained at `marks` points of the run: after steps
/// round((j − ½)·S/marks), j = 1…marks, of S steps in all (the midpoints of equal stretches, so
/// a mean over the marks is a time average of the run). The model is in evaluation mode during
/// the call; what the observer does must not change it.
struct TrainObserver {
    int marks = 0;
    std::function<void(const Model& model, int64_t step, int64_t totalSteps)> atMark;
};

/// Trains `init` (not modified; a clone is trained) with the recipe on `train`.
/// Deterministic for a given recipe.seed and thread count (an observer does not change the
/// result). Polls cancel every batch (lbfgs: every iteration).
/// lbfgs: full-batch L-BFGS with a strong-Wolfe line search on L + wd/2·‖θ‖² (the weight decay
/// as an explicit L2 term: torch's LBFGS has no weight_decay), stepped one iteration at a time
/// (torch.optim.LBFGS with max_iter = 1, called repeatedly: its history carries over) until
/// max |g| <= recipe.tolerance, or recipe.epochs iterations, or an iteration that cannot move.
/// Checkpoint c after iteration ⌊c·E/C⌋ of the cap E; a run that stops earlier keeps the ones it
/// reached and ends with the final model. No observation marks: it has no dynamics to observe.
TrainResult trainModel(const Model& init, const TrainRecipe& recipe, const ImageSet& train,
                       ProgressSink& progress, const CancelToken& cancel,
                       const TrainObserver* observer = nullptr);

/// Accuracy and mean loss in evaluation mode.
EvalMetrics evaluateModel(const Model& model, const ImageSet& set);

/// Per-sample cross-entropy losses in evaluation mode (used by ground truth).
std::vector<double> perSampleLoss(const Model& model, const ImageSet& set);

/// Predicted class of each sample.
std::vector<int64_t> predictLabels(const Model& model, const ImageSet& set);

} // namespace attri
