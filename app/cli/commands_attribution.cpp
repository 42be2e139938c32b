// Commands of the attribution engine: attribute, scores, topk, and check (removal checks against retraining).
#include "arg_parser.h"
#include "commands.h"
#include "report.h"
#include "terminal_progress.h"

#include "attribution/attribution_session.h"
#include "workflows/attribute.h"
#include "common/error.h"
#include "eval/ground_truth.h"
#include "eval/removal_checks.h"
#include "workflows/check.h"
#include "workflows/top_k_overlap.h"
#include "eval/subset_sampler.h"
#include "jobs/cancel_token.h"
#include "store/atomic_write.h"
#include "store/experiment_file.h"
#include "store/h5_file.h"
#include "tuning/top_k.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace attri::cli {

namespace {

std::vector<int64_t> parseIndexList(const std::string& option, const std::string& text)
{
    std::vector<int64_t> out;
    for (const auto& item : splitList(text)) {
        char* end = nullptr;
        errno = 0;
        long long v = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v < 0 || errno == ERANGE)
            throw ConfigError("--" + option + " expects comma-separated non-negative integers, got '" + text + "'");
        out.push_back(v);
    }
    return out;
}

/// λ from --lambda, relative to the session's mean eigenvalue when --relative.
double resolveLambda(const ArgParser& p, const AttributionSession& s)
{
    if (!s.usesLambda())
        return 1.0;
    if (!p.isSet("lambda"))
        return defaultLambda(s);
    double v = p.getDouble("lambda");
    if (!(v > 0))
        throw ConfigError("--lambda must be positive, got " + p.get("lambda"));
    return p.isSet("relative") ? v * s.meanEigenvalue() : v;
}

void addSessionOptions(ArgParser& p)
{
    p.positional("EXP.h5", "experiment file")
        .option("method", "if|trak|tracin|graddot|gradcos|unrolled|kfac|ekfac", "attribution method (as computed by `attribute`)", "if")
        .option("k", "K", "projection dimension (default: the largest stored)")
        .option("lambda", "L", "damping λ (default: the accepted or recommended λ stored in the file, else 0.1 × mean eigenvalue)")
        .flag("relative", "read --lambda as a multiple of the curvature's mean eigenvalue");
}

} // namespace

