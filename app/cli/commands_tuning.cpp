// Commands of ground truth and the λ recommendation: lds, recommend, study.
#include "arg_parser.h"
#include "commands.h"
#include "report.h"
#include "terminal_progress.h"

#include "common/error.h"
#include "jobs/cancel_token.h"
#include "tuning/lambda_selector.h"
#include "workflows/lds_tables.h"
#include "workflows/recommend.h"
#include "workflows/study.h"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>

namespace attri::cli {

namespace {

std::vector<int64_t> parseInts(const std::string& option, const std::string& text)
{
    std::vector<int64_t> out;
    for (const auto& item : splitList(text)) {
        char* end = nullptr;
        long long v = std::strtoll(item.c_str(), &end, 10);
        if (*end != '\0' || v <= 0)
            throw ConfigError("--" + option + " expects comma-separated positive integers, got '" + text + "'");
        out.push_back(v);
    }
    return out;
}

LdsOptions readLdsOptions(const ArgParser& p)
{
    LdsOptions o;
    o.subsets = p.getInt("subsets");
    o.alpha = p.getDouble("alpha");
    o.seed = static_cast<uint64_t>(p.getInt("lds-seed"));
    o.workers = static_cast<int>(p.getInt("workers"));
    o.replace = p.isSet("force");
    return o;
}

void addLdsOptions(ArgParser& p)
{
    p.option("subsets", "M", "retrained models (subsets) for the LDS ground truth", "50")
        .option("alpha", "A", "subset fraction in (0,1)", "0.5")
        .option("lds-seed", "S", "subset seed (subset j uses S + j)", "0")
        .option("workers", "W", "models trained in parallel", "2");
}

/// --bootstrap, checked before any work.
int bootstrapResamples(const ArgParser& p, const std::string& command)
{
    const int64_t resamples = p.getInt("bootstrap");
    if (resamples < 10 || resamples > 100000)
        throw ConfigError(command + ": --bootstrap takes 10 to 100000 resamples, got " + std::to_string(resamples));
    return static_cast<int>(resamples);
}

constexpr const char* kPathBudgetHelp =
    "path-or-prior: the share of the retraining a recommendation replaces (50 subset models, 2 at a time, "
    "estimated by timing a few of the model's optimizer steps) that unrolling the training path may take; "
    "past it the rule stops and takes dynamics-prior. 'none': no limit";

/// --path-budget: a share ≥ 0, or 'none' (no limit).
double pathBudget(const ArgParser& p, const std::string& command)
{
    if (p.get("path-budget") == "none")
        return std::numeric_limits<double>::infinity();
    const double share = p.getDouble("path-budget");
    if (!(share >= 0.0) || !std::isfinite(share))
        throw ConfigError(command + ": --path-budget takes a share >= 0 or 'none', got " + p.get("path-budget"));
    return share;
}

} // namespace

int runLds(const Args& args, const CancelToken& cancel)
{
    ArgParser p("attriscope-cli lds",
                "Computes (or resumes) the LDS ground truth: M models retrained on random subsets with the\n"
                "experiment's own recipe; stores it in the file, then prints the LDS of every stored method and k\n"
                "over its λ grid. A killed run continues from the subsets already finished, and a larger M than\n"
                "the stored one (same α and seed) keeps the stored subsets and trains only the new ones.\n"
                "--subsets, --alpha and --lds-seed, when not given, are those of the ground truth the file holds.\n"
                "With --ground-truth-from it retrains nothing: it imports subset models retrained elsewhere (e.g.\n"
                "by PyTorch with your own recipe: docs/examples/train_in_pytorch.py --ground-truth M) and scores against them.");
    p.positional("EXP.h5", "experiment file");
    addLdsOptions(p);
    p.flag("force", "replace stored ground truth computed with other options (a smaller M, another α or seed)");
    p.flag("curve", "print the whole LDS(λ) curve of every method and k, not only its best λ");
    p.option("ground-truth-from", "FILE.h5",
             "import ground truth retrained outside AttriScope instead of retraining: datasets masks (M x n, 0/1) "
             "and test_loss (M x m), optionally train_labels and test_labels (checked against the experiment's) "
             "and attributes recipe, alpha, seed, seconds (docs/hdf5-layout.md); later runs read it back");
    p.option("shard", "R/N", "train only rank R's share of N subsets (j mod N = R, into NAME.gt-partial.rR-of-N.h5) "
             "and stop; a later run without --shard takes every shard's subsets and finishes (attriscope-mpi does both)");
    if (!p.parse(args))
        return 0;
    const std::string path = p.positionalValue("EXP.h5");
    LdsTablesRequest request;
    if (p.isSet("subsets"))
        request.subsets = p.getInt("subsets");
    if (p.isSet("alpha"))
        request.alpha = p.getDouble("alpha");
    if (p.isSet("lds-seed"))
        request.seed = static_cast<uint64_t>(p.getInt("lds-seed"));
    request.workers = static_cast<int>(p.getInt("workers"));
    request.replace = p.isSet("force");
    if (p.isSet("shard"))
        request.shard = Shard::parse(p.get("shard"));
    if (p.isSet("ground-truth-from"))
        request.importFrom = p.get("ground-truth-from");
    TerminalProgress progress;
    const LdsTablesResult result = computeLdsTables(path, request, progress, cancel);
    if (!request.shard.whole()) {
        std::printf("shard %s: trained %lld subset models into %s\n", request.shard.toString().c_str(),
                    static_cast<long long>(result.shardSubsetsTrained), result.shardFile.c_str());
        return 0;
    }
    const GroundTruth& truth = *result.truth;
    if (truth.importedFrom.empty())
        std::printf("ground truth: %lld subsets of %lld points, %.1f s of retraining\n",
                    static_cast<long long>(truth.subsets),
                    static_cast<long long>(result.options.subsetSize(truth.trainCount)), truth.seconds);
    else
        std::printf("ground truth imported from %s: %lld subset models (%s), retraining time %s\n",
                    truth.importedFrom.c_str(), static_cast<long long>(truth.subsets), truth.recipeSummary.c_str(),
                    std::isfinite(truth.seconds) ? (std::to_string(truth.seconds) + " s").c_str() : "not recorded");
    for (const auto& table : result.tables)
        printLdsTable(table, p.isSet("curve"));
    return 0;
}

int runRecommend(const Args& args, const CancelToken& cancel)
{
    ArgParser p("attriscope-cli recommend",
                "Recommends a damping λ without retraining, from the full-data model's features, curvature and\n"
                "training recipe (see docs/lambda-selection.md), prints it with its evidence and stores it.\n"
                "If ground truth exists (`lds`), the LDS at the recommended and at the grid's best λ is reported too,\n"
                "with the 90% interval of their ratio under ground-truth noise (a bootstrap over subsets and tests).");
    p.positional("EXP.h5", "experiment file with attribution results")
        .option("method", "if|if-explicit|if-projected|trak",
                "method; `if` is the stored influence method (if-projected when the file holds both)", "if")
        .option("k", "K", "projection dimension (default: the largest stored)")
        .option("rule", "RULE", "selector: path-or-prior | dynamics-prior | simulated-sgd | effective-dimension | "
                "stability-plateau | fixed-0.1-mean-eig | fixed-1e-3 | path-match (docs/lambda-selection.md; the default "
                "is the study's best; path-match needs the checkpoints' features: train --checkpoints C, attribute "
                "--method tracin (or trak, which featurizes every checkpoint); path-or-prior uses them when present, "
                "stable and within --path-budget, else dynamics-prior)",
                "path-or-prior")
        .option("path-budget", "SHARE", kPathBudgetHelp, "0.04")
        .option("path-from", "FILE", "path-match, path-or-prior: the experiment holding the training path (checkpoints and their "
                "TracIn features), if not EXP.h5 itself: the same run retrained with --checkpoints C (same data, "
                "recipe and seed; its final parameters must equal EXP.h5's)")
        .option("lambda-grid", "SPEC", "relative λ grid the rule chooses from", "log:1e-6:1e2:33")
        .option("simulated-subsets", "N", "subsets simulated for the indicator ξ", "64")
        .option("bootstrap", "B", "with ground truth: resamples for the ratio's 90% interval (10 to 100000)", "200")
        .flag("xi-table", "also compute the simulated-sgd mean ξ(λ) at every stored k and store it as the "
              "λ × k table \"mean_xi\" (the GUI's sensitivity heatmap draws it; no retraining)");
    if (!p.parse(args))
        return 0;
    const std::string path = p.positionalValue("EXP.h5");
    RecommendRequest request;
    request.method = p.get("method");
    request.k = p.isSet("k") ? p.getInt("k") : 0;
    request.selector.rule = parseSelectorRule(p.get("rule"));
    request.selector.simulatedSubsets = p.getInt("simulated-subsets");
    request.selector.pathBudget = pathBudget(p, "recommend");
    request.grid = LambdaGrid::parse(p.get("lambda-grid"));
    if (p.isSet("path-from"))
        request.pathFrom = p.get("path-from");
    request.bootstrapResamples = bootstrapResamples(p, "recommend");
    TerminalProgress progress;
    const RecommendResult result = recommendWithEvidence(path, request, progress, cancel);
    printRecommendation(result, request.selector.pathBudget);
    std::printf("stored in %s\n", path.c_str());
    if (p.isSet("xi-table")) {
        const SweepTable table =
            storeMeanXiTable(path, request.method, request.grid, request.selector, progress, cancel);
        std::printf("mean ξ table (%lld λ × %lld k) stored in %s\n", static_cast<long long>(table.values.rows()),
                    static_cast<long long>(table.values.cols()), path.c_str());
    }
    return 0;
}

int runStudyCommand(const Args& args, const CancelToken& cancel)
{
    ArgParser p("attriscope-cli study",
                "The validation study: train → attribute → recommend → LDS ground truth → table. Writes\n"
                "DIR/study.csv, DIR/study.md and the LDS(λ)/ξ(λ) curves (DIR/curves-*.svg). Experiment files in DIR\n"
                "are reused, so an interrupted study resumes.");
    p.option("data", "SPEC", "dataset", "fashion-mnist")
        .option("train-size", "N", "training points", "5000")
        .option("test-size", "M", "test points", "500")
        .option("model", "lr,mlp,cnn", "models", "lr")
        .option("recipes", "NAMES",
                "recipe variants: standard; short-high-lr (lr 0.1, no momentum, a tenth of the epochs); "
                "momentum-wd (momentum 0.9, weight decay 5e-3); long (three times the epochs)",
                "standard")
        .option("methods", "if,trak", "methods", "if,trak")
        .option("k", "K1,K2,...", "projection dimensions", "256,1024,4096")
        .option("rule", "RULE", "the rule whose λ is 'recommended' (every rule is evaluated)", "path-or-prior")
        .option("path-budget", "SHARE", kPathBudgetHelp, "0.04")
        .option("simulated-subsets", "N", "subsets simulated for ξ", "64")
        .option("bootstrap", "B", "resamples for the ratio's 90% interval under ground-truth noise (10 to 100000)", "200")
        .option("path-checkpoints", "C",
                "also score the rule path-match: train each model a second time with C checkpoints "
                "(DIR/<model>-<recipe>-path.h5; inside epochs when C exceeds them), featurize them with TracIn at "
                "the largest k, and add path-match's λ, LDS and ratio to the tables (0: off; explicit IF gets none)",
                "0")
        .option("proj", "kron|gaussian|rademacher", "the projection of the projected rows", "kron")
        .repeatable("from-pytorch", "RUN_DIR",
                    "judge a run trained outside the app, as docs/examples/train_in_pytorch.py --ground-truth M "
                    "writes it (manifest.json and ground_truth.h5): imported on --data/--train-size/--test-size into "
                    "DIR/pytorch-<RUN_DIR's name>.h5, scored against its PyTorch-retrained ground truth (--subsets "
                    "and the other ground-truth options do not apply to it); repeat for more runs. Without --model "
                    "only these runs are studied")
        .option("out", "DIR", "output folder", "study");
    addLdsOptions(p);
    if (!p.parse(args))
        return 0;
    StudyOptions o;
    o.data = p.get("data");
    o.trainSize = p.getInt("train-size");
    o.testSize = p.getInt("test-size");
    o.models = splitList(p.get("model"));
    o.fromPyTorch = p.getAll("from-pytorch");
    if (!o.fromPyTorch.empty() && !p.isSet("model"))
        o.models.clear();
    o.projection = parseProjectionKind(p.get("proj"));
    if (o.projection == ProjectionKind::None)
        throw ConfigError("study: --proj takes kron, gaussian or rademacher (explicit IF is the logistic "
                          "regression's `if` row)");
    o.recipes = splitList(p.get("recipes"));
    o.methods = splitList(p.get("methods"));
    o.ks = parseInts("k", p.get("k"));
    o.lds = readLdsOptions(p);
    o.selector.rule = parseSelectorRule(p.get("rule"));
    o.pathCheckpoints = p.getInt("path-checkpoints");
    o.selector.simulatedSubsets = p.getInt("simulated-subsets");
    o.selector.pathBudget = pathBudget(p, "study");
    o.bootstrapResamples = bootstrapResamples(p, "study");
    o.outDir = p.get("out");
    TerminalProgress progress;
    std::vector<StudyRow> rows = runStudy(o, progress, cancel);
    std::cout << studyMarkdown(rows, o) << "\nwrote " << o.outDir << "/study.csv, study.md and curves-*.svg\n";
    return 0;
}

} // namespace attri::cli
