// Commands of the attribution engine: attribute, scores, topk.
#include "arg_parser.h"
#include "commands.h"
#include "terminal_progress.h"

#include "attribution/attribution_job.h"
#include "common/error.h"
#include "jobs/cancel_token.h"
#include "store/atomic_write.h"
#include "tuning/top_k.h"

#include <cerrno>
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
        .option("method", "if|trak|tracin|graddot|gradcos|unrolled", "attribution method (as computed by `attribute`)", "if")
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
        .option("method", "if|trak|tracin|graddot|gradcos|unrolled",
                "method; `if` is explicit (exact Hessian) with --proj none on logistic regression, projected "
                "otherwise; `unrolled` (no λ) carries each checkpoint's gradients through the curvature of the rest of "
                "the recorded SGD run, in closed form: train with --checkpoints C (e.g. 5 or 10) first", "if")
        .option("proj", "none|gaussian|rademacher|kron", "projection of per-sample gradients", "kron")
        .option("k", "K1,K2,...", "projection dimensions (nested: features at the largest serve all)", "128,256,512,1024")
        .option("lambda-grid", "SPEC", "λ grid: list 'a,b,c' or 'log:LOW:HIGH:COUNT'", "log:1e-6:1e2:25")
        .flag("absolute", "read --lambda-grid as absolute λ (default: relative to the mean eigenvalue)")
        .option("layers", "all|last|NAMES", "layers whose gradients are used", "all")
        .option("seed", "S", "projection seed", "0")
        .option("batch-size", "B", "samples per batched backward pass", "250")
        .option("sensitivity-tests", "N", "test points behind the sensitivity tables", "100")
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
    r.batchSize = p.getInt("batch-size");
    r.sensitivityTests = p.getInt("sensitivity-tests");
    const std::string path = p.positionalValue("EXP.h5");

    TerminalProgress progress;
    AttributionSummary s = runAttribution(path, r, progress, cancel);
    if (!r.shard.whole()) {
        std::printf("shard %s: featurized %lld rows in %.1f s into %s\n", r.shard.toString().c_str(),
                    static_cast<long long>(s.shardRows), s.featurizeSeconds, s.shardJournal.c_str());
        return 0;
    }
    std::printf("method %s: features %.1f s, spectra %.1f s, sweep %.1f s\n", toString(s.method).c_str(),
                s.featurizeSeconds, s.spectrumSeconds, s.sweepSeconds);
    for (const auto& key : s.featureKeys)
        std::printf("  features /features/%s\n", key.c_str());
    for (const auto& sp : s.spectra)
        std::printf("  k %6lld checkpoint %lld: mean eigenvalue %.4g, most negative %.3g, %.2f s\n",
                    static_cast<long long>(sp.k), static_cast<long long>(sp.checkpoint), sp.meanEigenvalue,
                    sp.mostNegativeEigenvalue, sp.seconds);
    if (s.sensitivity) {
        const SensitivityResult& sr = *s.sensitivity;
        std::printf("rank stability between neighbouring λ (mean Spearman over %zu test points):\n  relative λ ",
                    sr.testIndices.size());
        for (int64_t k : sr.ks)
            std::printf(" %8lld", static_cast<long long>(k));
        std::printf("\n");
        for (int64_t j = 0; j < sr.lambdaSpearman.rows; ++j) {
            std::printf("  %10.2e ", sr.grid.values[static_cast<size_t>(j)]);
            for (int64_t c = 0; c < sr.lambdaSpearman.cols; ++c)
                std::printf(" %8.3f", sr.lambdaSpearman.at(j, c));
            std::printf("\n");
        }
    }
    std::printf("stored in %s\n", path.c_str());
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
    ArgParser p("attriscope-cli topk", "Prints the strongest proponents and opponents of one test point.");
    addSessionOptions(p);
    p.option("test", "I", "test point", "0").option("n", "N", "how many of each", "10");
    if (!p.parse(args))
        return 0;
    TerminalProgress progress;
    const std::string path = p.positionalValue("EXP.h5");
    auto session = AttributionSession::open(path, p.get("method"), p.isSet("k") ? p.getInt("k") : 0, progress, cancel);
    const double lambda = resolveLambda(p, *session);
    const int64_t test = p.getInt("test");
    if (test < 0 || test >= session->testCount())
        throw ConfigError("--test " + std::to_string(test) + " out of range (0.." + std::to_string(session->testCount() - 1) + ")");
    Eigen::VectorXf s = session->scoresFor(test, lambda);
    TopK top = topK(s, p.getInt("n"));
    DataBundle data = reloadData(session->data());
    const auto& names = session->data().classNames;
    auto label = [&](int64_t y) { return y >= 0 && y < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(y)] : std::to_string(y); };
    std::printf("test point %lld (label %s), %s k=%lld lambda=%.6g (relative %.6g)\n", static_cast<long long>(test),
                label(data.test.labels[static_cast<size_t>(test)]).c_str(), toString(session->method()).c_str(),
                static_cast<long long>(session->k()), lambda, lambda / session->meanEigenvalue());
    std::printf("proponents (up-weighting lowers the test loss):\n");
    for (const auto& r : top.proponents)
        std::printf("  train %6lld  score %+.6g  label %s\n", static_cast<long long>(r.index), r.score,
                    label(data.train.labels[static_cast<size_t>(r.index)]).c_str());
    std::printf("opponents:\n");
    for (const auto& r : top.opponents)
        std::printf("  train %6lld  score %+.6g  label %s\n", static_cast<long long>(r.index), r.score,
                    label(data.train.labels[static_cast<size_t>(r.index)]).c_str());
    return 0;
}

} // namespace attri::cli