int runAttribute(const Args& args, const CancelToken& cancel)
{
    ArgParser p("attriscope-cli attribute",
                "Computes attribution features for every training and test point, the curvature spectrum for each\n"
                "k, and the λ × k sensitivity tables, and stores them in the experiment file (atomically).\n"
                "Sign convention: tau = g'^T (H + lambda I)^-1 g_i, positive = proponent.");
    p.positional("EXP.h5", "experiment file made by `train` or `import`")
        .option("method", "if|trak|tracin|graddot|gradcos|unrolled|kfac|ekfac",
                "method; `kfac`/`ekfac`: IF with the Kronecker-factored Fisher of each Linear/Conv2d layer (EK-FAC "
                "with its eigenvalues corrected), on the full gradients (--proj and --k do not apply); `if` with --proj none is explicit: the exact Hessian of a logistic regression (zoo or a "
                "single imported Linear layer gives the same matrix), the generalized Gauss-Newton matrix of any other "
                "model (at most 10,000 parameters, or choose --layers); projected otherwise; `unrolled` (no λ) carries each checkpoint's gradients through the curvature of the rest of "
                "the recorded SGD run, in closed form: train with --checkpoints C (e.g. 5 or 10) first", "if")
        .option("proj", "none|gaussian|rademacher|kron", "projection of per-sample gradients", "kron")
        .option("k", "K1,K2,...", "projection dimensions (nested: features at the largest serve all)", "128,256,512,1024")
        .option("lambda-grid", "SPEC", "λ grid: list 'a,b,c' or 'log:LOW:HIGH:COUNT'", "log:1e-6:1e2:25")
        .flag("absolute", "read --lambda-grid as absolute λ (default: relative to the mean eigenvalue)")
        .option("layers", "all|last|NAMES", "layers whose gradients are used", "all")
        .option("seed", "S", "projection seed; for kfac/ekfac the seed of the labels the true Fisher samples", "0")
        .option("fisher", "true|empirical", "kfac/ekfac: the Fisher the factors estimate (labels sampled from the "
                "model, or the training labels)", "true")
        .option("damping", "global|per-module", "kfac/ekfac: one λ for all layers (relative to the mean eigenvalue "
                "over all of them), or each layer damped by λ × its own mean eigenvalue (Kronfluence's convention, "
                "whose default is λ = 0.1)", "global")
        .option("batch-size", "B", "samples per batched backward pass", "250")
        .option("sensitivity-tests", "N", "test points behind the sensitivity tables", "100")
        .flag("refeaturize", "compute every checkpoint's features even when the file holds them under the same key "
              "(by default they are reused, e.g. TracIn's for the unrolled method or IF's loss features)")
        .option("shard", "R/N", "featurize only rank R's share of N (into NAME.features-partial.rR-of-N.bin) and stop; "
                "a later run without --shard takes every shard's rows and finishes (attriscope-mpi does both)");
    if (!p.parse(args))
        return 0;
    AttributionRequest r;
    if (p.isSet("shard"))
        r.shard = Shard::parse(p.get("shard"));
    r.method = p.get("method");
    r.projection = parseProjectionKind(p.get("proj"));
    r.ks = parseIndexList("k", p.get("k"));
    r.grid = LambdaGrid::parse(p.get("lambda-grid"), !p.isSet("absolute"));
    r.layers = p.get("layers");
    r.seed = static_cast<uint64_t>(p.getInt("seed"));
    r.fisher = parseFisherKind(p.get("fisher"));
    r.damping = parseKroneckerDamping(p.get("damping"));
    r.batchSize = p.getInt("batch-size");
    r.sensitivityTests = p.getInt("sensitivity-tests");
    r.reuseFeatures = !p.isSet("refeaturize");
    const std::string path = p.positionalValue("EXP.h5");

    TerminalProgress progress;
    AttributionSummary s = runAttribution(path, r, progress, cancel);
    if (!r.shard.whole()) {
        std::printf("shard %s: featurized %lld rows in %.1f s into %s\n", r.shard.toString().c_str(),
                    static_cast<long long>(s.shardRows), s.featurizeSeconds, s.shardJournal.c_str());
        return 0;
    }
    printAttributionSummary(s, path);
    return 0;
}

int runScores(const Args& args, const CancelToken& cancel)
{
    ArgParser p("attriscope-cli scores",
                "Writes the score matrix (rows: test points, columns: training points, in the dataset's order)\n"
                "as CSV, so anyone can check it. Positive = proponent.");
    addSessionOptions(p);
    p.option("test", "I,J,...", "test points (default: all)").option("csv", "OUT.csv", "output file");
    if (!p.parse(args))
        return 0;
    TerminalProgress progress;
    const std::string path = p.positionalValue("EXP.h5");
    auto session = AttributionSession::open(path, p.get("method"), p.isSet("k") ? p.getInt("k") : 0, progress, cancel);
    const double lambda = resolveLambda(p, *session);
    std::vector<int64_t> tests = p.isSet("test") ? parseIndexList("test", p.get("test")) : std::vector<int64_t>{};
    RowMatrixF scores = session->scores(tests, lambda);
    const std::string out = p.get("csv");
    std::ostringstream csv; // written whole, atomically: never a half-written table
    csv << "test_index";
    for (int64_t i = 0; i < scores.cols(); ++i)
        csv << ",train_" << i;
    csv << "\n";
    char buf[32];
    for (int64_t r = 0; r < scores.rows(); ++r) {
        csv << (tests.empty() ? r : tests[static_cast<size_t>(r)]);
        for (int64_t c = 0; c < scores.cols(); ++c) {
            std::snprintf(buf, sizeof buf, ",%.9g", scores(r, c));
            csv << buf;
        }
        csv << "\n";
    }
    writeTextAtomically(out, csv.str());
    std::printf("%s k=%lld lambda=%.6g (relative %.6g): %lld x %lld scores written to %s\n",
                toString(session->method()).c_str(), static_cast<long long>(session->k()), lambda,
                lambda / session->meanEigenvalue(), static_cast<long long>(scores.rows()),
                static_cast<long long>(scores.cols()), out.c_str());
    return 0;
}

