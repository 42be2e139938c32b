// Tests of the model stage: zoo architectures, parameters, recipes, training and evaluation,
// and the layer trace used by per-sample gradients.

#include "common/error.h"
#include "common/json_object.h"
#include "data/data_loader.h"
#include "data/image_set.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/internal/net.h"
#include "model/model.h"
#include "model/train_recipe.h"
#include "model/trainer.h"

#include "support/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <thread>
#include <tuple>

namespace attri {
namespace {

ImageSet randomSet(int64_t n, InputShape shape, int classes, uint64_t seed)
{
    return test::syntheticImages(n, shape, classes, seed, test::Pixels::Uniform);
}

/// A linearly separable two-class problem on 1×4×4 images: label = [w·x > 0] for a w fixed
/// across calls, with points closer than 0.2 to the boundary dropped; `seed` draws the points.
ImageSet separableSet(int64_t n, uint64_t seed)
{
    ImageSet set;
    set.channels = 1;
    set.height = 4;
    set.width = 4;
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::mt19937_64 planeRng(12345);
    std::vector<float> w(16);
    for (float& v : w)
        v = uniform(planeRng);
    std::mt19937_64 rng(seed);
    double norm = 0.0;
    for (float v : w)
        norm += v * v;
    norm = std::sqrt(norm);
    while (set.count < n) {
        std::vector<float> x(16);
        double dot = 0.0;
        for (int j = 0; j < 16; ++j) {
            x[j] = uniform(rng);
            dot += w[j] * x[j];
        }
        if (std::abs(dot) / norm < 0.2)
            continue;
        set.images.insert(set.images.end(), x.begin(), x.end());
        set.labels.push_back(dot > 0 ? 1 : 0);
        ++set.count;
    }
    return set;
}

bool sameValues(const ParamSet& a, const ParamSet& b)
{
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].name != b[i].name || a[i].shape != b[i].shape || a[i].values != b[i].values)
            return false;
    }
    return true;
}

torch::Tensor logitsOf(const Model& model, const torch::Tensor& x)
{
    torch::NoGradGuard noGrad;
    model.net().setTraining(false);
    return model.net().forward(x);
}

// --- architecture names and recipes -------------------------------------------------------

TEST(ArchitectureTest, NamesRoundTrip)
{
    for (Architecture arch : {Architecture::LogisticRegression, Architecture::Mlp, Architecture::Cnn,
                              Architecture::ResNet9, Architecture::TorchScript})
        EXPECT_EQ(parseArchitecture(toString(arch)), arch);
    EXPECT_EQ(toString(Architecture::ResNet9), "resnet9");
    try {
        parseArchitecture("vgg");
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("vgg"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("resnet9"), std::string::npos);
    }
}

TEST(TrainRecipeTest, StandardSettingsFollowTheNotes)
{
    const TrainRecipe lr = TrainRecipe::standardFor(Architecture::LogisticRegression);
    EXPECT_EQ(lr.optimizer, "sgd");
    EXPECT_DOUBLE_EQ(lr.lr, 0.01);
    EXPECT_DOUBLE_EQ(lr.momentum, 0.0);
    EXPECT_EQ(lr.epochs, 20);
    EXPECT_EQ(lr.batchSize, 32);
    const TrainRecipe mlp = TrainRecipe::standardFor(Architecture::Mlp);
    EXPECT_DOUBLE_EQ(mlp.momentum, 0.9);
    EXPECT_EQ(mlp.epochs, 50);
    EXPECT_EQ(mlp.batchSize, 64);
    for (Architecture arch : {Architecture::Cnn, Architecture::ResNet9}) {
        const TrainRecipe r = TrainRecipe::standardFor(arch);
        EXPECT_DOUBLE_EQ(r.lr, 0.01);
        EXPECT_DOUBLE_EQ(r.momentum, 0.9);
        EXPECT_EQ(r.epochs, 10);
        EXPECT_EQ(r.batchSize, 64);
        EXPECT_DOUBLE_EQ(r.weightDecay, 0.0);
        EXPECT_EQ(r.seed, 0u);
        EXPECT_EQ(r.checkpoints, 1);
        EXPECT_NO_THROW(r.validate());
    }
}

TEST(TrainRecipeTest, ValidateNamesTheBadField)
{
    auto expectError = [](const TrainRecipe& r, const std::string& field) {
        try {
            r.validate();
            ADD_FAILURE() << "expected ConfigError for " << field;
        } catch (const ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find("'" + field + "'"), std::string::npos) << e.what();
        }
    };
    TrainRecipe r;
    EXPECT_NO_THROW(r.validate());
    r.optimizer = "rmsprop";
    expectError(r, "optimizer");
    r = {};
    r.lr = 0.0;
    expectError(r, "lr");
    r.lr = std::nan("");
    expectError(r, "lr");
    r.lr = INFINITY;
    expectError(r, "lr");
    r = {};
    r.momentum = 1.0;
    expectError(r, "momentum");
    r.momentum = -0.1;
    expectError(r, "momentum");
    r = {};
    r.batchSize = 0;
    expectError(r, "batch_size");
    r = {};
    r.epochs = 0;
    expectError(r, "epochs");
    r = {};
    r.weightDecay = -1e-4;
    expectError(r, "weight_decay");
    r = {};
    r.checkpoints = 0;
    expectError(r, "checkpoints");
    r.checkpoints = kMaxCheckpoints + 1;
    expectError(r, "checkpoints");
    r.checkpoints = r.epochs + 1; // inside epochs: bounded by the run's steps, which trainModel checks
    EXPECT_NO_THROW(r.validate());
    r = {};
    r.optimizer = "adam";
    r.checkpoints = r.epochs;
    EXPECT_NO_THROW(r.validate());
    r = {};
    r.optimizer = "nesterov";
    expectError(r, "momentum"); // Nesterov needs momentum
    r.momentum = 0.9;
    EXPECT_NO_THROW(r.validate());
    r = {};
    r.optimizer = "adamw";
    EXPECT_NO_THROW(r.validate());
    for (const char* bad : {"linear", "step:", "step:3", "step:3:", "step:5,3:0.1", "step:0:0.1", "step:3:-1",
                            "step:3:x", "step:a,3:0.1"}) {
        r = {};
        r.schedule = bad;
        expectError(r, "schedule");
    }
    r = {};
    r.schedule = "step:5,10:0.1";
    EXPECT_NO_THROW(r.validate());
    r.warmupEpochs = static_cast<double>(r.epochs);
    expectError(r, "warmup_epochs");
    r.warmupEpochs = -1;
    expectError(r, "warmup_epochs");
    for (const char* bad : {"flip", "", "hflip,", ",hflip", "hflip,hflip", "none,hflip", "crop", "crop:", "crop:0",
                            "crop:65", "crop:x", "crop:-2", "crop:2,crop:3", "crop:2.5", "HFLIP"}) {
        r = {};
        r.augment = bad;
        expectError(r, "augment");
    }
    for (const char* good : {"none", "hflip", "crop:4", "hflip,crop:2", "crop:2,hflip", "crop:64"}) {
        r = {};
        r.augment = good;
        EXPECT_NO_THROW(r.validate()) << good;
    }
    r = {};
    r.optimizer = "lbfgs";
    r.lr = 1.0;
    r.augment = "hflip";
    expectError(r, "augment"); // full batch, no augmentation
    EXPECT_FALSE(Augmentation::parse("none").any());
    const Augmentation both = Augmentation::parse("crop:3,hflip");
    EXPECT_TRUE(both.hflip);
    EXPECT_EQ(both.cropPadding, 3);
}

