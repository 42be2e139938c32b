#pragma once

#include "model/architecture.h"

#include <cstdint>
#include <string>

namespace attri {

/// The most checkpoints a recipe may ask for (each holds a copy of the parameters).
inline constexpr int64_t kMaxCheckpoints = 10000;

/// Everything that determines a training run besides the data. Ground truth retrains with it.
struct TrainRecipe {
    std::string optimizer = "sgd"; ///< "sgd" or "adam"
    double lr = 0.01;              ///< learning rate
    double momentum = 0.0;         ///< SGD momentum (ignored by adam)
    int64_t batchSize = 32;        ///< mini-batch size
    int64_t epochs = 20;           ///< passes over the training set
    double weightDecay = 0.0;      ///< L2 weight decay (optimizer-coupled, as in torch.optim)
    uint64_t seed = 0;             ///< initialization and shuffling seed
    /// Checkpoints kept; the last is the final model. C ≤ epochs: at the ends of epochs ⌊c·E/C⌋;
    /// more (up to the run's optimizer steps S): after steps ⌊c·S/C⌋, inside epochs.
    int64_t checkpoints = 1;

    /// Throws ConfigError naming the field and the valid range.
    void validate() const;
    /// The standard settings of the attribution notes §4 for an architecture.
    static TrainRecipe standardFor(Architecture arch);
};

} // namespace attri
