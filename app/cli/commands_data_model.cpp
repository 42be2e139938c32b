// Commands of the first stages: train, import, info, demo.
#include "arg_parser.h"
#include "commands.h"
#include "report.h"
#include "terminal_progress.h"

#include "common/error.h"
#include "common/json_object.h"
#include "data/data_loader.h"
#include "jobs/cancel_token.h"
#include "model/model.h"
#include "model/trainer.h"
#include "attribution/attribution_session.h"
#include "store/experiment_file.h"
#include "workflows/create_experiment.h"
#include "workflows/demo.h"
#include "workflows/import_manifest.h"

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <iostream>
#include <optional>
#include <sstream>
#include <utility>

namespace attri::cli {

namespace {

void addDataOptions(ArgParser& p, const std::string& normalizationDefault)
{
    p.option("data", "SPEC",
             "dataset: demo | fashion-mnist | mnist:DIR | fashion-mnist:DIR | cifar10:DIR | cifar2:DIR | h5:FILE",
             "demo")
        .option("train-size", "N", "training points to use, or 'all' (default: 5000, or all when there are fewer)")
        .option("test-size", "M", "test points to use, or 'all' (default: 500, or all when there are fewer)")
        .option("sample-seed", "S", "pick a seeded random subset instead of the first N/M points")
        .option("mean", "M[,M,M]", "per-channel mean subtracted after scaling to [0,1] (" + normalizationDefault + ")")
        .option("std", "S[,S,S]", "per-channel std divided after centring (" + normalizationDefault + ")")
        .flag("no-normalize", "keep images in [0,1] (no mean/std)");
}

/// "FILE.pt:epoch=E[:lr=L]"; the path may hold ':' itself, the fields are read from the end.
ImportedCheckpoint parseImportedCheckpoint(const std::string& spec)
{
    const std::string usage = "--checkpoint '" + spec + "': expected FILE.pt:epoch=E[:lr=L]";
    ImportedCheckpoint c;
    std::string rest = spec;
    auto number = [&](const std::string& text) {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !std::isfinite(v))
            throw ConfigError(usage + " ('" + text + "' is not a number)");
        return v;
    };
    if (const size_t at = rest.rfind(":lr="); at != std::string::npos && rest.find(":epoch=") < at) {
        c.lr = number(rest.substr(at + 4));
        if (!(c.lr > 0))
            throw ConfigError(usage + " (lr must be > 0)");
        rest.resize(at);
    }
    const size_t at = rest.rfind(":epoch=");
    if (at == std::string::npos || at == 0)
        throw ConfigError(usage);
    c.epoch = number(rest.substr(at + 7));
    c.path = rest.substr(0, at);
    return c;
}

int64_t parseSize(const ArgParser& p, const std::string& name)
{
    std::string v = p.get(name);
    if (v == "all")
        return -1;
    int64_t n = p.getInt(name);
    if (n <= 0)
        throw ConfigError("--" + name + " must be a positive integer or 'all', got '" + v + "'");
    return n;
}

std::vector<float> parseFloats(const std::string& option, const std::string& text)
{
    std::vector<float> values;
    for (const auto& item : splitList(text)) {
        char* end = nullptr;
        float v = std::strtof(item.c_str(), &end);
        if (item.empty() || *end != '\0' || !std::isfinite(v))
            throw ConfigError("--" + option + " expects comma-separated finite numbers, got '" + text + "'");
        values.push_back(v);
    }
    return values;
}

DataOptions readDataOptions(const ArgParser& p, bool standardNormalization)
{
    DataOptions o;
    o.spec = p.get("data");
    if (p.isSet("train-size"))
        o.trainSize = parseSize(p, "train-size");
    if (p.isSet("test-size"))
        o.testSize = parseSize(p, "test-size");
    o.trainSizeIsLimit = !p.isSet("train-size");
    o.testSizeIsLimit = !p.isSet("test-size");
    if (p.isSet("sample-seed"))
        o.sampleSeed = static_cast<uint64_t>(p.getInt("sample-seed"));
    DatasetSpec spec = DatasetSpec::parse(o.spec);
    if (standardNormalization) {
        o.mean = spec.standardMean();
        o.std = spec.standardStd();
    }
    if (p.isSet("mean"))
        o.mean = parseFloats("mean", p.get("mean"));
    if (p.isSet("std"))
        o.std = parseFloats("std", p.get("std"));
    if (p.isSet("no-normalize")) {
        o.mean.clear();
        o.std.clear();
    }
    if (o.mean.empty() != o.std.empty())
        throw ConfigError("--mean and --std must be given together");
    o.validate();
    return o;
}

void addRecipeOptions(ArgParser& p, bool withDefaults)
{
    auto d = [&](const char* text) { return withDefaults ? std::optional<std::string>(text) : std::nullopt; };
    // An imported run's recipe is the user's: what PyTorch itself defaults to, and no guesses for
    // what it has no default for.
    const bool imported = !withDefaults;
    p.option("recipe", "FILE.json",
             "the recipe as one flat JSON object whose keys are these options' names in snake_case (optimizer, lr, "
             "momentum, batch_size, epochs, weight_decay, schedule, warmup_epochs, seed, checkpoints, augment, tolerance); "
             "options given on the command line override its values")
        .option("optimizer", "sgd|nesterov|adam|adamw|lbfgs",
             std::string(imported ? "optimizer (default: sgd)" : "optimizer (default: the model's standard recipe)")
                 + "; nesterov is SGD with Nesterov momentum, adamw Adam with decoupled weight decay, as in "
                   "torch.optim; lbfgs trains to convergence: full-batch L-BFGS with a strong-Wolfe line search "
                   "(torch.optim.LBFGS(line_search_fn=\"strong_wolfe\")) on the mean loss + WD/2*|theta|^2 until "
                   "max |gradient| <= --tolerance, for at most --epochs iterations; --lr is its step scale "
                   "(default 1, as torch), and it takes no --batch-size, --momentum, --schedule or --warmup-epochs")
        .option("lr", "LR", imported ? "learning rate (required with a recipe)" : "learning rate (default: standard recipe)")
        .option("momentum", "M", imported ? "SGD momentum (default: 0, as torch.optim.SGD)" : "SGD momentum (default: standard recipe)")
        .option("batch-size", "B", imported ? "mini-batch size (required with a recipe)" : "mini-batch size (default: standard recipe)")
        .option("epochs", "E", std::string(imported ? "training epochs (required with a recipe)" : "training epochs (default: standard recipe)")
                                   + "; lbfgs: the cap on its iterations (max_iter)")
        .option("weight-decay", "WD", imported ? "L2 weight decay (default: 0, as torch.optim)" : "L2 weight decay (default: standard recipe)")
        .option("schedule", "constant|cosine|onecycle|step:E1,E2,...:GAMMA",
                "learning-rate schedule, stepped per optimizer step: cosine anneals to 0 over the steps after "
                "warm-up (CosineAnnealingLR); onecycle is OneCycleLR with max_lr = --lr and its defaults (lr/25 up "
                "to lr over 30% of the steps, then cosine down to lr/25/1e4; its momentum cycling is not modelled, "
                "so train with cycle_momentum=False; no --warmup-epochs); step multiplies by GAMMA from each "
                "listed epoch on (MultiStepLR)",
                d("constant"))
        .option("warmup-epochs", "W", "linear warm-up of the learning rate over the first W epochs (fractions allowed)",
                d("0"))
        .option("augment", "none|hflip|crop:P|hflip,crop:P",
                "data augmentation of the training batches, drawn per image and step from the seed: hflip mirrors "
                "an image left to right with probability 1/2 (RandomHorizontalFlip), crop:P pads it by P black pixels "
                "and cuts it back at a random offset (RandomCrop(size, padding=P)); attribution always uses the "
                "images as they are",
                d("none"))
        .option("tolerance", "T",
                "lbfgs only: stop when the objective's gradient has max |g| <= T (torch's tolerance_grad; "
                "default 1e-5: single precision rarely reaches much below)")
        .option("seed", "S", "initialization and shuffling seed", d("0"))
        .option("checkpoints", "C", "checkpoints kept, evenly spaced (for TracIn/TRAK and the rule path-match): at "
                "epoch ends when C <= epochs, after evenly spaced optimizer steps when C is larger; lbfgs: after "
                "iterations c*E/C of its cap E, those it reaches, and the final model");
}

bool anyRecipeOptionSet(const ArgParser& p)
{
    for (const char* name : {"recipe", "optimizer", "lr", "momentum", "batch-size", "epochs", "weight-decay",
                             "schedule", "warmup-epochs", "checkpoints", "augment", "tolerance"})
        if (p.isSet(name))
            return true;
    return false;
}

/// The recipe: the model's standard one (an import's: PyTorch's defaults), then `file`'s fields
/// (--recipe FILE.json or a manifest's "recipe"; it must be valid on its own), then the options
/// given on the command line.
TrainRecipe readRecipe(const ArgParser& p, Architecture arch, const std::optional<JsonObject>& file = std::nullopt)
{
    TrainRecipe r = arch == Architecture::TorchScript ? TrainRecipe::pytorchDefaults() : TrainRecipe::standardFor(arch);
    if (file)
        r = TrainRecipe::fromJson(*file, r);
    const auto given = [&](const char* option, const char* key) {
        return p.isSet(option) || (file && file->has(key));
    };
    const bool lbfgs = p.isSet("optimizer") ? p.get("optimizer") == "lbfgs" : r.converged();
    if (arch == Architecture::TorchScript) {
        std::string missing;
        using Names = std::vector<std::pair<const char*, const char*>>; // option, file key
        const Names needed = lbfgs ? Names{{"epochs", "epochs"}, {"tolerance", "tolerance"}}
                                   : Names{{"lr", "lr"}, {"epochs", "epochs"}, {"batch-size", "batch_size"}};
        for (const auto& [name, key] : needed)
            if (!given(name, key))
                missing += std::string(missing.empty() ? "" : ", ") + "--" + name;
        if (!missing.empty() && lbfgs)
            throw ConfigError("import: an lbfgs run's recipe needs --epochs (its cap on iterations, max_iter) and "
                              "--tolerance (its tolerance_grad) (missing: " + missing
                              + "), as options or in the recipe file (epochs, tolerance); --lr and --weight-decay "
                                "default to 1 and 0 as in PyTorch");
        if (!missing.empty())
            throw ConfigError("import: the run's recipe needs --lr, --epochs and --batch-size (missing: " + missing
                              + "), as options or in the recipe file (lr, epochs, batch_size); --optimizer, "
                                "--momentum and --weight-decay default to sgd, 0 and 0 as in PyTorch");
    }
    if (lbfgs) {
        // Full batch: a batch size would be ignored, so it is refused. The standard recipe's SGD
        // rate and momentum do not carry over: L-BFGS takes torch's lr 1 and no momentum.
        if (p.isSet("batch-size"))
            throw ConfigError("training recipe: --batch-size does not apply to --optimizer lbfgs, which trains on "
                              "the full batch");
        if (!given("lr", "lr"))
            r.lr = 1.0;
        if (!given("momentum", "momentum"))
            r.momentum = 0.0;
    }
    if (p.isSet("optimizer"))
        r.optimizer = p.get("optimizer");
    if (p.isSet("lr"))
        r.lr = p.getDouble("lr");
    if (p.isSet("momentum"))
        r.momentum = p.getDouble("momentum");
    if (p.isSet("batch-size"))
        r.batchSize = p.getInt("batch-size");
    if (p.isSet("epochs"))
        r.epochs = p.getInt("epochs");
    if (p.isSet("weight-decay"))
        r.weightDecay = p.getDouble("weight-decay");
    if (p.isSet("schedule"))
        r.schedule = p.get("schedule");
    if (p.isSet("warmup-epochs"))
        r.warmupEpochs = p.getDouble("warmup-epochs");
    if (p.isSet("seed"))
        r.seed = static_cast<uint64_t>(p.getInt("seed"));
    if (p.isSet("augment"))
        r.augment = p.get("augment");
    if (p.isSet("checkpoints"))
        r.checkpoints = p.getInt("checkpoints");
    if (p.isSet("tolerance"))
        r.tolerance = p.getDouble("tolerance");
    r.validate();
    return r;
}

/// --recipe FILE.json, when given.
std::optional<JsonObject> recipeFile(const ArgParser& p)
{
    if (!p.isSet("recipe"))
        return std::nullopt;
    return JsonObject::readFile(p.get("recipe"));
}

std::string formatMetrics(const ModelRecord& m)
{
    char line[256];
    std::snprintf(line, sizeof line, "train accuracy %.4f loss %.4f | test accuracy %.4f loss %.4f",
                  m.trainMetrics.accuracy, m.trainMetrics.meanLoss, m.testMetrics.accuracy, m.testMetrics.meanLoss);
    return line;
}


} // namespace

