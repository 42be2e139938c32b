#include "model/train_recipe.h"

#include "common/error.h"

#include <cmath>
#include <sstream>

namespace attri {

namespace {

template <typename T> [[noreturn]] void fail(const char* field, const char* expected, T got)
{
    std::ostringstream msg;
    msg << "training recipe: '" << field << "' must be " << expected << ", got " << got;
    throw ConfigError(msg.str());
}

} // namespace

void TrainRecipe::validate() const
{
    if (optimizer != "sgd" && optimizer != "adam")
        fail("optimizer", "\"sgd\" or \"adam\"", "\"" + optimizer + "\"");
    if (!std::isfinite(lr) || lr <= 0.0)
        fail("lr", "a finite number > 0", lr);
    if (!std::isfinite(momentum) || momentum < 0.0 || momentum >= 1.0)
        fail("momentum", "in [0, 1)", momentum);
    if (batchSize < 1)
        fail("batchSize", ">= 1", batchSize);
    if (epochs < 1)
        fail("epochs", ">= 1", epochs);
    if (!std::isfinite(weightDecay) || weightDecay < 0.0)
        fail("weightDecay", "a finite number >= 0", weightDecay);
    // The upper bound is the run's optimizer steps, which need the training set's size: trainModel
    // checks it.
    if (checkpoints < 1 || checkpoints > kMaxCheckpoints)
        fail("checkpoints", ("in [1, " + std::to_string(kMaxCheckpoints) + "]").c_str(), checkpoints);
}

TrainRecipe TrainRecipe::standardFor(Architecture arch)
{
    // The dattri benchmark settings (attribution notes §4). CNN follows ResNet-9's recipe.
    TrainRecipe r;
    r.optimizer = "sgd";
    r.lr = 0.01;
    r.weightDecay = 0.0;
    r.seed = 0;
    r.checkpoints = 1;
    switch (arch) {
    case Architecture::LogisticRegression:
        r.momentum = 0.0;
        r.epochs = 20;
        r.batchSize = 32;
        break;
    case Architecture::Mlp:
        r.momentum = 0.9;
        r.epochs = 50;
        r.batchSize = 64;
        break;
    case Architecture::Cnn:
    case Architecture::ResNet9:
    case Architecture::TorchScript:
        r.momentum = 0.9;
        r.epochs = 10;
        r.batchSize = 64;
        break;
    }
    return r;
}

} // namespace attri