// lbfgs takes no momentum, schedule, warm-up or batch size, and only lbfgs takes a tolerance:
// each refused value names its field; a file switching to lbfgs does not inherit SGD's rate.
TEST(TrainRecipeTest, LbfgsRefusesWhatItWouldIgnoreNamingTheField)
{
    auto expectError = [](const TrainRecipe& r, const std::string& field, const std::string& why) {
        try {
            r.validate();
            ADD_FAILURE() << "expected ConfigError for " << field;
        } catch (const ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find("'" + field + "'"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
        }
    };
    TrainRecipe lbfgs;
    lbfgs.optimizer = "lbfgs";
    lbfgs.lr = 1.0;
    EXPECT_NO_THROW(lbfgs.validate());
    EXPECT_TRUE(lbfgs.converged());
    EXPECT_DOUBLE_EQ(lbfgs.tolerance, kDefaultTolerance);
    TrainRecipe r = lbfgs;
    r.momentum = 0.9;
    expectError(r, "momentum", "0 for lbfgs");
    r = lbfgs;
    r.schedule = "cosine";
    expectError(r, "schedule", "constant for lbfgs");
    r = lbfgs;
    r.warmupEpochs = 1;
    expectError(r, "warmup_epochs", "0 for lbfgs");
    for (double bad : {0.0, -1e-5, std::nan(""), std::numeric_limits<double>::infinity()}) {
        r = lbfgs;
        r.tolerance = bad;
        expectError(r, "tolerance", "a finite number > 0");
    }
    r = lbfgs;
    r.tolerance = 1e-8;
    EXPECT_NO_THROW(r.validate());
    r.optimizer = "sgd";
    expectError(r, "tolerance", "lbfgs");
    r = {};
    r.optimizer = "bfgs";
    expectError(r, "optimizer", "lbfgs");

    auto fileError = [](const std::string& text, TrainRecipe base, const std::vector<std::string>& parts) {
        try {
            TrainRecipe::fromJson(JsonObject::parse(text, "r.json"), base);
            ADD_FAILURE() << "expected ConfigError for " << text;
        } catch (const ConfigError& e) {
            for (const std::string& part : parts)
                EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
        }
    };
    fileError(R"({"optimizer": "lbfgs", "batch_size": 64})", TrainRecipe{},
              {"r.json", "'batch_size' must be absent for lbfgs", "full batch"});
    fileError(R"({"optimizer": "lbfgs", "momentum": 0.9})", TrainRecipe{}, {"r.json", "'momentum'"});
    fileError(R"({"optimizer": "lbfgs", "schedule": "cosine"})", TrainRecipe{}, {"r.json", "'schedule'"});
    fileError(R"({"tolerance": 1e-6})", TrainRecipe{}, {"r.json", "'tolerance'", "sgd"});
    fileError(R"({"optimizer": "lbfgs", "tolerance": -1})", TrainRecipe{}, {"r.json", "'tolerance'"});

    // From the MLP's standard recipe (SGD 0.01, momentum 0.9): lr 1 and momentum 0 unless given.
    const TrainRecipe mlp = TrainRecipe::standardFor(Architecture::Mlp);
    const TrainRecipe read = TrainRecipe::fromJson(
        JsonObject::parse(R"({"optimizer": "lbfgs", "epochs": 300, "weight_decay": 1e-3, "tolerance": 2e-6})",
                          "r.json"),
        mlp);
    EXPECT_EQ(read.optimizer, "lbfgs");
    EXPECT_DOUBLE_EQ(read.lr, 1.0);
    EXPECT_DOUBLE_EQ(read.momentum, 0.0);
    EXPECT_EQ(read.epochs, 300);
    EXPECT_DOUBLE_EQ(read.weightDecay, 1e-3);
    EXPECT_DOUBLE_EQ(read.tolerance, 2e-6);
    const TrainRecipe slow =
        TrainRecipe::fromJson(JsonObject::parse(R"({"optimizer": "lbfgs", "lr": 0.5})", "r.json"), mlp);
    EXPECT_DOUBLE_EQ(slow.lr, 0.5);
}

// The schedules' multipliers, stepped per optimizer step: cosine from 1 to 0 after the warm-up,
// step decay from the listed epochs on, a linear warm-up; the sum is the run's integrated step
// size in units of lr.
TEST(TrainRecipeTest, SchedulesMultiplyTheRateStepByStep)
{
    TrainRecipe r;
    r.epochs = 10;
    EXPECT_TRUE(r.constantRate());
    EXPECT_DOUBLE_EQ(r.lrMultiplierSum(4, 40), 40.0);
    r.schedule = "cosine";
    EXPECT_FALSE(r.constantRate());
    EXPECT_DOUBLE_EQ(r.lrMultiplier(0, 4, 40), 1.0);
    EXPECT_NEAR(r.lrMultiplier(20, 4, 40), 0.5, 1e-12);
    EXPECT_NEAR(r.lrMultiplier(39, 4, 40), 0.5 * (1 + std::cos(M_PI * 39 / 40)), 1e-12);
    EXPECT_NEAR(r.lrMultiplierSum(4, 40), 20.5, 1e-9); // Σ_t ½(1 + cos(πt/40)), t = 0..39
    r.warmupEpochs = 2;                                // 8 warm-up steps, then cosine over the remaining 32
    for (int64_t t = 0; t < 8; ++t)
        EXPECT_NEAR(r.lrMultiplier(t, 4, 40), (t + 1) / 8.0, 1e-12);
    EXPECT_DOUBLE_EQ(r.lrMultiplier(8, 4, 40), 1.0);
    EXPECT_NEAR(r.lrMultiplier(24, 4, 40), 0.5, 1e-12);
    r.warmupEpochs = 0;
    r.schedule = "step:3,6:0.1";
    EXPECT_DOUBLE_EQ(r.lrMultiplier(11, 4, 40), 1.0);   // epoch 2
    EXPECT_NEAR(r.lrMultiplier(12, 4, 40), 0.1, 1e-15); // epoch 3
    EXPECT_NEAR(r.lrMultiplier(24, 4, 40), 0.01, 1e-15);
    EXPECT_NEAR(r.lrMultiplierSum(4, 40), 12 + 12 * 0.1 + 16 * 0.01, 1e-12);
    EXPECT_EQ(r.scheduleText(), "step:3,6:0.1");
    r.warmupEpochs = 1;
    EXPECT_EQ(r.scheduleText(), "step:3,6:0.1 after 1 warm-up epoch");
}

// onecycle against PyTorch 1.13's own OneCycleLR, stepped once per optimizer step
// (tests/fixtures/make_onecycle_reference.py), and a few rates worked out by hand from its
// definition: lr/25 at step 0, lr at step 0.3·T − 1, cosine down to lr/25/1e4 at step T − 1.
TEST(TrainRecipeTest, OneCycleFollowsPyTorch)
{
    TrainRecipe r;
    r.schedule = "onecycle";
    r.epochs = 10;
    EXPECT_NO_THROW(r.validate());
    EXPECT_FALSE(r.constantRate());
    // T = 10: the peak at step 2, halfway up at step 1: 1 + (1/25 − 1)/2 · (cos(π/2) + 1) = 0.52.
    EXPECT_NEAR(r.lrMultiplier(0, 1, 10), 1.0 / 25.0, 1e-15);
    EXPECT_NEAR(r.lrMultiplier(1, 1, 10), 0.52, 1e-15);
    EXPECT_NEAR(r.lrMultiplier(2, 1, 10), 1.0, 1e-15);
    EXPECT_NEAR(r.lrMultiplier(9, 1, 10), 1.0 / 25.0 / 1e4, 1e-18);
    // Halfway down (steps 2 → 9, at 5.5): the mean of 1 and the minimum.
    const double mid = 0.5 * (1.0 + 4e-6);
    EXPECT_NEAR(r.lrMultiplier(5, 1, 10), mid + 0.5 * (1 - 4e-6) * std::cos(M_PI * 3.0 / 7.0), 1e-15);

    std::ifstream in(test::fixture("onecycle_reference.txt"));
    ASSERT_TRUE(in) << "missing fixture onecycle_reference.txt";
    std::string line;
    int rows = 0;
    std::map<int64_t, double> sums;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#')
            continue;
        std::istringstream row(line);
        int64_t total = 0, step = 0;
        double rate = 0;
        ASSERT_TRUE(row >> total >> step >> rate) << line;
        // Steps per epoch do not enter onecycle: any divisor of the run gives the same rate.
        EXPECT_NEAR(r.lrMultiplier(step, 1, total), rate, 1e-13) << "T " << total << " step " << step;
        EXPECT_NEAR(r.lrMultiplier(step, total, total), rate, 1e-13) << "T " << total << " step " << step;
        sums[total] += rate;
        ++rows;
    }
    EXPECT_EQ(rows, 222);
    for (const auto& [total, sum] : sums)
        EXPECT_NEAR(r.lrMultiplierSum(1, total), sum, 1e-11) << "T " << total;
    EXPECT_EQ(r.scheduleText(), "onecycle");
    // onecycle warms up itself; a warm-up of ours on top is refused, naming the field.
    r.warmupEpochs = 1;
    try {
        r.validate();
        ADD_FAILURE() << "expected ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("'warmup_epochs'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("onecycle"), std::string::npos) << e.what();
    }
}