int runTopk(const Args& args, const CancelToken& cancel)
{
    ArgParser p("attriscope-cli topk",
                "Prints the strongest proponents and opponents of one test point. With --across, also how robust\n"
                "its top N proponents are: the share of them still in the top N at every stored k and every λ of\n"
                "--lambda-grid, and in how many of those settings each one stays.");
    addSessionOptions(p);
    p.option("test", "I", "test point", "0")
        .option("n", "N", "how many of each", "10")
        .flag("across", "compare the top N proponents with those at every stored k and every λ of --lambda-grid")
        .option("lambda-grid", "SPEC", "--across: relative λ grid, list 'a,b,c' or 'log:LOW:HIGH:COUNT'",
                "log:1e-6:1e2:25");
    if (!p.parse(args))
        return 0;
    if (p.isSet("lambda-grid") && !p.isSet("across"))
        throw ConfigError("topk: --lambda-grid is for --across");
    TerminalProgress progress;
    const std::string path = p.positionalValue("EXP.h5");
    auto session = AttributionSession::open(path, p.get("method"), p.isSet("k") ? p.getInt("k") : 0, progress, cancel);
    const double lambda = resolveLambda(p, *session);
    printTopK(*session, p.getInt("test"), lambda, p.getInt("n"));
    if (p.isSet("across")) {
        TopKOverlapRequest request;
        request.test = p.getInt("test");
        request.count = p.getInt("n");
        request.grid = LambdaGrid::parse(p.get("lambda-grid"), true);
        request.referenceRelativeLambda = lambda / session->meanEigenvalue();
        request.referenceK = session->k();
        printTopKOverlap(topKOverlap(path, p.get("method"), request, progress, cancel));
    }
    return 0;
}

namespace {

/// --NAME's indices, or COUNT of [0, n) drawn with the seed (all of them when COUNT ≥ n).
std::vector<int64_t> chosenIndices(const ArgParser& p, const std::string& listOption, const std::string& countOption,
                                   int64_t n, uint64_t seed)
{
    if (p.isSet(listOption))
        return parseIndexList(listOption, p.get(listOption));
    const int64_t count = p.getInt(countOption);
    if (count < 1)
        throw ConfigError("--" + countOption + " must be at least 1, got " + p.get(countOption));
    return sampleSubset(n, std::min(count, n), seed);
}

void printTopKRemoval(const TopKRemovalResult& r, int64_t removed)
{
    std::printf("  %6s %10s %16s %16s\n", "test", "loss", "top-k removed", "random removed");
    for (size_t c = 0; c < r.tests.size(); ++c)
        std::printf("  %6lld %10.4f %+16.4f %+16.4f\n", static_cast<long long>(r.tests[c]), r.baselineLoss[c],
                    r.topKIncrease[c], r.randomIncrease[c]);
    std::printf("mean test-loss increase: %+.4f without each test point's top %lld proponents, %+.4f without %lld "
                "random points;\n  difference %+.4f ± %.4f (standard error over test points); the top-k removal "
                "raised the loss more at %lld of %zu test points\n",
                r.meanTopKIncrease, static_cast<long long>(removed), r.meanRandomIncrease,
                static_cast<long long>(removed), r.meanTopKIncrease - r.meanRandomIncrease, r.excessStderr,
                static_cast<long long>(r.testsAboveRandom), r.tests.size());
}

std::string topKRemovalCsv(const TopKRemovalResult& r)
{
    std::ostringstream csv;
    csv << "test_index,baseline_loss,topk_increase,random_increase,top_k,random\n";
    char buf[96];
    auto joined = [](const std::vector<int64_t>& v) {
        std::string s;
        for (int64_t i : v)
            s += (s.empty() ? "" : " ") + std::to_string(i);
        return s;
    };
    for (size_t c = 0; c < r.tests.size(); ++c) {
        std::snprintf(buf, sizeof buf, "%lld,%.9g,%.9g,%.9g,", static_cast<long long>(r.tests[c]), r.baselineLoss[c],
                      r.topKIncrease[c], r.randomIncrease[c]);
        csv << buf << joined(r.topK[c]) << "," << joined(r.random[c]) << "\n";
    }
    return csv.str();
}

std::string looCsv(const LooResult& r, const RowMatrixF& scores)
{
    std::ostringstream csv;
    csv << "train_index,test_index,score,loss_change\n";
    char buf[96];
    for (Eigen::Index k = 0; k < r.lossChange.rows(); ++k)
        for (Eigen::Index t = 0; t < r.lossChange.cols(); ++t) {
            const int64_t i = r.removed[static_cast<size_t>(k)];
            std::snprintf(buf, sizeof buf, "%lld,%lld,%.9g,%.9g\n", static_cast<long long>(i),
                          static_cast<long long>(t), scores(t, i), r.lossChange(k, t));
            csv << buf;
        }
    return csv.str();
}

} // namespace

