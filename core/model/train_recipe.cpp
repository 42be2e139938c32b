#include "model/train_recipe.h"

#include "common/error.h"

#include <algorithm>
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

namespace {

struct StepSchedule {
    std::vector<int64_t> milestones; ///< epochs, ascending
    double gamma = 1.0;
};

/// "step:E1,E2,...:GAMMA" → milestones and gamma; throws ConfigError naming the field.
StepSchedule parseStepSchedule(const std::string& spec)
{
    const auto bad = [&]() {
        fail("schedule", "constant, cosine or step:E1,E2,...:GAMMA (epochs ascending, 0 < GAMMA)",
             "\"" + spec + "\"");
    };
    const size_t last = spec.rfind(':');
    if (spec.rfind("step:", 0) != 0 || last == std::string::npos || last < 5)
        bad();
    StepSchedule out;
    std::istringstream list(spec.substr(5, last - 5));
    std::string item;
    while (std::getline(list, item, ',')) {
        size_t used = 0;
        int64_t epoch = -1;
        try {
            epoch = std::stoll(item, &used);
        } catch (const std::exception&) {
            bad();
        }
        if (used != item.size() || epoch < 1 || (!out.milestones.empty() && epoch <= out.milestones.back()))
            bad();
        out.milestones.push_back(epoch);
    }
    try {
        size_t used = 0;
        const std::string g = spec.substr(last + 1);
        out.gamma = std::stod(g, &used);
        if (used != g.size())
            bad();
    } catch (const std::exception&) {
        bad();
    }
    if (out.milestones.empty() || !(out.gamma > 0) || !std::isfinite(out.gamma))
        bad();
    return out;
}

} // namespace

namespace {

/// The multiplier at `step`, with a step schedule already parsed (unused otherwise).
double multiplierAt(const TrainRecipe& r, const StepSchedule& steps, int64_t step, int64_t stepsPerEpoch,
                    int64_t totalSteps)
{
    const double warmupEpochs = r.warmupEpochs;
    const std::string& schedule = r.schedule;
    const double warmupSteps = warmupEpochs * static_cast<double>(stepsPerEpoch);
    const double t = static_cast<double>(step);
    if (t < warmupSteps)
        return std::min(1.0, (t + 1.0) / warmupSteps);
    if (schedule == "constant")
        return 1.0;
    if (schedule == "cosine") {
        const double span = static_cast<double>(totalSteps) - std::ceil(warmupSteps);
        const double done = t - std::ceil(warmupSteps);
        return span > 0 ? 0.5 * (1.0 + std::cos(M_PI * done / span)) : 1.0;
    }
    const int64_t epoch = stepsPerEpoch > 0 ? step / stepsPerEpoch : 0;
    double m = 1.0;
    for (int64_t milestone : steps.milestones)
        if (epoch >= milestone)
            m *= steps.gamma;
    return m;
}

StepSchedule stepScheduleOf(const TrainRecipe& r)
{
    return r.schedule.rfind("step:", 0) == 0 ? parseStepSchedule(r.schedule) : StepSchedule{};
}

} // namespace

double TrainRecipe::lrMultiplier(int64_t step, int64_t stepsPerEpoch, int64_t totalSteps) const
{
    return multiplierAt(*this, stepScheduleOf(*this), step, stepsPerEpoch, totalSteps);
}

double TrainRecipe::lrMultiplierSum(int64_t stepsPerEpoch, int64_t totalSteps) const
{
    if (constantRate())
        return static_cast<double>(totalSteps);
    const StepSchedule steps = stepScheduleOf(*this);
    double sum = 0.0;
    for (int64_t t = 0; t < totalSteps; ++t)
        sum += multiplierAt(*this, steps, t, stepsPerEpoch, totalSteps);
    return sum;
}

std::string TrainRecipe::scheduleText() const
{
    std::ostringstream s;
    s << schedule;
    if (warmupEpochs > 0)
        s << " after " << warmupEpochs << " warm-up epoch" << (warmupEpochs == 1.0 ? "" : "s");
    return s.str();
}

void TrainRecipe::validate() const
{
    if (optimizer != "sgd" && optimizer != "nesterov" && optimizer != "adam" && optimizer != "adamw")
        fail("optimizer", "sgd, nesterov, adam or adamw", "\"" + optimizer + "\"");
    if (optimizer == "nesterov" && !(momentum > 0.0))
        fail("momentum", "above 0 for nesterov", momentum);
    if (schedule != "constant" && schedule != "cosine")
        parseStepSchedule(schedule);

    if (!std::isfinite(lr) || lr <= 0.0)
        fail("lr", "a finite number > 0", lr);
    if (!std::isfinite(momentum) || momentum < 0.0 || momentum >= 1.0)
        fail("momentum", "in [0, 1)", momentum);
    if (batchSize < 1)
        fail("batchSize", ">= 1", batchSize);
    if (epochs < 1)
        fail("epochs", ">= 1", epochs);
    if (!std::isfinite(warmupEpochs) || warmupEpochs < 0.0 || warmupEpochs >= static_cast<double>(epochs))
        fail("warmupEpochs", "in [0, epochs)", warmupEpochs);
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