// A recipe file: every field, each key's type, ranges checked by validate() and reported with the
// file's name; fields it does not hold keep the base recipe's values.
TEST(TrainRecipeTest, FromJsonReadsEveryFieldStrictly)
{
    const JsonObject all = JsonObject::parse(
        R"({"optimizer": "nesterov", "lr": 0.05, "momentum": 0.9, "batch_size": 64, "epochs": 12,
            "weight_decay": 5e-4, "schedule": "cosine", "warmup_epochs": 1.5, "seed": 18446744073709551615,
            "checkpoints": 4, "augment": "hflip,crop:2"})",
        "r.json");
    const TrainRecipe r = TrainRecipe::fromJson(all, TrainRecipe{});
    EXPECT_EQ(r.optimizer, "nesterov");
    EXPECT_DOUBLE_EQ(r.lr, 0.05);
    EXPECT_DOUBLE_EQ(r.momentum, 0.9);
    EXPECT_EQ(r.batchSize, 64);
    EXPECT_EQ(r.epochs, 12);
    EXPECT_DOUBLE_EQ(r.weightDecay, 5e-4);
    EXPECT_EQ(r.schedule, "cosine");
    EXPECT_DOUBLE_EQ(r.warmupEpochs, 1.5);
    EXPECT_EQ(r.seed, 18446744073709551615ull);
    EXPECT_EQ(r.checkpoints, 4);
    EXPECT_EQ(r.augment, "hflip,crop:2");
    EXPECT_EQ(TrainRecipe::jsonKeys().size(), 12u);
    for (const std::string& key : TrainRecipe::jsonKeys())
        EXPECT_TRUE(all.has(key) || key == "tolerance") << key; // tolerance: lbfgs only, below

    TrainRecipe base;
    base.lr = 0.3;
    base.epochs = 7;
    const TrainRecipe partial =
        TrainRecipe::fromJson(JsonObject::parse(R"({"batch_size": 8})", "p.json"), base);
    EXPECT_EQ(partial.batchSize, 8);
    EXPECT_DOUBLE_EQ(partial.lr, 0.3);
    EXPECT_EQ(partial.epochs, 7);

    auto expectError = [](const std::string& text, const std::vector<std::string>& parts) {
        try {
            TrainRecipe::fromJson(JsonObject::parse(text, "bad.json"), TrainRecipe{});
            ADD_FAILURE() << "expected ConfigError for " << text;
        } catch (const ConfigError& e) {
            for (const std::string& part : parts)
                EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
        }
    };
    expectError(R"({"learning_rate": 0.1})", {"bad.json", "unknown key 'learning_rate'", "batch_size"});
    expectError(R"({"batch-size": 8})", {"bad.json", "unknown key 'batch-size'"});
    expectError(R"({"lr": "0.1"})", {"bad.json", "'lr' must be a number", "\"0.1\""});
    expectError(R"({"epochs": 2.5})", {"bad.json", "'epochs' must be an integer"});
    expectError(R"({"batch_size": true})", {"bad.json", "'batch_size' must be an integer"});
    expectError(R"({"seed": -1})", {"bad.json", "'seed' must be an integer >= 0"});
    expectError(R"({"optimizer": null})", {"bad.json", "'optimizer' must be a string", "null"});
    expectError(R"({"schedule": 1})", {"bad.json", "'schedule' must be a string"});
    expectError(R"({"checkpoints": 99999999999999999999})", {"bad.json", "'checkpoints'", "64 bits"});
    expectError(R"({"lr": 1e999})", {"bad.json", "'lr' must be a finite number"});
    // Out of range: validate()'s message, with the file in front.
    expectError(R"({"lr": 0})", {"bad.json: training recipe: 'lr' must be a finite number > 0"});
    expectError(R"({"momentum": 1})", {"bad.json", "'momentum' must be in [0, 1)"});
    expectError(R"({"batch_size": 0})", {"bad.json", "'batch_size' must be >= 1"});
    expectError(R"({"epochs": 0})", {"bad.json", "'epochs' must be >= 1"});
    expectError(R"({"weight_decay": -1})", {"bad.json", "'weight_decay'"});
    expectError(R"({"optimizer": "rmsprop"})", {"bad.json", "'optimizer'", "rmsprop"});
    expectError(R"({"schedule": "linear"})", {"bad.json", "'schedule'", "onecycle"});
    expectError(R"({"checkpoints": 0})", {"bad.json", "'checkpoints'"});
    expectError(R"({"augment": "rotate"})", {"bad.json", "'augment'", "hflip,crop:P"});
    expectError(R"({"schedule": "onecycle", "warmup_epochs": 1})",
                {"bad.json", "'warmup_epochs'", "onecycle"});
    expectError(R"({"epochs": 2, "warmup_epochs": 2})",
                {"bad.json", "'warmup_epochs' must be in [0, epochs)"});
    // A nested recipe (a manifest's) names its key path.
    try {
        const JsonObject m = JsonObject::parse(R"({"recipe": {"lr": -1}})", "m.json", {"recipe"});
        TrainRecipe::fromJson(m.getObject("recipe"), TrainRecipe{});
        ADD_FAILURE() << "expected ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("m.json: training recipe: 'recipe.lr'"), std::string::npos)
            << e.what();
    }
}

// --- zoo ----------------------------------------------------------------------------------

TEST(ZooTest, OutputShapesAndParameterCounts)
{
    const InputShape mnist{1, 28, 28};
    const InputShape cifar{3, 32, 32};
    struct Case {
        Architecture arch;
        InputShape input;
        int64_t params;
    };
    // Counts worked out by hand from the layer sizes.
    const Case cases[] = {
        {Architecture::LogisticRegression, mnist, 784 * 10 + 10},                   // 7850
        {Architecture::Mlp, mnist, 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10}, // 109386
        {Architecture::Cnn, mnist,
         (1 * 16 * 9 + 16) + (16 * 32 * 9 + 32) + (32 * 7 * 7 * 64 + 64) + (64 * 10 + 10)},
        {Architecture::ResNet9, cifar,
         9 * (3 * 64 + 64 * 128 + 2 * 128 * 128 + 128 * 256 + 256 * 512 + 2 * 512 * 512) // bias-free convs
             + 2 * (64 + 128 + 128 + 128 + 256 + 512 + 512 + 512)                        // BatchNorm
             + 512 * 10 + 10},                                                           // fc
    };
    EXPECT_EQ(cases[0].params, 7850);
    EXPECT_EQ(cases[1].params, 109386);
    for (const Case& c : cases) {
        const Model model = Model::create(c.arch, c.input, 10, 0);
        EXPECT_EQ(model.parameterCount(), c.params) << toString(c.arch);
        EXPECT_EQ(model.architecture(), c.arch);
        EXPECT_EQ(model.inputShape(), c.input);
        EXPECT_EQ(model.numClasses(), 10);
        const torch::Tensor out =
            logitsOf(model, torch::rand({2, c.input.channels, c.input.height, c.input.width}));
        ASSERT_EQ(out.dim(), 2);
        EXPECT_EQ(out.size(0), 2);
        EXPECT_EQ(out.size(1), 10) << toString(c.arch);
        int64_t layerParams = 0;
        for (const LayerInfo& layer : model.layers())
            layerParams += layer.parameterCount;
        EXPECT_EQ(layerParams, c.params) << toString(c.arch);
        EXPECT_NO_THROW(model.checkCompatible(c.input, 10));
    }
}

TEST(ZooTest, ResNet9TakesCifarBatches)
{
    const Model model = Model::create(Architecture::ResNet9, {3, 32, 32}, 2, 3);
    const torch::Tensor out = logitsOf(model, torch::randn({2, 3, 32, 32}));
    EXPECT_EQ(out.sizes().vec(), (std::vector<int64_t>{2, 2}));
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
    EXPECT_EQ(model.buffers().size(), 3u * 8u); // mean, var, count of 8 BatchNorms
}

TEST(ZooTest, LayersInForwardOrder)
{
    const Model mlp = Model::create(Architecture::Mlp, {1, 28, 28}, 10, 0);
    const auto layers = mlp.layers();
    ASSERT_EQ(layers.size(), 3u);
    EXPECT_EQ(layers[0].name, "fc1");
    EXPECT_EQ(layers[1].name, "fc2");
    EXPECT_EQ(layers[2].name, "fc3");
    EXPECT_EQ(layers[0].kind, "Linear");
    EXPECT_EQ(layers[0].parameterCount, 784 * 128 + 128);
    EXPECT_TRUE(layers[2].perSampleExact);

    const Model cnn = Model::create(Architecture::Cnn, {3, 32, 32}, 10, 0);
    const auto cnnLayers = cnn.layers();
    ASSERT_EQ(cnnLayers.size(), 4u);
    EXPECT_EQ(cnnLayers[0].name, "conv1");
    EXPECT_EQ(cnnLayers[0].kind, "Conv2d");
    EXPECT_EQ(cnnLayers[2].name, "fc1");
    EXPECT_EQ(cnnLayers[2].parameterCount, 32 * 8 * 8 * 64 + 64);

    const Model resnet = Model::create(Architecture::ResNet9, {3, 32, 32}, 10, 0);
    int bn = 0;
    for (const LayerInfo& layer : resnet.layers()) {
        if (layer.kind == "BatchNorm2d") {
            ++bn;
            EXPECT_FALSE(layer.perSampleExact);
        }
    }
    EXPECT_EQ(bn, 8);
}

TEST(ZooTest, RejectsImagesTooSmall)
{
    EXPECT_THROW(Model::create(Architecture::ResNet9, {3, 4, 4}, 10, 0), ConfigError);
    EXPECT_THROW(Model::create(Architecture::Cnn, {1, 2, 2}, 10, 0), ConfigError);
    EXPECT_THROW(Model::create(Architecture::TorchScript, {1, 28, 28}, 10, 0), ConfigError);
}

TEST(ZooTest, SameSeedSameWeightsDifferentSeedDifferent)
{
    for (Architecture arch :
         {Architecture::LogisticRegression, Architecture::Mlp, Architecture::Cnn, Architecture::ResNet9}) {
        const InputShape input =
            arch == Architecture::ResNet9 ? InputShape{3, 32, 32} : InputShape{1, 28, 28};
        const ParamSet a = Model::create(arch, input, 10, 42).parameters();
        const ParamSet b = Model::create(arch, input, 10, 42).parameters();
        const ParamSet c = Model::create(arch, input, 10, 43).parameters();
        EXPECT_TRUE(sameValues(a, b)) << toString(arch);
        EXPECT_FALSE(sameValues(a, c)) << toString(arch);
    }
}