int runTrain(const Args& args, const CancelToken& cancel)
{
    ArgParser p("attriscope-cli train",
                "Trains a zoo model on a dataset with a recipe fully determined by its seed, and writes a new\n"
                "experiment file (data provenance, recipe, checkpoints, metrics).");
    addDataOptions(p, "default: the dataset's standard values");
    p.option("model", "lr|mlp|cnn|resnet9", "architecture", "lr");
    addRecipeOptions(p, true);
    p.option("out", "EXP.h5", "experiment file to create (replaced atomically if it exists)");
    if (!p.parse(args))
        return 0;
    Architecture arch = parseArchitecture(p.get("model"));
    if (arch == Architecture::TorchScript)
        throw ConfigError("train: use `attriscope-cli import` for TorchScript models");
    DataOptions data = readDataOptions(p, true);
    TrainRecipe recipe = readRecipe(p, arch, recipeFile(p));
    std::string out = p.get("out");
    TerminalProgress progress;
    ModelRecord record = trainExperiment(out, data, arch, recipe, progress, cancel);
    std::cout << "trained " << toString(arch) << " (" << record.parameterCount << " parameters) in "
              << record.trainSeconds << " s: " << formatMetrics(record) << "\n"
              << "wrote " << out << "\n";
    return 0;
}

