#include "model/train_recipe.h"

#include "common/error.h"
#include "common/json_object.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

namespace attri {

namespace {

template <typename T> [[noreturn]] void fail(const char* field, const std::string& expected, T got)
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
        fail("schedule", "constant, cosine, onecycle or step:E1,E2,...:GAMMA (epochs ascending, 0 < GAMMA)",
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

Augmentation Augmentation::parse(const std::string& spec)
{
    const auto bad = [&]() {
        fail("augment", "none, hflip, crop:P or hflip,crop:P (P pixels of padding, 1 <= P <= 64)",
             "\"" + spec + "\"");
    };
    Augmentation out;
    if (spec == "none")
        return out;
    std::istringstream list(spec);
    std::string item;
    int items = 0;
    while (std::getline(list, item, ',')) {
        ++items;
        if (item == "hflip" && !out.hflip) {
            out.hflip = true;
        } else if (item.rfind("crop:", 0) == 0 && out.cropPadding == 0) {
            const std::string digits = item.substr(5);
            if (digits.empty() || digits.size() > 2
                || digits.find_first_not_of("0123456789") != std::string::npos)
                bad();
            out.cropPadding = std::stoll(digits);
            if (out.cropPadding < 1 || out.cropPadding > 64)
                bad();
        } else {
            bad();
        }
    }
    if (items == 0 || spec.back() == ',')
        bad();
    return out;
}

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
    if (schedule == "onecycle") {
        // torch.optim.lr_scheduler.OneCycleLR with its defaults (pct_start 0.3, anneal_strategy
        // "cos", div_factor 25, final_div_factor 1e4, two phases), in PyTorch 1.13's arithmetic:
        // from lr/25 up to lr at step 0.3·T − 1, then down to lr/25/1e4 at step T − 1.
        const double initial = 1.0 / 25.0;
        const double minimum = initial / 1e4;
        const double upEnd = 0.3 * static_cast<double>(totalSteps) - 1.0;
        const double downEnd = static_cast<double>(totalSteps) - 1.0;
        const auto anneal = [](double start, double end, double pct) {
            return end + (start - end) / 2.0 * (std::cos(M_PI * pct) + 1.0);
        };
        if (t <= upEnd)
            return anneal(initial, 1.0, t / upEnd);
        return anneal(1.0, minimum, (t - upEnd) / (downEnd - upEnd));
    }
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

std::vector<double> TrainRecipe::lrMultipliers(int64_t stepsPerEpoch, int64_t totalSteps) const
{
    const StepSchedule steps = stepScheduleOf(*this);
    std::vector<double> out(static_cast<size_t>(std::max<int64_t>(0, totalSteps)));
    for (int64_t t = 0; t < totalSteps; ++t)
        out[static_cast<size_t>(t)] = multiplierAt(*this, steps, t, stepsPerEpoch, totalSteps);
    return out;
}

double TrainRecipe::lrMultiplierSum(int64_t stepsPerEpoch, int64_t totalSteps) const
{
    if (constantRate())
        return static_cast<double>(totalSteps);
    const std::vector<double> multipliers = lrMultipliers(stepsPerEpoch, totalSteps);
    return std::accumulate(multipliers.begin(), multipliers.end(), 0.0);
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
    if (optimizer != "sgd" && optimizer != "nesterov" && optimizer != "adam" && optimizer != "adamw"
        && optimizer != "lbfgs")
        fail("optimizer", "sgd, nesterov, adam, adamw or lbfgs", "\"" + optimizer + "\"");
    if (optimizer == "nesterov" && !(momentum > 0.0))
        fail("momentum", "above 0 for nesterov", momentum);
    if (schedule != "constant" && schedule != "cosine" && schedule != "onecycle")
        parseStepSchedule(schedule);

    if (!std::isfinite(lr) || lr <= 0.0)
        fail("lr", "a finite number > 0", lr);
    if (!std::isfinite(momentum) || momentum < 0.0 || momentum >= 1.0)
        fail("momentum", "in [0, 1)", momentum);
    if (batchSize < 1)
        fail("batch_size", ">= 1", batchSize);
    if (epochs < 1)
        fail("epochs", ">= 1", epochs);
    if (!std::isfinite(warmupEpochs) || warmupEpochs < 0.0 || warmupEpochs >= static_cast<double>(epochs))
        fail("warmup_epochs", "in [0, epochs)", warmupEpochs);
    if (schedule == "onecycle" && warmupEpochs > 0.0)
        fail("warmup_epochs",
             "0 with the onecycle schedule, which warms up itself (from lr/25 to lr over the "
             "first 30% of the steps)",
             warmupEpochs);
    if (!std::isfinite(weightDecay) || weightDecay < 0.0)
        fail("weight_decay", "a finite number >= 0", weightDecay);
    if (!std::isfinite(tolerance) || tolerance <= 0.0)
        fail("tolerance", "a finite number > 0", tolerance);
    if (converged()) {
        // Full-batch L-BFGS has no momentum, no per-step rate to schedule and no warm-up: a value
        // for them would be silently ignored, so it is refused.
        if (momentum != 0.0)
            fail("momentum", "0 for lbfgs (full-batch L-BFGS has no momentum)", momentum);
        if (schedule != "constant")
            fail("schedule", "constant for lbfgs (its line search sets each step)", "\"" + schedule + "\"");
        if (warmupEpochs != 0.0)
            fail("warmup_epochs", "0 for lbfgs (its line search sets each step)", warmupEpochs);
        if (augment != "none")
            fail("augment", "none for lbfgs (it minimises the loss of the full batch as it is)", "\"" + augment + "\"");
    } else if (tolerance != kDefaultTolerance) {
        fail("tolerance", "left at its default for optimizer " + optimizer + " (it is lbfgs's stopping rule)",
             tolerance);
    }
    // The upper bound is the run's optimizer steps, which need the training set's size: trainModel
    // checks it.
    if (checkpoints < 1 || checkpoints > kMaxCheckpoints)
        fail("checkpoints", "in [1, " + std::to_string(kMaxCheckpoints) + "]", checkpoints);
    Augmentation::parse(augment);
}

const std::vector<std::string>& TrainRecipe::jsonKeys()
{
    static const std::vector<std::string> keys{"optimizer", "lr",           "momentum", "batch_size",
                                               "epochs",    "weight_decay", "schedule", "warmup_epochs",
                                               "seed",      "checkpoints",  "augment",
                                               "tolerance"};
    return keys;
}

TrainRecipe TrainRecipe::fromJson(const JsonObject& json, TrainRecipe r)
{
    json.requireKnownKeys(jsonKeys());
    const bool wasConverged = r.converged();
    if (json.has("optimizer"))
        r.optimizer = json.getString("optimizer");
    if (json.has("lr"))
        r.lr = json.getNumber("lr");
    if (json.has("momentum"))
        r.momentum = json.getNumber("momentum");
    if (json.has("batch_size"))
        r.batchSize = json.getInt("batch_size");
    if (json.has("epochs"))
        r.epochs = json.getInt("epochs");
    if (json.has("weight_decay"))
        r.weightDecay = json.getNumber("weight_decay");
    if (json.has("schedule"))
        r.schedule = json.getString("schedule");
    if (json.has("warmup_epochs"))
        r.warmupEpochs = json.getNumber("warmup_epochs");
    if (json.has("seed"))
        r.seed = json.getUnsigned("seed");
    if (json.has("checkpoints"))
        r.checkpoints = json.getInt("checkpoints");
    if (json.has("augment"))
        r.augment = json.getString("augment");
    if (json.has("tolerance"))
        r.tolerance = json.getNumber("tolerance");
    // A file that switches to lbfgs does not inherit the base's SGD rate and momentum: the fields
    // it leaves out take torch.optim.LBFGS's lr (1) and no momentum.
    if (r.converged() && !wasConverged) {
        if (!json.has("lr"))
            r.lr = 1.0;
        if (!json.has("momentum"))
            r.momentum = 0.0;
    }
    // validate() names the field by its key here; the file (and the prefix of a nested recipe)
    // goes in front.
    try {
        // A batch size with lbfgs would be ignored (it trains on the full batch): refused, like
        // the fields validate() refuses for it.
        if (r.converged() && json.has("batch_size"))
            fail("batch_size", std::string("absent for lbfgs, which trains on the full batch"), r.batchSize);
        r.validate();
    } catch (const ConfigError& e) {
        std::string what = e.what();
        const std::string prefix = json.qualified("");
        if (const size_t quote = what.find('\''); !prefix.empty() && quote != std::string::npos)
            what.insert(quote + 1, prefix);
        throw ConfigError(json.source() + ": " + what);
    }
    return r;
}

TrainRecipe TrainRecipe::pytorchDefaults()
{
    TrainRecipe r = standardFor(Architecture::Mlp);
    r.optimizer = "sgd";
    r.momentum = 0.0;
    r.weightDecay = 0.0;
    return r;
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