TEST(ZooTest, ParallelCreationIsDeterministic)
{
    const InputShape input{1, 28, 28};
    std::vector<ParamSet> sequential;
    for (uint64_t seed = 0; seed < 4; ++seed)
        sequential.push_back(Model::create(Architecture::Mlp, input, 10, seed).parameters());
    std::vector<ParamSet> parallel(4);
    std::vector<std::thread> threads;
    for (int round = 0; round < 3; ++round) {
        threads.clear();
        for (uint64_t seed = 0; seed < 4; ++seed)
            threads.emplace_back([&, seed] {
                parallel[seed] = Model::create(Architecture::Mlp, input, 10, seed).parameters();
            });
        for (auto& t : threads)
            t.join();
        for (size_t i = 0; i < 4; ++i)
            EXPECT_TRUE(sameValues(parallel[i], sequential[i])) << "seed " << i << " round " << round;
    }
}

// --- parameters ---------------------------------------------------------------------------

TEST(ModelTest, ParameterRoundTripGivesIdenticalLogits)
{
    const Model source = Model::create(Architecture::Cnn, {1, 28, 28}, 10, 1);
    Model target = Model::create(Architecture::Cnn, {1, 28, 28}, 10, 2);
    const torch::Tensor x = torch::rand({3, 1, 28, 28});
    ASSERT_FALSE(torch::equal(logitsOf(source, x), logitsOf(target, x)));
    target.setParameters(source.parameters(), source.buffers());
    EXPECT_TRUE(torch::equal(logitsOf(source, x), logitsOf(target, x)));
    EXPECT_TRUE(sameValues(source.parameters(), target.parameters()));
}

TEST(ModelTest, BufferRoundTripRestoresBatchNormStatistics)
{
    // One epoch of training moves the BatchNorm running statistics away from their defaults.
    const Model init = Model::create(Architecture::ResNet9, {3, 8, 8}, 2, 0);
    TrainRecipe recipe;
    recipe.epochs = 1;
    recipe.batchSize = 4;
    NullProgress progress;
    const TrainResult trained =
        trainModel(init, recipe, randomSet(8, {3, 8, 8}, 2, 1), progress, CancelToken());
    ASSERT_FALSE(sameValues(trained.model.buffers(), init.buffers()));

    Model restored = Model::create(Architecture::ResNet9, {3, 8, 8}, 2, 5);
    restored.setParameters(trained.checkpoints.back().params, trained.checkpoints.back().buffers);
    EXPECT_TRUE(sameValues(restored.buffers(), trained.model.buffers()));
    const torch::Tensor x = torch::rand({4, 3, 8, 8});
    EXPECT_TRUE(torch::equal(logitsOf(restored, x), logitsOf(trained.model, x)));
}

TEST(ModelTest, SetParametersRejectsMismatchAndLeavesModelUnchanged)
{
    Model model = Model::create(Architecture::LogisticRegression, {1, 28, 28}, 10, 0);
    const ParamSet original = model.parameters();

    ParamSet wrongShape = original;
    wrongShape[0].shape = {10, 783};
    wrongShape[0].values.resize(7830);
    wrongShape[1].values.assign(10, 1.0f); // a valid change that must not be applied
    try {
        model.setParameters(wrongShape);
        FAIL() << "expected FormatError";
    } catch (const FormatError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("fc.weight"), std::string::npos) << msg;
        EXPECT_NE(msg.find("783"), std::string::npos) << msg;
    }
    EXPECT_TRUE(sameValues(model.parameters(), original));

    ParamSet wrongName = original;
    wrongName[1].name = "fc.offset";
    EXPECT_THROW(model.setParameters(wrongName), FormatError);

    ParamSet missing = original;
    missing.pop_back();
    EXPECT_THROW(model.setParameters(missing), FormatError);

    ParamSet wrongCount = original;
    wrongCount[1].values.pop_back();
    EXPECT_THROW(model.setParameters(wrongCount), FormatError);

    EXPECT_THROW(model.setParameters(original, original), FormatError); // LR has no buffers
    EXPECT_TRUE(sameValues(model.parameters(), original));
}

TEST(ModelTest, CloneIsIndependent)
{
    const Model model = Model::create(Architecture::Mlp, {1, 28, 28}, 10, 0);
    const ParamSet original = model.parameters();
    Model copy = model.clone();
    EXPECT_TRUE(sameValues(copy.parameters(), original));
    copy.reinitialize(99);
    EXPECT_FALSE(sameValues(copy.parameters(), original));
    EXPECT_TRUE(sameValues(model.parameters(), original));
}

TEST(ModelTest, ReinitializeEqualsFreshModel)
{
    Model model = Model::create(Architecture::Cnn, {1, 28, 28}, 10, 1);
    model.reinitialize(5);
    EXPECT_TRUE(
        sameValues(model.parameters(), Model::create(Architecture::Cnn, {1, 28, 28}, 10, 5).parameters()));
}

TEST(ModelTest, CheckCompatibleRejectsOtherData)
{
    const Model model = Model::create(Architecture::LogisticRegression, {1, 28, 28}, 10, 0);
    EXPECT_NO_THROW(model.checkCompatible({1, 28, 28}, 10));
    EXPECT_THROW(model.checkCompatible({3, 32, 32}, 10), ConfigError);
    EXPECT_THROW(model.checkCompatible({1, 28, 28}, 2), ConfigError);
}

// --- training and evaluation ----------------------------------------------------------------

/// Records what a job reports; optionally cancels after a number of advances.
class RecordingProgress final : public ProgressSink {
public:
    explicit RecordingProgress(CancelToken token = CancelToken(), int64_t cancelAfter = -1)
        : m_token(token), m_cancelAfter(cancelAfter)
    {
    }
    void begin(const std::string& stage, int64_t total) override
    {
        stages.push_back(stage);
        totals.push_back(total);
    }
    void advance(int64_t done) override
    {
        advances.push_back(done);
        if (static_cast<int64_t>(advances.size()) == m_cancelAfter)
            m_token.cancel();
    }
    void message(const std::string& text) override { messages.push_back(text); }
    void metric(const Metric& m) override { metrics.push_back(m); }

    std::vector<std::string> stages;
    std::vector<Metric> metrics;
    std::vector<int64_t> totals;
    std::vector<int64_t> advances;
    std::vector<std::string> messages;

private:
    CancelToken m_token;
    int64_t m_cancelAfter;
};

TEST(TrainerTest, SameSeedSameResult)
{
    const ImageSet train = randomSet(200, {1, 28, 28}, 10, 7);
    const Model init = Model::create(Architecture::LogisticRegression, {1, 28, 28}, 10, 0);
    const ParamSet initParams = init.parameters();
    TrainRecipe recipe = TrainRecipe::standardFor(Architecture::LogisticRegression);
    recipe.epochs = 2;
    NullProgress progress;
    const TrainResult a = trainModel(init, recipe, train, progress, CancelToken());
    const TrainResult b = trainModel(init, recipe, train, progress, CancelToken());
    EXPECT_TRUE(sameValues(a.model.parameters(), b.model.parameters()));
    EXPECT_EQ(a.epochLoss, b.epochLoss);
    EXPECT_FALSE(sameValues(a.model.parameters(), initParams));
    EXPECT_TRUE(sameValues(init.parameters(), initParams)) << "init must not be modified";

    // Another seed shuffles differently.
    recipe.seed = 1;
    const TrainResult c = trainModel(init, recipe, train, progress, CancelToken());
    EXPECT_FALSE(sameValues(a.model.parameters(), c.model.parameters()));
}

// The trainer follows the schedule: a second epoch at a rate of 1e-12 leaves the first epoch's
// model (the shuffling of the first epoch does not depend on the schedule), and Nesterov and AdamW
// train differently from SGD and Adam.
TEST(TrainerTest, FollowsTheScheduleAndTheOptimizer)
{
    const ImageSet train = randomSet(200, {1, 28, 28}, 10, 7);
    const Model init = Model::create(Architecture::LogisticRegression, {1, 28, 28}, 10, 0);
    TrainRecipe recipe = TrainRecipe::standardFor(Architecture::LogisticRegression);
    recipe.epochs = 1;
    NullProgress progress;
    const TrainResult one = trainModel(init, recipe, train, progress, CancelToken());
    recipe.epochs = 2;
    recipe.schedule = "step:1:1e-12";
    const TrainResult decayed = trainModel(init, recipe, train, progress, CancelToken());
    recipe.schedule = "constant";
    const TrainResult two = trainModel(init, recipe, train, progress, CancelToken());
    const ParamSet a = one.model.parameters(), b = decayed.model.parameters(), c = two.model.parameters();
    ASSERT_EQ(a.size(), b.size());
    double stepped = 0, frozen = 0;
    for (size_t i = 0; i < a.size(); ++i)
        for (size_t j = 0; j < a[i].values.size(); ++j) {
            frozen = std::max(frozen, static_cast<double>(std::abs(a[i].values[j] - b[i].values[j])));
            stepped = std::max(stepped, static_cast<double>(std::abs(a[i].values[j] - c[i].values[j])));
        }
    EXPECT_LT(frozen, 1e-6);
    EXPECT_GT(stepped, 1e-3);
    EXPECT_FLOAT_EQ(decayed.checkpoints.back().lr, static_cast<float>(recipe.lr * 1e-12));

    recipe.schedule = "constant";
    recipe.momentum = 0.9;
    const TrainResult heavyBall = trainModel(init, recipe, train, progress, CancelToken());
    recipe.optimizer = "nesterov";
    const TrainResult nesterov = trainModel(init, recipe, train, progress, CancelToken());
    EXPECT_FALSE(sameValues(heavyBall.model.parameters(), nesterov.model.parameters()));
    recipe.optimizer = "adam";
    recipe.lr = 1e-3;
    recipe.weightDecay = 0.1;
    const TrainResult adam = trainModel(init, recipe, train, progress, CancelToken());
    recipe.optimizer = "adamw";
    const TrainResult adamw = trainModel(init, recipe, train, progress, CancelToken());
    EXPECT_FALSE(sameValues(adam.model.parameters(), adamw.model.parameters()));
}