int runImport(const Args& args, const CancelToken& cancel)
{
    ArgParser p("attriscope-cli import",
                "Imports a TorchScript module saved from PyTorch (torch.jit.save) with the data it was trained\n"
                "on, checks that it fits the data, evaluates it and writes a new experiment file. Give a recipe\n"
                "(--recipe FILE.json, --optimizer/--lr/--epochs/...) if ground truth will retrain it; without one,\n"
                "retraining is refused. --checkpoints-from DIR reads the model, initial weights, checkpoints and\n"
                "recipe from DIR/manifest.json (as docs/examples/train_in_pytorch.py writes it).");
    p.option("checkpoints-from", "DIR",
             "DIR/manifest.json: {\"model\": \"model.pt\", \"init\": \"init.pt\", \"checkpoints\": [{\"file\": "
             "\"epoch2.pt\", \"epoch\": 2, \"lr\": L}, ...], \"recipe\": {...as --recipe...}}, paths relative to DIR; "
             "only \"model\" is required. Stands for --torchscript, --init, --checkpoint and --recipe, which may "
             "not also be given for what it names; recipe options override its recipe's fields");
    p.option("torchscript", "MODEL.pt", "TorchScript file");
    p.option("init", "INIT.pt",
             "the same module saved before training (its initial weights): ground truth and `check` retrain from "
             "them (default: Kaiming-uniform weights and zero biases drawn from --seed)");
    p.repeatable("checkpoint", "FILE.pt:epoch=E[:lr=L]",
                 "the same module saved along the run after E epochs (fractional inside an epoch), in training "
                 "order and before the recipe's end, where MODEL.pt sits; L is the learning rate of the steps "
                 "before it (default: --lr). TracIn, TRAK's ensemble, unrolled and the path rules use them; "
                 "needs the recipe");
    addDataOptions(p, "default: none, as the model was exported");
    addRecipeOptions(p, false);
    p.option("out", "EXP.h5", "experiment file to create (replaced atomically if it exists)");
    if (!p.parse(args))
        return 0;
    ImportSources sources;
    std::optional<JsonObject> file = recipeFile(p);
    if (p.isSet("checkpoints-from")) {
        ImportManifest manifest = readImportManifest(p.get("checkpoints-from"));
        const auto conflict = [&](const char* option, const char* key) {
            throw ConfigError("import: --" + std::string(option) + " and " + manifest.path + " (its \"" + key
                              + "\") both give the " + (std::string(key) == "recipe" ? "recipe" : "run's files")
                              + "; give one");
        };
        if (p.isSet("torchscript"))
            conflict("torchscript", "model");
        if (p.isSet("init") && !manifest.sources.init.empty())
            conflict("init", "init");
        if (!p.getAll("checkpoint").empty())
            conflict("checkpoint", "checkpoints");
        if (file && manifest.recipe)
            conflict("recipe", "recipe");
        sources = std::move(manifest.sources);
        if (manifest.recipe)
            file = std::move(manifest.recipe);
    } else {
        sources.torchscript = p.get("torchscript");
        for (const std::string& spec : p.getAll("checkpoint"))
            sources.checkpoints.push_back(parseImportedCheckpoint(spec));
    }
    if (p.isSet("init"))
        sources.init = p.get("init");
    const std::string path = sources.torchscript;
    DataOptions dataOptions = readDataOptions(p, false);
    std::string out = p.get("out");

    TerminalProgress progress;
    std::optional<TrainRecipe> recipe;
    if (file || anyRecipeOptionSet(p))
        recipe = readRecipe(p, Architecture::TorchScript, file);
    ModelRecord record = importExperiment(out, sources, dataOptions, recipe, progress, cancel);
    Model model = rebuildModel(record);
    std::cout << "imported " << path << " (" << record.parameterCount << " parameters)\n";
    for (const auto& layer : model.layers())
        std::cout << "  " << layer.name << "  " << layer.kind << "  " << layer.parameterCount << " parameters"
                  << (layer.perSampleExact ? "  [exact per-sample gradients]" : "") << "\n";
    std::cout << formatMetrics(record) << "\nwrote " << out << "\n";
    return 0;
}

