// Commands of ground truth and the λ recommendation: lds, recommend, study.
#include "arg_parser.h"
#include "commands.h"
#include "terminal_progress.h"

#include "attribution/attribution_job.h"
#include "common/error.h"
#include "eval/ground_truth.h"
#include "eval/lds.h"
#include "jobs/cancel_token.h"
#include "store/atomic_write.h"
#include "store/h5_file.h"
#include "tuning/lambda_selector.h"
#include "tuning/sweep_tables.h"
#include "tuning/validation_study.h"

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
                "--subsets, --alpha and --lds-seed, when not given, are those of the ground truth the file holds.");
    p.positional("EXP.h5", "experiment file");
    addLdsOptions(p);
    p.flag("force", "replace stored ground truth computed with other options (a smaller M, another α or seed)");
    p.flag("curve", "print the whole LDS(λ) curve of every method and k, not only its best λ");
    p.option("shard", "R/N", "train only rank R's share of N subsets (j mod N = R, into NAME.gt-partial.rR-of-N.h5) "
             "and stop; a later run without --shard takes every shard's subsets and finishes (attriscope-mpi does both)");
    if (!p.parse(args))
        return 0;
    const std::string path = p.positionalValue("EXP.h5");
    LdsOptions o = readLdsOptions(p);
    TerminalProgress progress;
    DataRecord dataRecord;
    ModelRecord modelRecord;
    std::vector<std::string> methods;
    {
        H5File file(path, H5File::Mode::ReadOnly);
        checkExperimentFile(file);
        dataRecord = readDataRecord(file);
        modelRecord = readModelRecord(file);
        if (file.exists("/attribution"))
            methods = file.children("/attribution");
        // Options not given are the stored ground truth's, so that `lds EXP.h5` reads it back
        // whatever M it was computed with (the defaults apply to a file without one).
        if (!p.isSet("force"))
            if (const auto stored = readGroundTruth(file)) {
                if (!p.isSet("subsets"))
                    o.subsets = stored->options.subsets;
                if (!p.isSet("alpha"))
                    o.alpha = stored->options.alpha;
                if (!p.isSet("lds-seed"))
                    o.seed = stored->options.seed;
            }
    }
    DataBundle data = reloadData(dataRecord);
    if (p.isSet("shard")) {
        const Shard shard = Shard::parse(p.get("shard"));
        const int64_t trained = computeGroundTruthShard(path, rebuildModel(modelRecord), modelRecord.recipe, data.train,
                                                        data.test, o, shard, progress, cancel);
        std::printf("shard %s: trained %lld subset models into %s\n", shard.toString().c_str(),
                    static_cast<long long>(trained), groundTruthPartialPath(path, shard).c_str());
        return 0;
    }
    GroundTruth truth = computeGroundTruth(path, rebuildModel(modelRecord), modelRecord.recipe, data.train, data.test, o,
                                           progress, cancel);
    std::printf("ground truth: %lld subsets of %lld points, %.1f s of retraining\n",
                static_cast<long long>(truth.subsets), static_cast<long long>(o.subsetSize(truth.trainCount)),
                truth.seconds);

    std::vector<SweepTable> ldsTables;
    for (const auto& method : methods) {
        SweepTable table = ldsSweepTable(path, method, truth, LambdaGrid::defaultRelative(), progress, cancel);
        for (Eigen::Index c = 0; c < table.values.cols(); ++c) {
            const auto k = static_cast<long long>(table.ks[static_cast<size_t>(c)]);
            Eigen::Index best = -1;
            for (Eigen::Index g = 0; g < table.values.rows(); ++g)
                if (std::isfinite(table.values(g, c)) && (best < 0 || table.values(g, c) > table.values(best, c)))
                    best = g;
            if (best < 0)
                std::printf("%-14s k %6lld: no finite LDS\n", method.c_str(), k);
            else if (!std::isfinite(table.absoluteLambdas(best, c)))
                std::printf("%-14s k %6lld: LDS %.4f (no λ)\n", method.c_str(), k, table.values(best, c));
            else
                std::printf("%-14s k %6lld: best LDS %.4f at λ %.4g (relative %.3g)\n", method.c_str(), k,
                            table.values(best, c), table.absoluteLambdas(best, c),
                            table.relativeLambdas[static_cast<size_t>(best)]);
            if (p.isSet("curve") && best >= 0 && std::isfinite(table.absoluteLambdas(best, c))) {
                std::printf("  %12s %12s %8s\n", "relative", "lambda", "LDS");
                for (Eigen::Index g = 0; g < table.values.rows(); ++g)
                    std::printf("  %12.4g %12.4g %8.4f%s\n", table.relativeLambdas[static_cast<size_t>(g)],
                                table.absoluteLambdas(g, c), table.values(g, c), g == best ? "  best" : "");
            }
        }
        ldsTables.push_back(std::move(table));
    }
    if (!ldsTables.empty())
        writeHdf5Atomically(path, true, [&](H5File& file) {
            for (const auto& t : ldsTables)
                writeSweepTable(file, t);
        });
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
        .option("method", "if|trak", "method", "if")
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
    const int resamples = bootstrapResamples(p, "recommend");
    TerminalProgress progress;
    // Before opening the session, which for the unrolled method decomposes every checkpoint.
    if (!usesLambda(parseMethod(p.get("method"))))
        throw ConfigError("method " + p.get("method") + " has no λ to recommend");
    auto session = AttributionSession::open(path, p.get("method"), p.isSet("k") ? p.getInt("k") : 0, progress, cancel);
    SelectorOptions options;
    options.rule = parseSelectorRule(p.get("rule"));
    options.simulatedSubsets = p.getInt("simulated-subsets");
    options.pathBudget = pathBudget(p, "recommend");
    const SelectorOptions so = selectorOptionsFor(*session, options);
    SelectorInputs in = selectorInputs(*session);
    if (p.isSet("path-from") && options.rule != SelectorRule::PathMatch && options.rule != SelectorRule::PathOrPrior)
        throw ConfigError("recommend: --path-from is for the rules path-match and path-or-prior");
    std::string pathNote;
    const std::shared_ptr<TrainingPathFeatures> trainingPath = attachTrainingPathFor(
        options.rule, p.isSet("path-from") ? p.get("path-from") : path, *session, in, &pathNote);
    std::vector<double> grid = LambdaGrid::parse(p.get("lambda-grid")).toAbsolute(session->meanEigenvalue());
    LambdaRecommendation rec = recommendLambda(in, grid, so, progress, cancel);
    notePathSource(trainingPath.get(), rec);

    std::printf("recommended λ = %.6g (relative %.4g × mean eigenvalue %.4g), rule %s, %.2f s\n", rec.lambda,
                rec.relativeLambda, session->meanEigenvalue(), toString(rec.rule).c_str(), rec.seconds);
    std::printf("inputs: %s\n", rec.inputs.c_str());
    if (!pathNote.empty())
        std::printf("no training path used: %s\n", pathNote.c_str());
    if (std::isfinite(rec.pathBudgetSeconds) && std::isfinite(rec.retrainSeconds))
        std::printf("path budget: %.3g s (%g of the estimated %.4g s of retraining 50 models, %s)\n",
                    rec.pathBudgetSeconds, options.pathBudget, rec.retrainSeconds, rec.retrainEstimate.c_str());
    if (rec.pathStability > 1.0)
        std::printf("warning: the recorded run steps beyond gradient descent's stability limit on its own curvature "
                    "(lr·μ_max/c is %.3g × 2(1 + momentum)): it is unstable along its top directions, the unrolled path "
                    "does not describe it, and this λ is not to be trusted; use the default rule\n",
                    rec.pathStability);
    if (rec.meanXi.size() > 0) {
        const bool match = rec.rule == SelectorRule::PathMatch || rec.rule == SelectorRule::PathOrPrior;
        std::printf("%s: peak %.4f, peakedness %.4f, plateau %.2f decades\n",
                    match ? "mean cosine with the unrolled scores (λ)" : "mean ξ(λ)", rec.meanXi.maxCoeff(),
                    rec.peakedness, rec.plateauWidthDecades);
        for (Eigen::Index g = 0; g < rec.meanXi.size(); g += 4)
            std::printf("  λ %10.4g  %s %7.4f\n", rec.lambdas[static_cast<size_t>(g)], match ? "cosine" : "ξ",
                        rec.meanXi[g]);
    }

    // LDS at the recommendation when ground truth exists.
    std::optional<GroundTruth> truth;
    {
        H5File file(path, H5File::Mode::ReadOnly);
        truth = readGroundTruth(file);
    }
    RecommendationRecord record = recommendationRecord(*session, rec);
    if (truth) {
        const LdsEvidence e = ldsEvidence(*session, grid, rec.lambda, *truth, resamples, progress, cancel);
        std::printf("ground truth: LDS %.4f at the recommended λ, best %.4f at λ %.4g (ratio %.3f; 90%% interval "
                    "%.3f–%.3f and ≥ 0.95 in %.0f%% of %d resamples of the %lld subsets and the test points)\n",
                    e.atLambda.mean, e.bestLds, e.bestLambda, e.ratio, e.interval.low, e.interval.high,
                    100.0 * e.interval.shareAbove, e.interval.resamples, static_cast<long long>(truth->subsets));
        addEvidence(record, e);
        if (truth->seconds > 0)
            std::printf("cost: %.4g s, %.3g%% of the %.4g s of retraining behind the stored ground truth (%lld models)\n",
                        rec.seconds, 100.0 * rec.seconds / truth->seconds, truth->seconds,
                        static_cast<long long>(truth->subsets));
    }
    writeHdf5Atomically(path, true, [&](H5File& file) { writeRecommendation(file, record); });
    std::printf("stored in %s\n", path.c_str());
    if (p.isSet("xi-table")) {
        const SweepTable table =
            meanXiSweepTable(path, p.get("method"), LambdaGrid::parse(p.get("lambda-grid")), options, progress, cancel);
        writeHdf5Atomically(path, true, [&](H5File& file) { writeSweepTable(file, table); });
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
        .option("out", "DIR", "output folder", "study");
    addLdsOptions(p);
    if (!p.parse(args))
        return 0;
    StudyOptions o;
    o.data = p.get("data");
    o.trainSize = p.getInt("train-size");
    o.testSize = p.getInt("test-size");
    o.models = splitList(p.get("model"));
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