// Each augmented image is one of the (2P + 1)² crops of the padded image, mirrored or not, with
// the set's black level in the padding; every crop offset and both flips occur, about equally
// often; the draws follow the generator only.
TEST(TrainerTest, AugmentationCropsAndFlipsEachImage)
{
    ImageSet set;
    set.channels = 2;
    set.height = 3;
    set.width = 4;
    set.blackLevel = {-0.5f, -2.0f};
    const int64_t n = 600, size = set.imageSize();
    std::vector<float> values(static_cast<size_t>(n * size));
    for (size_t i = 0; i < values.size(); ++i)
        values[i] = static_cast<float>(i % 1000) + 1.0f; // distinct within an image, never a black level
    const torch::Tensor x = torch::from_blob(values.data(), {n, 2, 3, 4}, torch::kFloat).clone();
    const int64_t pad = 2;
    const Augmentation aug = Augmentation::parse("hflip,crop:2");
    std::mt19937_64 rng(5);
    const torch::Tensor out = augmentBatch(x, aug, set, rng);
    ASSERT_EQ(out.sizes(), x.sizes());
    std::mt19937_64 again(5);
    EXPECT_TRUE(torch::equal(augmentBatch(x, aug, set, again), out));

    // The expected image for one draw, from the definition.
    const auto expected = [&](int64_t b, bool flip, int64_t top, int64_t left) {
        std::vector<float> img(static_cast<size_t>(size));
        for (int64_t c = 0; c < 2; ++c)
            for (int64_t r = 0; r < 3; ++r)
                for (int64_t q = 0; q < 4; ++q) {
                    const int64_t srcRow = r + top - pad, srcCol = (flip ? 3 - q : q) + left - pad;
                    img[static_cast<size_t>((c * 3 + r) * 4 + q)] =
                        srcRow >= 0 && srcRow < 3 && srcCol >= 0 && srcCol < 4
                            ? values[static_cast<size_t>(b * size + (c * 3 + srcRow) * 4 + srcCol)]
                            : set.blackLevel[static_cast<size_t>(c)];
                }
        return img;
    };
    std::map<std::tuple<bool, int64_t, int64_t>, int> seen;
    for (int64_t b = 0; b < n; ++b) {
        const float* got = out.data_ptr<float>() + b * size;
        int matches = 0;
        for (bool flip : {false, true})
            for (int64_t top = 0; top <= 2 * pad; ++top)
                for (int64_t left = 0; left <= 2 * pad; ++left) {
                    const std::vector<float> want = expected(b, flip, top, left);
                    if (std::equal(want.begin(), want.end(), got)) {
                        ++matches;
                        ++seen[{flip, top, left}];
                    }
                }
        EXPECT_EQ(matches, 1) << "image " << b;
    }
    EXPECT_EQ(seen.size(), 50u); // 2 flips × 5 × 5 offsets, each about 12 times in 600 draws
    for (const auto& [draw, count] : seen)
        EXPECT_GE(count, 2);

    // Without a crop, a flip is an exact mirror and nothing else.
    std::mt19937_64 flips(1);
    const torch::Tensor mirrored = augmentBatch(x, Augmentation::parse("hflip"), set, flips);
    int64_t flipped = 0;
    for (int64_t b = 0; b < n; ++b) {
        const bool same = torch::equal(mirrored[b], x[b]);
        EXPECT_TRUE(same || torch::equal(mirrored[b], x[b].flip({2}))) << b;
        flipped += same ? 0 : 1;
    }
    EXPECT_NEAR(static_cast<double>(flipped) / n, 0.5, 0.08);
}

// Augmentation draws from its own generator: training on left-right symmetric images with hflip
// gives the unaugmented model bit for bit (same batches, mirrored images equal); on other images it
// trains a different model; a crop at least as large as the image is a clear error.
TEST(TrainerTest, AugmentationKeepsTheBatchesAndChangesTheImages)
{
    ImageSet train = randomSet(120, {1, 6, 6}, 3, 4);
    ImageSet symmetric = train;
    for (int64_t i = 0; i < symmetric.count; ++i)
        for (int64_t r = 0; r < 6; ++r)
            for (int64_t q = 3; q < 6; ++q)
                symmetric.images[static_cast<size_t>(i * 36 + r * 6 + q)] =
                    symmetric.images[static_cast<size_t>(i * 36 + r * 6 + 5 - q)];
    const Model init = Model::create(Architecture::Mlp, {1, 6, 6}, 3, 0);
    TrainRecipe recipe;
    recipe.lr = 0.05;
    recipe.batchSize = 16;
    recipe.epochs = 2;
    NullProgress progress;
    const TrainResult plainSymmetric = trainModel(init, recipe, symmetric, progress, CancelToken());
    const TrainResult plain = trainModel(init, recipe, train, progress, CancelToken());
    recipe.augment = "hflip";
    EXPECT_TRUE(sameValues(trainModel(init, recipe, symmetric, progress, CancelToken()).model.parameters(),
                           plainSymmetric.model.parameters()));
    const TrainResult flipped = trainModel(init, recipe, train, progress, CancelToken());
    EXPECT_FALSE(sameValues(flipped.model.parameters(), plain.model.parameters()));
    EXPECT_TRUE(sameValues(trainModel(init, recipe, train, progress, CancelToken()).model.parameters(),
                           flipped.model.parameters()));
    recipe.augment = "crop:1";
    EXPECT_FALSE(sameValues(trainModel(init, recipe, train, progress, CancelToken()).model.parameters(),
                            plain.model.parameters()));
    recipe.augment = "crop:6";
    try {
        trainModel(init, recipe, train, progress, CancelToken());
        ADD_FAILURE() << "expected ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("'augment' crop:6"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("6×6"), std::string::npos) << e.what();
    }
}

TEST(TrainerTest, ObserverSeesTheRunAtEvenlySpacedMarksWithoutChangingIt)
{
    const ImageSet train = randomSet(50, {1, 8, 8}, 3, 9);
    const Model init = Model::create(Architecture::Cnn, {1, 8, 8}, 3, 2); // BatchNorm: modes matter
    TrainRecipe recipe = TrainRecipe::standardFor(Architecture::Cnn);
    recipe.batchSize = 10;
    recipe.epochs = 4; // 20 steps
    NullProgress progress;
    std::vector<int64_t> steps;
    std::vector<double> firstLogit;
    TrainObserver observer;
    observer.marks = 4;
    observer.atMark = [&](const Model& model, int64_t step, int64_t total) {
        EXPECT_EQ(total, 20);
        steps.push_back(step);
        // Evaluation mode during the call: the same logits twice, running statistics untouched.
        const std::vector<double> a = perSampleLoss(model, train), b = perSampleLoss(model, train);
        EXPECT_EQ(a, b);
        firstLogit.push_back(a[0]);
    };
    const TrainResult observed = trainModel(init, recipe, train, progress, CancelToken(), &observer);
    EXPECT_EQ(steps, (std::vector<int64_t>{3, 8, 13, 18})); // round((j − ½)·20/4)
    EXPECT_NE(firstLogit.front(), firstLogit.back());
    const TrainResult plain = trainModel(init, recipe, train, progress, CancelToken());
    EXPECT_TRUE(sameValues(observed.model.parameters(), plain.model.parameters()));
    EXPECT_TRUE(sameValues(observed.model.buffers(), plain.model.buffers()));
}

TEST(TrainerTest, LearnsLinearlySeparableProblem)
{
    const ImageSet train = separableSet(400, 1);
    const ImageSet test = separableSet(200, 2);
    const Model init = Model::create(Architecture::LogisticRegression, {1, 4, 4}, 2, 0);
    const double before = evaluateModel(init, test).accuracy;
    TrainRecipe recipe;
    recipe.lr = 0.1;
    recipe.momentum = 0.9;
    recipe.batchSize = 16;
    recipe.epochs = 20;
    NullProgress progress;
    const TrainResult result = trainModel(init, recipe, train, progress, CancelToken());
    ASSERT_EQ(result.epochLoss.size(), 20u);
    EXPECT_LT(result.epochLoss.back(), result.epochLoss.front());
    EXPECT_GE(evaluateModel(result.model, train).accuracy, 0.97);
    EXPECT_GE(evaluateModel(result.model, test).accuracy, 0.95);
    EXPECT_LT(before, 0.95);

    recipe.optimizer = "adam";
    recipe.lr = 0.05;
    const TrainResult adam = trainModel(init, recipe, train, progress, CancelToken());
    EXPECT_GE(evaluateModel(adam.model, test).accuracy, 0.95);
}

