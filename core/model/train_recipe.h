#pragma once

#include "model/architecture.h"

#include <cstdint>
#include <string>
#include <vector>

namespace attri {

class JsonObject;

/// A recipe's augmentation, parsed: what TrainRecipe::augment says.
struct Augmentation {
    bool hflip = false;
    int64_t cropPadding = 0; ///< P of crop:P; 0 for no crop
    bool any() const { return hflip || cropPadding > 0; }
    /// Parses "none", "hflip", "crop:P", "hflip,crop:P" (either order); ConfigError naming the
    /// recipe field 'augment' otherwise. P is in [1, 64].
    static Augmentation parse(const std::string& spec);
};

/// The most checkpoints a recipe may ask for (each holds a copy of the parameters).
inline constexpr int64_t kMaxCheckpoints = 10000;

/// The default gradient tolerance of an lbfgs recipe (max |g| of the full objective): reachable
/// in single precision on the zoo's models, where torch's own 1e-7 is not.
inline constexpr double kDefaultTolerance = 1e-5;

/// Everything that determines a training run besides the data. Ground truth retrains with it.
struct TrainRecipe {
    /// "sgd", "nesterov" (SGD with Nesterov momentum, momentum > 0), "adam", "adamw" (Adam with
    /// decoupled weight decay, as torch.optim.AdamW), or "lbfgs": full-batch L-BFGS with a
    /// strong-Wolfe line search (torch.optim.LBFGS(line_search_fn="strong_wolfe")) until the full
    /// objective's gradient has max |g| <= tolerance, for at most `epochs` iterations. lbfgs takes
    /// no momentum, schedule or warm-up (validate() refuses them) and ignores batchSize.
    std::string optimizer = "sgd";
    /// Peak learning rate (the schedule multiplies it); for lbfgs, L-BFGS's step scale (torch's lr,
    /// whose default and usual value is 1).
    double lr = 0.01;
    double momentum = 0.0;         ///< SGD momentum (ignored by adam and adamw; 0 for lbfgs)
    /// Learning-rate schedule, stepped per optimizer step: "constant"; "cosine" (from lr to 0 over
    /// the steps after warm-up, as CosineAnnealingLR); "onecycle" (as OneCycleLR with max_lr = lr
    /// and its defaults; its momentum cycling is not modelled; no warm-up of ours);
    /// "step:E1,E2,...:GAMMA" (× GAMMA from the start of each listed epoch on, counted from 0, as
    /// MultiStepLR stepped per epoch).
    std::string schedule = "constant";
    /// Linear warm-up over this many epochs (fractions allowed) before the schedule: step t of the
    /// W·steps-per-epoch warm-up steps runs at lr·(t + 1)/(W·steps-per-epoch).
    double warmupEpochs = 0.0;
    int64_t batchSize = 32;        ///< mini-batch size (ignored by lbfgs, which takes the full batch)
    /// Passes over the training set; for lbfgs, the cap on L-BFGS iterations (one full-batch
    /// step each; its line search may evaluate the objective more than once).
    int64_t epochs = 20;
    /// L2 weight decay (optimizer-coupled, as in torch.optim); for lbfgs, the term wd/2·‖θ‖² of
    /// the objective L-BFGS minimises (all parameters, biases included: the same gradient).
    double weightDecay = 0.0;
    /// lbfgs only: the gradient tolerance, max |∂(L + wd/2·‖θ‖²)/∂θ| at which training stops
    /// (torch's tolerance_grad). Any other optimizer must leave it at its default.
    double tolerance = kDefaultTolerance;
    uint64_t seed = 0;             ///< initialization and shuffling seed
    /// Checkpoints kept; the last is the final model. C ≤ epochs: at the ends of epochs ⌊c·E/C⌋;
    /// more (up to the run's optimizer steps S): after steps ⌊c·S/C⌋, inside epochs.
    int64_t checkpoints = 1;
    /// Data augmentation of the training batches: "none", or a comma-separated list of "hflip"
    /// (each image mirrored left to right with probability 1/2, as RandomHorizontalFlip) and
    /// "crop:P" (padded by P black pixels on every side, then cut back to its size at a uniformly
    /// random offset, as RandomCrop(size, padding=P)). Drawn per image and step from the seed.
    /// Attribution, evaluation and the stored features always use the images as they are.
    std::string augment = "none";

    /// Throws ConfigError naming the field and the valid range.
    void validate() const;
    /// The schedule's multiplier of lr at optimizer step `step` (0-based) of a run of `totalSteps`
    /// steps, `stepsPerEpoch` to an epoch.
    double lrMultiplier(int64_t step, int64_t stepsPerEpoch, int64_t totalSteps) const;
    /// lrMultiplier at every step of a run, in order (the schedule parsed once).
    std::vector<double> lrMultipliers(int64_t stepsPerEpoch, int64_t totalSteps) const;
    /// The sum of lrMultiplier over a run: its integrated step size in units of lr (totalSteps for
    /// a constant rate).
    double lrMultiplierSum(int64_t stepsPerEpoch, int64_t totalSteps) const;
    /// Whether the rate is lr at every step (constant schedule, no warm-up).
    bool constantRate() const { return schedule == "constant" && warmupEpochs == 0.0; }
    bool adamFamily() const { return optimizer == "adam" || optimizer == "adamw"; }
    bool augmented() const { return augment != "none"; }
    /// Full-batch L-BFGS to a gradient tolerance: the model is (meant to be) a minimiser of
    /// L + wd/2·‖θ‖², with no training dynamics to unroll.
    bool converged() const { return optimizer == "lbfgs"; }
    /// The schedule in words with its warm-up, e.g. "cosine after 1 warm-up epoch".
    std::string scheduleText() const;
    /// The keys of a recipe file, one per field: optimizer, lr, momentum, batch_size, epochs,
    /// weight_decay, schedule, warmup_epochs, seed, checkpoints, augment, tolerance.
    static const std::vector<std::string>& jsonKeys();
    /// `base` with the fields `json` holds (any subset of jsonKeys()), validated. ConfigError
    /// naming the file and the field for an unknown key, a wrong type or a value out of range,
    /// and for a batch_size given with lbfgs (which trains on the full batch).
    static TrainRecipe fromJson(const JsonObject& json, TrainRecipe base);
    /// What an imported run's recipe starts from: torch.optim's defaults (SGD without momentum or
    /// weight decay), the rest as the MLP's standard recipe until the run's own values replace it.
    static TrainRecipe pytorchDefaults();
    /// The standard settings of the attribution notes §4 for an architecture.
    static TrainRecipe standardFor(Architecture arch);
};

} // namespace attri