int runCheck(const Args& args, const CancelToken& cancel)
{
    ArgParser p("attriscope-cli check",
                "Checks an attribution against retraining, beyond the LDS. Every model is retrained with the\n"
                "experiment's recipe from the same start as the LDS ground truth (so an imported model needs a recipe).\n"
                "  --kind topk: for each chosen test point, retrain without its top K proponents and, separately,\n"
                "    without K random points (2 models per test point, plus one on all points). A useful attribution\n"
                "    raises the test loss more than the random removal.\n"
                "  --kind loo: retrain without each chosen training point (one model per point, plus one) and\n"
                "    correlate the loss change of every test point with its score; for small settings, since one\n"
                "    point moves a network's loss by little more than retraining noise.\n"
                "A network's test loss moves under retraining alone (a single retraining is one draw): --repeats R\n"
                "averages R retrainings with seeds recipe seed + r. Prints the result and stores it in the file under\n"
                "/checks/<kind>/<method>-k<K> (replacing an earlier check of the same method and k). A cancelled check\n"
                "stores nothing.");
    addSessionOptions(p);
    p.option("kind", "topk|loo", "which check", "topk")
        .option("remove", "K", "topk: proponents (and random points) removed per test point", "10")
        .option("tests", "I,J,...", "topk: test points to check (default: --test-count of them drawn with --seed)")
        .option("test-count", "N", "topk: test points drawn when --tests is not given", "20")
        .option("points", "I,J,...", "loo: training points to leave out (default: --point-count drawn with --seed)")
        .option("point-count", "N", "loo: training points drawn when --points is not given", "20")
        .option("seed", "S", "draw of the checked points; test t's random removal uses S + t", "0")
        .option("workers", "W", "models trained in parallel", "2")
        .option("repeats", "R", "retrain every model R times (recipe seed + r, r < R) and average the losses: "
                "R times the cost, less retraining noise (networks)", "1")
        .option("csv", "OUT.csv", "also write the result as CSV (topk: one row per test point; loo: one per "
                "(training point, test point))");
    if (!p.parse(args))
        return 0;
    const std::string kind = p.get("kind");
    if (kind != "topk" && kind != "loo")
        throw ConfigError("check: --kind must be topk or loo, got '" + kind + "'");
    const bool topk = kind == "topk";
    for (const char* option : {"remove", "tests", "test-count"})
        if (!topk && p.isSet(option))
            throw ConfigError(std::string("check: --") + option + " is for --kind topk");
    for (const char* option : {"points", "point-count"})
        if (topk && p.isSet(option))
            throw ConfigError(std::string("check: --") + option + " is for --kind loo");
    const int64_t workers = p.getInt("workers");
    if (workers < 1 || workers > 256)
        throw ConfigError("check: --workers must be in [1, 256], got " + p.get("workers"));
    const int64_t repeats = p.getInt("repeats");
    if (repeats < 1 || repeats > 1000)
        throw ConfigError("check: --repeats must be in [1, 1000], got " + p.get("repeats"));
    if (p.getInt("seed") < 0)
        throw ConfigError("check: --seed must be non-negative, got " + p.get("seed"));
    const auto seed = static_cast<uint64_t>(p.getInt("seed"));

    TerminalProgress progress;
    const std::string path = p.positionalValue("EXP.h5");
    auto session = AttributionSession::open(path, p.get("method"), p.isSet("k") ? p.getInt("k") : 0, progress, cancel);
    const double lambda = resolveLambda(p, *session);
    // Options are validated before the scores are computed and the data reloaded.
    TopKRemovalOptions topkOptions;
    LooOptions looOptions;
    if (topk) {
        topkOptions.k = p.getInt("remove");
        topkOptions.tests = chosenIndices(p, "tests", "test-count", session->testCount(), seed);
        topkOptions.seed = seed;
        topkOptions.workers = static_cast<int>(workers);
        topkOptions.repeats = static_cast<int>(repeats);
    } else {
        looOptions.removed = chosenIndices(p, "points", "point-count", session->trainCount(), seed);
        looOptions.workers = static_cast<int>(workers);
        looOptions.repeats = static_cast<int>(repeats);
    }
    char lambdaText[96] = "no λ";
    if (session->usesLambda())
        std::snprintf(lambdaText, sizeof lambdaText, "λ=%.6g (relative %.6g)", lambda, lambda / session->meanEigenvalue());
    std::string group, csv;
    if (topk) {
        const auto check = runTopKCheck(path, *session, lambda, topkOptions, true, progress, cancel);
        const TopKRemovalResult& r = check.result;
        std::printf("top-k removal check: %s k=%lld %s; %zu test points, %lld points removed each, %lld models "
                    "retrained in %.1f s\n",
                    check.setting.method.c_str(), static_cast<long long>(check.setting.k), lambdaText, r.tests.size(),
                    static_cast<long long>(topkOptions.k),
                    static_cast<long long>((2 * r.tests.size() + 1) * static_cast<size_t>(repeats)),
                    check.setting.seconds);
        printTopKRemoval(r, topkOptions.k);
        group = check.group;
        csv = topKRemovalCsv(r);
    } else {
        RowMatrixF scores;
        const auto check = runLeaveOneOutCheck(path, *session, lambda, looOptions, true, progress, cancel, &scores);
        const LooResult& r = check.result;
        std::printf("leave-one-out check: %s k=%lld %s; %zu training points left out, %lld models retrained in "
                    "%.1f s\n",
                    check.setting.method.c_str(), static_cast<long long>(check.setting.k), lambdaText,
                    r.removed.size(), static_cast<long long>((r.removed.size() + 1) * static_cast<size_t>(repeats)),
                    check.setting.seconds);
        std::printf("correlation of each test point's loss change with its scores, over the left-out points:\n"
                    "  mean Pearson %.4f, mean Spearman %.4f over %zu test points; pooled Pearson %.4f\n",
                    r.meanPearson, r.meanSpearman, r.perTestPearson.size(), r.pooledPearson);
        group = check.group;
        csv = looCsv(r, scores);
    }
    std::printf("stored as %s in %s\n", group.c_str(), path.c_str());
    if (p.isSet("csv")) {
        writeTextAtomically(p.get("csv"), csv);
        std::printf("wrote %s\n", p.get("csv").c_str());
    }
    return 0;
}

} // namespace attri::cli