TEST(TrainerTest, CheckpointsAreEvenlySpacedAndLastIsFinal)
{
    const ImageSet train = randomSet(20, {1, 4, 4}, 3, 0);
    const Model init = Model::create(Architecture::Mlp, {1, 4, 4}, 3, 0);
    TrainRecipe recipe;
    recipe.epochs = 20;
    recipe.checkpoints = 4;
    recipe.lr = 0.05;
    recipe.batchSize = 8;
    RecordingProgress progress;
    const TrainResult result = trainModel(init, recipe, train, progress, CancelToken());
    ASSERT_EQ(result.checkpoints.size(), 4u);
    const int64_t expected[] = {5, 10, 15, 20};
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(result.checkpoints[i].epoch, expected[i]);
        EXPECT_EQ(result.checkpoints[i].step, 3 * expected[i]); // 20 points in batches of 8: 3 steps an epoch
        EXPECT_DOUBLE_EQ(result.checkpoints[i].epochsAt(3), static_cast<double>(expected[i]));
        EXPECT_DOUBLE_EQ(result.checkpoints[i].lr, 0.05);
    }
    EXPECT_FALSE(sameValues(result.checkpoints[0].params, result.checkpoints[1].params));
    EXPECT_TRUE(sameValues(result.checkpoints.back().params, result.model.parameters()));

    EXPECT_EQ(progress.stages, std::vector<std::string>{"train"});
    EXPECT_EQ(progress.totals, std::vector<int64_t>{20});
    ASSERT_EQ(progress.advances.size(), 20u);
    EXPECT_EQ(progress.advances.front(), 1);
    EXPECT_EQ(progress.advances.back(), 20);
    ASSERT_EQ(progress.messages.size(), 20u);
    EXPECT_NE(progress.messages.front().find("loss"), std::string::npos);
    // The loss per epoch arrives typed (what the GUI's chart draws), equal to the result's.
    ASSERT_EQ(progress.metrics.size(), 20u);
    for (size_t e = 0; e < 20; ++e) {
        EXPECT_EQ(progress.metrics[e].name, "train_loss");
        EXPECT_EQ(progress.metrics[e].step, static_cast<int64_t>(e) + 1);
        EXPECT_EQ(progress.metrics[e].steps, 20);
        EXPECT_EQ(progress.metrics[e].value, result.epochLoss[e]);
    }

    recipe.epochs = 10;
    recipe.checkpoints = 3;
    const TrainResult uneven = trainModel(init, recipe, train, progress, CancelToken());
    ASSERT_EQ(uneven.checkpoints.size(), 3u);
    EXPECT_EQ(uneven.checkpoints[0].epoch, 3);
    EXPECT_EQ(uneven.checkpoints[1].epoch, 6);
    EXPECT_EQ(uneven.checkpoints[2].epoch, 10);
}

// More checkpoints than epochs: after evenly spaced optimizer steps, inside epochs; the one that
// falls on an epoch's end is the epoch-end checkpoint of the same run; more than the run's steps
// is a clear error.
TEST(TrainerTest, CheckpointsInsideEpochsFollowTheSteps)
{
    const ImageSet train = randomSet(20, {1, 4, 4}, 3, 0);
    const Model init = Model::create(Architecture::Mlp, {1, 4, 4}, 3, 0);
    TrainRecipe recipe;
    recipe.epochs = 2;
    recipe.lr = 0.05;
    recipe.batchSize = 8; // 3 steps an epoch, 6 in all
    recipe.checkpoints = 5;
    RecordingProgress progress;
    const TrainResult fine = trainModel(init, recipe, train, progress, CancelToken());
    ASSERT_EQ(fine.checkpoints.size(), 5u);
    const int64_t steps[] = {1, 2, 3, 4, 6}; // ⌊c·6/5⌋
    for (size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(fine.checkpoints[i].step, steps[i]);
        EXPECT_EQ(fine.checkpoints[i].epoch, steps[i] / 3);
        EXPECT_DOUBLE_EQ(fine.checkpoints[i].epochsAt(3), static_cast<double>(steps[i]) / 3.0);
    }
    EXPECT_FALSE(sameValues(fine.checkpoints[0].params, fine.checkpoints[1].params));
    EXPECT_TRUE(sameValues(fine.checkpoints.back().params, fine.model.parameters()));

    recipe.checkpoints = 2;
    const TrainResult coarse = trainModel(init, recipe, train, progress, CancelToken());
    ASSERT_EQ(coarse.checkpoints.size(), 2u);
    EXPECT_TRUE(sameValues(coarse.checkpoints[0].params, fine.checkpoints[2].params));
    EXPECT_TRUE(sameValues(coarse.model.parameters(), fine.model.parameters()));

    recipe.checkpoints = 7;
    try {
        trainModel(init, recipe, train, progress, CancelToken());
        FAIL() << "7 checkpoints in 6 steps were accepted";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("at most the run's 6 optimizer steps"), std::string::npos)
            << e.what();
    }
}

TEST(TrainerTest, CancelTokenStopsTraining)
{
    const ImageSet train = randomSet(64, {1, 8, 8}, 2, 0);
    const Model init = Model::create(Architecture::Mlp, {1, 8, 8}, 2, 0);
    TrainRecipe recipe;
    recipe.epochs = 5;
    CancelToken token;
    RecordingProgress progress(token, /*cancelAfter=*/1);
    EXPECT_THROW(trainModel(init, recipe, train, progress, token), Cancelled);
    EXPECT_EQ(progress.advances, std::vector<int64_t>{1}); // stopped in the second epoch

    CancelToken already;
    already.cancel();
    NullProgress quiet;
    EXPECT_THROW(trainModel(init, recipe, train, quiet, already), Cancelled);
}

TEST(TrainerTest, DivergenceIsReported)
{
    ImageSet train = randomSet(64, {1, 4, 4}, 2, 0);
    for (float& v : train.images)
        v *= 1e10f;
    const Model init = Model::create(Architecture::LogisticRegression, {1, 4, 4}, 2, 0);
    TrainRecipe recipe;
    recipe.lr = 1e30;
    recipe.batchSize = 8;
    NullProgress progress;
    try {
        trainModel(init, recipe, train, progress, CancelToken());
        FAIL() << "expected divergence";
    } catch (const Cancelled&) {
        FAIL() << "not a cancellation";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("training diverged at epoch 1 batch"), std::string::npos) << msg;
        EXPECT_NE(msg.find("lower --lr"), std::string::npos) << msg;
    }
}

// --- lbfgs: trained to convergence ----------------------------------------------------------

/// The gradient of F(W, b) = mean cross-entropy of the linear model (W: classes × pixels, b) on
/// `set` + wd/2·(‖W‖² + ‖b‖²), in double from the float parameters: written out by hand,
/// (1/n) Σ_i (softmax(W x_i + b) − e_{y_i}) [x_i; 1]ᵀ + wd·θ, independent of Torch.
std::vector<double> linearObjectiveGradient(const ParamSet& params, const ImageSet& set, double wd)
{
    const ParamTensor* weight = nullptr;
    const ParamTensor* bias = nullptr;
    for (const ParamTensor& p : params)
        (p.shape.size() == 2 ? weight : bias) = &p;
    EXPECT_TRUE(weight && bias);
    const int64_t classes = weight->shape[0], d = weight->shape[1];
    EXPECT_EQ(d, set.imageSize());
    std::vector<double> gw(static_cast<size_t>(classes * d), 0.0), gb(static_cast<size_t>(classes), 0.0);
    std::vector<double> z(static_cast<size_t>(classes));
    for (int64_t i = 0; i < set.count; ++i) {
        const float* x = set.images.data() + i * d;
        double top = -INFINITY;
        for (int64_t c = 0; c < classes; ++c) {
            double v = bias->values[static_cast<size_t>(c)];
            for (int64_t j = 0; j < d; ++j)
                v += static_cast<double>(weight->values[static_cast<size_t>(c * d + j)]) * x[j];
            z[static_cast<size_t>(c)] = v;
            top = std::max(top, v);
        }
        double sum = 0.0;
        for (double& v : z)
            sum += (v = std::exp(v - top));
        for (int64_t c = 0; c < classes; ++c) {
            const double r = (z[static_cast<size_t>(c)] / sum - (set.labels[static_cast<size_t>(i)] == c ? 1.0 : 0.0))
                             / static_cast<double>(set.count);
            gb[static_cast<size_t>(c)] += r;
            for (int64_t j = 0; j < d; ++j)
                gw[static_cast<size_t>(c * d + j)] += r * x[j];
        }
    }
    // The weight's gradient, then the bias's, each with its decay term (parameter order does not matter
    // for the norms the tests take).
    std::vector<double> g;
    for (size_t k = 0; k < gw.size(); ++k)
        g.push_back(gw[k] + wd * weight->values[k]);
    for (size_t k = 0; k < gb.size(); ++k)
        g.push_back(gb[k] + wd * bias->values[k]);
    return g;
}

double maxAbs(const std::vector<double>& v)
{
    double m = 0.0;
    for (double x : v)
        m = std::max(m, std::abs(x));
    return m;
}