int runInfo(const Args& args, const CancelToken&)
{
    ArgParser p("attriscope-cli info", "Prints what an experiment file holds.");
    p.positional("EXP.h5", "experiment file");
    if (!p.parse(args))
        return 0;
    std::cout << describeExperimentFile(p.positionalValue("EXP.h5"));
    return 0;
}

int runDemo(const Args& args, const CancelToken& cancel)
{
    ArgParser p("attriscope-cli demo",
                "The main job on the embedded demo data, headless: trains logistic regression on the Fashion-MNIST\n"
                "demo subset (5000 train / 500 test), computes TRAK attributions (Kronecker projection, k = 256 and\n"
                "1024) with their λ × k sensitivity tables, recommends λ without retraining, and prints the top\n"
                "proponents and opponents of test image 0. Everything lands in OUTDIR/demo.h5.");
    p.option("out", "OUTDIR", "folder for the results", "attriscope-demo");
    if (!p.parse(args))
        return 0;
    DemoOptions options;
    options.path = (std::filesystem::path(p.get("out")) / "demo.h5").string();
    TerminalProgress progress;
    const DemoResult result = attri::runDemo(options, progress, cancel);
    const std::string& exp = options.path;
    std::cout << "demo: logistic regression on the embedded Fashion-MNIST subset: " << formatMetrics(result.model)
              << "\n";
    printAttributionSummary(result.attribution, exp);
    printRecommendation(result.recommendation, SelectorOptions{}.pathBudget);
    std::printf("stored in %s\n", exp.c_str());
    const auto session = AttributionSession::open(exp, "trak", result.recommendation.record.k, progress, cancel);
    printTopK(*session, 0, defaultLambda(*session), 5);
    std::cout << "\nresults: " << std::filesystem::absolute(exp).string()
              << "\n(open it with `attriscope " << exp << "`, `attriscope-cli info " << exp
              << "`, h5py or HDFView; figures: File > Export figure in the GUI)\n";
    return 0;
}

} // namespace attri::cli