TrainRecipe lbfgsRecipe(int64_t cap, double wd, double tolerance)
{
    TrainRecipe r;
    r.optimizer = "lbfgs";
    r.lr = 1.0;
    r.epochs = cap;
    r.weightDecay = wd;
    r.tolerance = tolerance;
    return r;
}

// Full-batch L-BFGS stops where the objective's gradient is within the tolerance, checked here
// from the returned model's parameters by hand; it is deterministic, keeps the checkpoints it
// reaches (the last is the final model), and a run stopped by its cap says it did not converge.
TEST(TrainerTest, LbfgsReachesTheToleranceAndSaysWhenItDoesNot)
{
    const ImageSet train = randomSet(200, {1, 4, 4}, 3, 5);
    const Model init = Model::create(Architecture::LogisticRegression, {1, 4, 4}, 3, 0);
    TrainRecipe recipe = lbfgsRecipe(200, 0.01, 1e-4);
    recipe.checkpoints = 4; // after iterations 50, 100, 150 and 200 of the cap: those reached
    RecordingProgress progress;
    const TrainResult a = trainModel(init, recipe, train, progress, CancelToken());
    EXPECT_TRUE(a.converged);
    EXPECT_LE(a.gradientMaxAbs, 1e-4);
    ASSERT_GT(a.iterations, 2);
    EXPECT_LT(a.iterations, 50) << "a 51-parameter strictly convex problem";
    // The gradient of the objective at the returned parameters, independently: within the
    // tolerance, up to float32 rounding of what the trainer measured.
    const std::vector<double> g = linearObjectiveGradient(a.model.parameters(), train, 0.01);
    EXPECT_LE(maxAbs(g), 1e-4 + 1e-6) << "after " << a.iterations << " iterations";
    EXPECT_NEAR(maxAbs(g), a.gradientMaxAbs, 1e-6);
    // Far from the initial model's gradient: it did train.
    EXPECT_GT(maxAbs(linearObjectiveGradient(init.parameters(), train, 0.01)), 100 * maxAbs(g));
    EXPECT_EQ(static_cast<int64_t>(a.epochLoss.size()), a.iterations);
    ASSERT_EQ(a.checkpoints.size(), 1u) << "converged before iteration 50: only the final model";
    EXPECT_EQ(a.checkpoints.back().step, a.iterations);
    EXPECT_TRUE(sameValues(a.checkpoints.back().params, a.model.parameters()));
    ASSERT_FALSE(progress.messages.empty());
    EXPECT_NE(progress.messages.back().find("L-BFGS converged after " + std::to_string(a.iterations)),
              std::string::npos)
        << progress.messages.back();
    EXPECT_EQ(progress.stages, std::vector<std::string>{"train (L-BFGS)"});

    NullProgress quiet;
    const TrainResult b = trainModel(init, recipe, train, quiet, CancelToken());
    EXPECT_TRUE(sameValues(a.model.parameters(), b.model.parameters()));
    EXPECT_EQ(a.iterations, b.iterations);

    // Capped at 3 iterations: the third iterate, said not to be a minimiser, with checkpoints
    // after iterations 1, 2 and 3.
    TrainRecipe capped = lbfgsRecipe(3, 0.01, 1e-4);
    capped.checkpoints = 3;
    RecordingProgress short_;
    const TrainResult c = trainModel(init, capped, train, short_, CancelToken());
    EXPECT_FALSE(c.converged);
    EXPECT_EQ(c.iterations, 3);
    EXPECT_GT(c.gradientMaxAbs, 1e-4);
    EXPECT_NEAR(maxAbs(linearObjectiveGradient(c.model.parameters(), train, 0.01)), c.gradientMaxAbs, 1e-6);
    ASSERT_EQ(c.checkpoints.size(), 3u);
    for (int64_t k = 0; k < 3; ++k)
        EXPECT_EQ(c.checkpoints[static_cast<size_t>(k)].step, k + 1);
    EXPECT_TRUE(sameValues(c.checkpoints.back().params, c.model.parameters()));
    ASSERT_FALSE(short_.messages.empty());
    EXPECT_NE(short_.messages.back().find("did NOT converge"), std::string::npos) << short_.messages.back();
    EXPECT_NE(short_.messages.back().find("(the cap, --epochs)"), std::string::npos) << short_.messages.back();

    recipe.checkpoints = 201;
    EXPECT_THROW(trainModel(init, recipe, train, quiet, CancelToken()), ConfigError);
}

// Cancelled between iterations; a step into overflow is reported as divergence.
TEST(TrainerTest, LbfgsCancelsAndReportsDivergence)
{
    const ImageSet train = randomSet(64, {1, 4, 4}, 2, 0);
    const Model init = Model::create(Architecture::LogisticRegression, {1, 4, 4}, 2, 0);
    CancelToken token;
    RecordingProgress progress(token, /*cancelAfter=*/2);
    EXPECT_THROW(trainModel(init, lbfgsRecipe(100, 0.0, 1e-9), train, progress, token), Cancelled);
    EXPECT_EQ(progress.advances, (std::vector<int64_t>{1, 2}));

    ImageSet huge = train;
    for (float& v : huge.images)
        v *= 1e10f;
    TrainRecipe wild = lbfgsRecipe(10, 0.0, 1e-9);
    wild.lr = 1e30;
    NullProgress quiet;
    try {
        trainModel(init, wild, huge, quiet, CancelToken());
        FAIL() << "expected divergence";
    } catch (const Cancelled&) {
        FAIL() << "not a cancellation";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("training diverged at L-BFGS iteration"), std::string::npos) << e.what();
    }
}

// With weight decay the objective is wd-strongly convex, so its minimiser θ* is unique and any θ
// has ‖θ − θ*‖₂ ≤ ‖∇F(θ)‖₂/wd. tests/fixtures/make_lbfgs_reference.py ran torch.optim.LBFGS
// (strong Wolfe, max_iter 1 per call, as the app) from pt_lr.pt on pt_data.h5 and computed θ* in
// float64. The app's solution must lie within its own bound of θ*, with ‖∇F‖ computed here
// independently, and within the sum of both bounds of PyTorch's float32 solution.
TEST(TrainerTest, LbfgsMatchesPyTorchsLbfgs)
{
    std::ifstream in(test::fixture("lbfgs_reference.txt"));
    ASSERT_TRUE(in) << "missing fixture lbfgs_reference.txt";
    double wd = 0, tolerance = 0, pytorchGradNorm = 0, pytorchGradMax = 0;
    int64_t pytorchIterations = 0;
    std::map<std::string, std::vector<std::pair<double, double>>> reference; // name → (PyTorch, θ*)
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string key;
        fields >> key;
        if (key == "wd")
            fields >> wd;
        else if (key == "tolerance")
            fields >> tolerance;
        else if (key == "pytorch")
            fields >> pytorchIterations >> pytorchGradMax >> pytorchGradNorm;
        else if (key == "param") {
            std::string name;
            size_t index = 0;
            double torchValue = 0, exact = 0;
            fields >> name >> index >> torchValue >> exact;
            auto& values = reference[name];
            ASSERT_EQ(values.size(), index);
            values.emplace_back(torchValue, exact);
        }
    }
    ASSERT_GT(wd, 0.0);
    ASSERT_EQ(reference.size(), 2u);

    DataOptions options;
    options.spec = "h5:" + test::fixture("pt_data.h5");
    options.trainSize = -1;
    options.testSize = -1;
    const DataBundle data = loadData(options);
    const Model init = Model::importTorchScript(test::fixture("pt_lr.pt"));
    NullProgress quiet;
    const TrainResult trained = trainModel(init, lbfgsRecipe(500, wd, tolerance), data.train, quiet, CancelToken());
    ASSERT_TRUE(trained.converged) << trained.gradientMaxAbs;
    // Iteration counts of the same algorithm from the same start in the same precision agree up to
    // rounding's effect on the line search.
    EXPECT_NEAR(static_cast<double>(trained.iterations), static_cast<double>(pytorchIterations), 5.0);

    const ParamSet params = trained.model.parameters();
    const std::vector<double> g = linearObjectiveGradient(params, data.train, wd);
    double gradNorm = 0.0;
    for (double v : g)
        gradNorm += v * v;
    gradNorm = std::sqrt(gradNorm);
    EXPECT_LE(maxAbs(g), tolerance + 1e-6);
    double toExact = 0.0, toTorch = 0.0, worst = 0.0;
    for (const ParamTensor& p : params) {
        ASSERT_TRUE(reference.count(p.name)) << p.name;
        const auto& ref = reference.at(p.name);
        ASSERT_EQ(ref.size(), p.values.size()) << p.name;
        for (size_t i = 0; i < ref.size(); ++i) {
            toTorch += std::pow(p.values[i] - ref[i].first, 2);
            toExact += std::pow(p.values[i] - ref[i].second, 2);
            worst = std::max(worst, std::abs(p.values[i] - ref[i].first));
        }
    }
    toExact = std::sqrt(toExact);
    toTorch = std::sqrt(toTorch);
    // θ* is itself within 1.4e-6 of the float64 run's result (its max |g| <= 1e-9, 195 parameters).
    EXPECT_LE(toExact, gradNorm / wd + 2e-6);
    EXPECT_LE(toTorch, gradNorm / wd + pytorchGradNorm / wd + 2e-6);
    std::printf("app: %lld iterations, max |g| %.3g, |g| %.3g; PyTorch: %lld iterations, |g| %.3g; "
                "|theta - theta*| %.3g (bound %.3g), |theta - theta_pytorch| %.3g (max %.3g)\n",
                static_cast<long long>(trained.iterations), maxAbs(g), gradNorm,
                static_cast<long long>(pytorchIterations), pytorchGradNorm, toExact, gradNorm / wd, toTorch, worst);
}

TEST(TrainerTest, RejectsDataOfAnotherShape)
{
    const Model init = Model::create(Architecture::LogisticRegression, {1, 28, 28}, 10, 0);
    NullProgress progress;
    EXPECT_THROW(trainModel(init, TrainRecipe(), randomSet(10, {3, 32, 32}, 10, 0), progress, CancelToken()),
                 ConfigError);
    EXPECT_THROW(trainModel(init, TrainRecipe(), randomSet(30, {1, 28, 28}, 12, 0), progress, CancelToken()),
                 ConfigError);
    TrainRecipe bad;
    bad.batchSize = 0;
    EXPECT_THROW(trainModel(init, bad, randomSet(10, {1, 28, 28}, 10, 0), progress, CancelToken()),
                 ConfigError);
}

TEST(EvalTest, ZeroWeightsGiveUniformPredictions)
{
    Model model = Model::create(Architecture::LogisticRegression, {1, 28, 28}, 10, 0);
    ParamSet zeros = model.parameters();
    for (ParamTensor& p : zeros)
        std::fill(p.values.begin(), p.values.end(), 0.0f);
    model.setParameters(zeros);
    const ImageSet set = randomSet(25, {1, 28, 28}, 10, 3); // labels 0..9, 0..9, 0..4
    for (double loss : perSampleLoss(model, set))
        EXPECT_NEAR(loss, std::log(10.0), 1e-6);
    for (int64_t label : predictLabels(model, set))
        EXPECT_EQ(label, 0); // argmax of equal logits: the first
    const EvalMetrics metrics = evaluateModel(model, set);
    EXPECT_NEAR(metrics.meanLoss, std::log(10.0), 1e-6);
    EXPECT_DOUBLE_EQ(metrics.accuracy, 3.0 / 25.0);
}

TEST(EvalTest, MatchesBruteForceAcrossBatches)
{
    // 1500 samples span two evaluation batches; logits recomputed here in double precision.
    const int64_t n = 1500, d = 16, k = 3;
    const ImageSet set = randomSet(n, {1, 4, 4}, k, 11);
    const Model model = Model::create(Architecture::LogisticRegression, {1, 4, 4}, k, 4);
    const ParamSet params = model.parameters();
    const std::vector<float>& w = params[0].values; // k×d
    const std::vector<float>& b = params[1].values;
    const auto losses = perSampleLoss(model, set);
    const auto predicted = predictLabels(model, set);
    ASSERT_EQ(losses.size(), static_cast<size_t>(n));
    ASSERT_EQ(predicted.size(), static_cast<size_t>(n));
    double lossSum = 0.0;
    int64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) {
        std::vector<double> z(k);
        for (int64_t c = 0; c < k; ++c) {
            z[c] = b[c];
            for (int64_t j = 0; j < d; ++j)
                z[c] += double(w[c * d + j]) * set.images[i * d + j];
        }
        const double zmax = *std::max_element(z.begin(), z.end());
        double sum = 0.0;
        for (double v : z)
            sum += std::exp(v - zmax);
        const double loss = zmax + std::log(sum) - z[set.labels[i]];
        const int64_t argmax = std::max_element(z.begin(), z.end()) - z.begin();
        EXPECT_NEAR(losses[i], loss, 1e-5);
        EXPECT_EQ(predicted[i], argmax);
        lossSum += loss;
        correct += argmax == set.labels[i];
    }
    const EvalMetrics metrics = evaluateModel(model, set);
    EXPECT_NEAR(metrics.meanLoss, lossSum / n, 1e-6);
    EXPECT_DOUBLE_EQ(metrics.accuracy, double(correct) / n);
}

// --- layer trace ----------------------------------------------------------------------------

/// Runs a traced forward/backward and checks each record against the layer it belongs to:
/// recomputing the layer from the recorded input gives the recorded output, and for Linear
/// layers Σ_n gradOut_n ⊗ input_n equals the weight gradient.
void checkTrace(Architecture arch, InputShape input, size_t expectedLayers)
{
    SCOPED_TRACE(toString(arch));
    const Model model = Model::create(arch, input, 5, 0);
    Net& net = model.net();
    net.setTraining(false);
    const auto layers = net.tracedLayers();
    ASSERT_EQ(layers.size(), expectedLayers);
    for (const auto& [name, tensor] : net.namedParameters()) {
        if (tensor.grad().defined())
            tensor.mutable_grad().zero_();
    }
    LayerTrace trace;
    const torch::Tensor x = torch::rand({3, input.channels, input.height, input.width});
    const torch::Tensor logits = net.forward(x, &trace);
    ASSERT_EQ(trace.inputs.size(), expectedLayers);
    ASSERT_EQ(trace.outputs.size(), expectedLayers);
    logits.pow(2).sum().backward();
    for (size_t i = 0; i < layers.size(); ++i) {
        SCOPED_TRACE(layers[i].name);
        const torch::Tensor& in = trace.inputs[i];
        const torch::Tensor& out = trace.outputs[i];
        ASSERT_TRUE(in.defined());
        ASSERT_TRUE(out.grad().defined()) << "output gradient retained";
        EXPECT_EQ(in.size(0), 3);
        EXPECT_EQ(out.size(0), 3);
        EXPECT_EQ(out.size(1), layers[i].weight.size(0));
        torch::NoGradGuard noGrad;
        if (layers[i].kind == "Linear") {
            EXPECT_EQ(in.size(1), layers[i].weight.size(1));
            EXPECT_TRUE(
                torch::allclose(torch::nn::functional::linear(in, layers[i].weight, layers[i].bias), out));
            const torch::Tensor grad = out.grad().t().mm(in);
            EXPECT_TRUE(torch::allclose(grad, layers[i].weight.grad(), 1e-4, 1e-5));
        } else {
            ASSERT_EQ(layers[i].kind, "Conv2d");
            EXPECT_EQ(in.size(1), layers[i].weight.size(1) * layers[i].groups);
            EXPECT_EQ(layers[i].kernel, (std::vector<int64_t>{3, 3}));
            const torch::Tensor again =
                torch::conv2d(in, layers[i].weight, layers[i].bias, layers[i].stride, layers[i].padding,
                              layers[i].dilation, layers[i].groups);
            EXPECT_TRUE(torch::allclose(again, out, 1e-4, 1e-5));
        }
    }
}

TEST(TraceTest, RecordsEveryTracedLayerOfEachZooModel)
{
    checkTrace(Architecture::LogisticRegression, {1, 28, 28}, 1);
    checkTrace(Architecture::Mlp, {1, 28, 28}, 3);
    checkTrace(Architecture::Cnn, {1, 28, 28}, 4);
    checkTrace(Architecture::ResNet9, {3, 32, 32}, 9);
}

TEST(TraceTest, RecordsOnlyEnabledLayers)
{
    const Model model = Model::create(Architecture::Mlp, {1, 28, 28}, 10, 0);
    LayerTrace trace;
    trace.enabled = {false, true, false};
    trace.retainGrad = false;
    model.net().forward(torch::rand({2, 1, 28, 28}), &trace);
    ASSERT_GE(trace.inputs.size(), 2u);
    EXPECT_TRUE(trace.inputs[1].defined());
    EXPECT_EQ(trace.inputs[1].sizes().vec(), (std::vector<int64_t>{2, 128}));
    EXPECT_EQ(trace.outputs[1].sizes().vec(), (std::vector<int64_t>{2, 64}));
    EXPECT_FALSE(trace.inputs[0].defined());
    if (trace.inputs.size() > 2) {
        EXPECT_FALSE(trace.inputs[2].defined());
    }
}

TEST(TraceTest, TensorConversionsRoundTrip)
{
    const torch::Tensor t = torch::arange(6, torch::kFloat).reshape({2, 3});
    const ParamTensor p = toParamTensor("w", t);
    EXPECT_EQ(p.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(p.values, (std::vector<float>{0, 1, 2, 3, 4, 5}));
    EXPECT_TRUE(torch::equal(fromParamTensor(p), t));
    ParamTensor bad = p;
    bad.values.pop_back();
    EXPECT_THROW(fromParamTensor(bad), FormatError);

    const ImageSet set = randomSet(5, {1, 2, 2}, 3, 0);
    const torch::Tensor rows = imagesTensor(set, 1, 3);
    EXPECT_EQ(rows.sizes().vec(), (std::vector<int64_t>{2, 1, 2, 2}));
    EXPECT_FLOAT_EQ(rows[0][0][0][0].item<float>(), set.images[4]);
    EXPECT_FLOAT_EQ(rows[1][0][1][1].item<float>(), set.images[11]);
    EXPECT_EQ(labelsTensor(set, 1, 3)[1].item<int64_t>(), 2);
    EXPECT_THROW(imagesTensor(set, 4, 6), Error);
}

} // namespace
} // namespace attri
