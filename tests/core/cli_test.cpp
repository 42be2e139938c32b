// Runs the real attriscope-cli binary, as a user would.
#include "attribution/attribution_session.h"
#include "common/runtime.h"
#include "data/data_loader.h"
#include "eval/ground_truth.h"
#include "eval/lds.h"
#include "eval/subset_sampler.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/trainer.h"
#include "store/attribution_store.h"
#include "store/experiment_file.h"
#include "store/h5_file.h"
#include "support/test_support.h"
#include "tuning/lambda_grid.h"
#include "tuning/lambda_selector.h"
#include "tuning/sweep_tables.h"

#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>

#include <chrono>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <iomanip>
#include <iterator>
#include <numeric>
#include <sstream>
#include <random>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace attri {
namespace {

const std::string kCli = ATTRI_CLI_PATH;

/// GroupScores of a session (λ-free training sides, averaged over TRAK's caches) against its full
/// score matrix times the groups: random 0/1 masks, as the LDS's subsets.
void expectGroupScoresEqualScoresTimesGroups(const AttributionSession& session, const std::vector<double>& lambdas)
{
    std::mt19937 rng(5);
    std::bernoulli_distribution in(0.5);
    RowMatrixF groups(7, session.trainCount());
    for (Eigen::Index i = 0; i < groups.size(); ++i)
        groups.data()[i] = in(rng) ? 1.0f : 0.0f;
    const GroupScores grouped(session, groups);
    for (double lambda : lambdas) {
        const Eigen::MatrixXd want = session.scores({}, lambda).cast<double>() * groups.cast<double>().transpose();
        const RowMatrixF got = grouped.at(lambda);
        ASSERT_EQ(got.rows(), session.testCount());
        ASSERT_EQ(got.cols(), 7);
        EXPECT_LT((got.cast<double>() - want).cwiseAbs().maxCoeff(), 1e-4 * want.cwiseAbs().maxCoeff())
            << toString(session.method()) << " λ=" << lambda;
    }
    EXPECT_THROW(GroupScores(session, RowMatrixF(2, session.trainCount() + 1)), ConfigError);
}

TEST(Cli, VersionNamesLibTorchAndBlas)
{
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " --version", &out), 0) << out;
    EXPECT_NE(out.find("AttriScope"), std::string::npos) << out;
    EXPECT_NE(out.find("openblas"), std::string::npos) << out;
}

/// The kernel set a `--version` line names ("…, Haswell kernels, …"); empty when none is named.
std::string kernelsNamedIn(const std::string& versionLine)
{
    const std::string tail = " kernels";
    const size_t end = versionLine.find(tail);
    if (end == std::string::npos)
        return {};
    const size_t start = versionLine.rfind(", ", end);
    return start == std::string::npos ? std::string() : versionLine.substr(start + 2, end - start - 2);
}

TEST(Cli, RestartsWithTheKernelsThisCpuShouldGet)
{
    // What OpenBLAS picks by itself on this CPU, whatever this test process runs with (the user's
    // OPENBLAS_CORETYPE, or the test main's own restart).
    std::string out;
    ASSERT_EQ(test::runCommand("env -u OPENBLAS_CORETYPE ATTRI_KEEP_BLAS_KERNELS=1 " + kCli + " --version", &out), 0)
        << out;
    const std::string native = kernelsNamedIn(out);
    ASSERT_FALSE(native.empty()) << out;
    // Started without OPENBLAS_CORETYPE, the CLI keeps OpenBLAS's choice unless that is the generic
    // fallback and this CPU has better kernels.
    const std::string better = betterBlasKernelsThan(native);
    const std::string expected = better.empty() ? native : better;
    ASSERT_EQ(test::runCommand("env -u OPENBLAS_CORETYPE -u ATTRI_KEEP_BLAS_KERNELS " + kCli + " --version", &out), 0)
        << out;
    EXPECT_EQ(kernelsNamedIn(out), expected) << out;
    // The user's choice is kept.
    ASSERT_EQ(test::runCommand("env OPENBLAS_CORETYPE=Prescott " + kCli + " --version", &out), 0) << out;
    EXPECT_EQ(kernelsNamedIn(out), "Prescott") << out;
}

TEST(Cli, DeviceOption)
{
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " --device cpu --version", &out), 0) << out;
    EXPECT_NE(out.find("device cpu"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " --device gpu --version", &out), 2);
    EXPECT_NE(out.find("unknown device 'gpu'; choose auto, cpu or cuda"), std::string::npos) << out;
    ASSERT_EQ(test::runCommand(kCli + " --device auto --version", &out), 0) << out;
    if (out.find("device cuda") == std::string::npos) {
        // No usable GPU: auto runs on the CPU, and cuda is refused before any work, saying why.
        EXPECT_NE(out.find("device cpu"), std::string::npos) << out;
        EXPECT_EQ(test::runCommand(kCli + " --device cuda train --data demo --out /nonexistent/x.h5", &out), 2);
        EXPECT_NE(out.find("--device cuda: this LibTorch"), std::string::npos) << out;
        EXPECT_NE(out.find("Use --device cpu or auto"), std::string::npos) << out;
    }
    ASSERT_EQ(test::runCommand(kCli + " --help", &out), 0);
    EXPECT_NE(out.find("--device D"), std::string::npos) << out;
}

TEST(Cli, HelpListsCommandsAndOptions)
{
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " --help", &out), 0);
    for (const char* cmd : {"train", "import", "info", "demo"})
        EXPECT_NE(out.find(cmd), std::string::npos) << cmd;
    ASSERT_EQ(test::runCommand(kCli + " train --help", &out), 0);
    for (const char* opt : {"--data", "--model", "--optimizer", "--lr", "--momentum", "--batch-size", "--epochs",
                            "--weight-decay", "--seed", "--train-size", "--sample-seed", "--out"})
        EXPECT_NE(out.find(opt), std::string::npos) << opt;
    // Long option texts are wrapped and indented under their option.
    ASSERT_EQ(test::runCommand(kCli + " recommend --help", &out), 0);
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        size_t width = 0;
        for (unsigned char c : line)
            width += (c & 0xC0) != 0x80;
        if (line.rfind("      ", 0) == 0) { // an option's or argument's text
            EXPECT_LE(width, 100u) << line;
        }
    }
    EXPECT_NE(out.find("\n      path-match, path-or-prior: the experiment holding"), std::string::npos) << out;
}

TEST(Cli, BadArgumentsGiveClearErrors)
{
    std::string out;
    EXPECT_EQ(test::runCommand(kCli + " frobnicate", &out), 2);
    EXPECT_NE(out.find("unknown command"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " train --model vit --out /tmp/x.h5", &out), 2);
    EXPECT_NE(out.find("vit"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " train --data nosuch:thing --out /tmp/x.h5", &out), 2);
    EXPECT_NE(out.find("nosuch"), std::string::npos) << out;
    EXPECT_NE(test::runCommand(kCli + " info /nonexistent/file.h5", &out), 0);
    EXPECT_NE(out.find("/nonexistent/file.h5"), std::string::npos) << out;
    // Non-finite normalization and out-of-range indices are refused, naming the option.
    EXPECT_EQ(test::runCommand(kCli + " train --data demo --mean nan --out /tmp/x.h5", &out), 2);
    EXPECT_NE(out.find("--mean expects comma-separated finite numbers"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " train --data demo --std 1,inf,2 --out /tmp/x.h5", &out), 2);
    EXPECT_NE(out.find("--std"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " attribute /nonexistent.h5 --k 99999999999999999999", &out), 2);
    EXPECT_NE(out.find("--k expects comma-separated non-negative integers"), std::string::npos) << out;
}

// The issue's acceptance check: LR on the demo reaches about 0.8 test accuracy and `info` shows it.
TEST(Cli, TrainDemoLogisticRegressionThenInfo)
{
    test::TempDir dir;
    std::string exp = dir.file("x.h5");
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " --threads 2 train --data demo --model lr --out " + exp, &out), 0) << out;
    auto pos = out.find("test accuracy ");
    ASSERT_NE(pos, std::string::npos) << out;
    double acc = std::stod(out.substr(pos + 14));
    EXPECT_GT(acc, 0.75) << out;
    EXPECT_LT(acc, 0.95) << out;
    ASSERT_TRUE(std::filesystem::exists(exp));
    ASSERT_EQ(test::runCommand(kCli + " info " + exp, &out), 0) << out;
    EXPECT_NE(out.find("lr"), std::string::npos) << out;
    EXPECT_NE(out.find("demo"), std::string::npos) << out;
}

// The rule path-match reads the loss-gradient features of every checkpoint (as TracIn stores
// them; here three checkpoints in two epochs, so one falls inside an epoch); without them it
// says what to run, naming the file.
TEST(Cli, RecommendPathMatchReadsTheCheckpointsFeatures)
{
    test::TempDir dir;
    const std::string exp = dir.file("e.h5");
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " train --data demo --model mlp --train-size 300 --test-size 30 --epochs 2 "
                                      "--checkpoints 3 --out " + exp,
                               &out),
              0)
        << out;
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method trak --k 32 --sensitivity-tests 10", &out), 0)
        << out;
    // TRAK featurizes every checkpoint: its margin features, times −(1 − p), are the path already.
    ASSERT_EQ(test::runCommand(kCli + " recommend " + exp + " --method trak --rule path-match", &out), 0) << out;
    EXPECT_NE(out.find("influence unrolled along 3 checkpoints"), std::string::npos) << out;
    EXPECT_NE(out.find("TRAK's margin features times -(1 - p)"), std::string::npos) << out;
    const std::string marginOnly = dir.file("margin-only.h5");
    std::filesystem::copy_file(exp, marginOnly);
    // Without either, the error names the file and says what to run (IF features the final
    // checkpoint only).
    const std::string ifOnly = dir.file("if-only.h5");
    ASSERT_EQ(test::runCommand(kCli + " train --data demo --model mlp --train-size 300 --test-size 30 --epochs 2 "
                                      "--checkpoints 3 --out " + ifOnly,
                               &out),
              0)
        << out;
    ASSERT_EQ(test::runCommand(kCli + " attribute " + ifOnly + " --method if --k 32 --sensitivity-tests 10", &out), 0)
        << out;
    EXPECT_EQ(test::runCommand(kCli + " recommend " + ifOnly + " --method if --rule path-match", &out), 2) << out;
    EXPECT_NE(out.find(ifOnly + ": no loss-gradient (or TRAK margin) features"), std::string::npos) << out;
    EXPECT_NE(out.find("--method tracin"), std::string::npos) << out;
    ASSERT_EQ(test::runCommand(kCli + " recommend " + ifOnly + " --method if --rule path-or-prior", &out), 0) << out;
    EXPECT_NE(out.find("inputs: dynamics-prior (no recorded training path)"), std::string::npos) << out;
    EXPECT_NE(out.find("no training path used: " + ifOnly + ": no loss-gradient"), std::string::npos) << out;

    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method tracin --k 64", &out), 0) << out;
    ASSERT_EQ(test::runCommand(kCli + " recommend " + exp + " --method trak --rule path-match", &out), 0) << out;
    EXPECT_NE(out.find("rule path-match"), std::string::npos) << out;
    EXPECT_NE(out.find("influence unrolled along 3 checkpoints"), std::string::npos) << out;
    EXPECT_NE(out.find("mean cosine with the unrolled scores"), std::string::npos) << out;
    H5File file(exp, H5File::Mode::ReadOnly);
    bool stored = false;
    for (const RecommendationRecord& r : listRecommendations(file))
        if (r.rule == "path-match") {
            stored = true;
            EXPECT_EQ(r.method, "trak");
            EXPECT_EQ(r.k, 32);
            EXPECT_GT(r.lambda, 0.0);
            EXPECT_EQ(r.meanXi.size(), r.lambdas.size());
        }
    EXPECT_TRUE(stored);
    EXPECT_EQ(test::runCommand(kCli + " study --data demo --model lr --rule path-match --out " + dir.file("s"), &out), 2);
    EXPECT_NE(out.find("--path-checkpoints C scores it"), std::string::npos) << out;

    // The path from another file: the same run without checkpoints takes it; another seed's
    // run is refused, naming the file.
    const std::string same = dir.file("same.h5"), other = dir.file("other.h5");
    for (const auto& [file, seed] : {std::pair{same, 0}, std::pair{other, 7}}) {
        ASSERT_EQ(test::runCommand(kCli + " train --data demo --model mlp --train-size 300 --test-size 30 --epochs 2 "
                                          "--seed " + std::to_string(seed) + " --out " + file,
                                   &out),
                  0)
            << out;
        ASSERT_EQ(test::runCommand(kCli + " attribute " + file + " --method trak --k 32 --sensitivity-tests 10", &out),
                  0)
            << out;
    }
    ASSERT_EQ(test::runCommand(kCli + " recommend " + same + " --method trak --rule path-match --path-from " + exp, &out),
              0)
        << out;
    EXPECT_NE(out.find("influence unrolled along 3 checkpoints"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " recommend " + other + " --method trak --rule path-match --path-from " + exp,
                               &out),
              2)
        << out;
    EXPECT_NE(out.find(exp + ": its final parameters are not the experiment's model's"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " recommend " + same + " --method trak --rule dynamics-prior --path-from " + exp,
                               &out),
              2)
        << out;
    EXPECT_NE(out.find("--path-from is for the rules path-match and path-or-prior"), std::string::npos) << out;

    // path-or-prior (the default): the path where there is one (this short run is stable on it)
    // and its budget allows (none here: whether the path fits 5% of retraining depends on this
    // machine's timing), the prior where there is none, or a budget of 0, saying why.
    ASSERT_EQ(test::runCommand(kCli + " recommend " + exp + " --method trak --path-budget none", &out), 0) << out;
    EXPECT_NE(out.find("rule path-or-prior"), std::string::npos) << out;
    EXPECT_NE(out.find("inputs: path-match: influence unrolled along 3 checkpoints"), std::string::npos) << out;
    EXPECT_EQ(out.find("path budget:"), std::string::npos) << out; // no limit: none printed
    ASSERT_EQ(test::runCommand(kCli + " recommend " + exp + " --method trak --path-budget 0", &out), 0) << out;
    EXPECT_NE(out.find("inputs: dynamics-prior (the path budget is 0)"), std::string::npos) << out;
    // The default budget: the retraining is estimated by timing the model's steps, and printed.
    ASSERT_EQ(test::runCommand(kCli + " recommend " + exp + " --method trak", &out), 0) << out;
    EXPECT_NE(out.find("path budget: "), std::string::npos) << out;
    EXPECT_NE(out.find(" of the estimated "), std::string::npos) << out;
    EXPECT_NE(out.find("timed: a few optimizer steps of the model)"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " recommend " + exp + " --method trak --path-budget -1", &out), 2) << out;
    EXPECT_NE(out.find("--path-budget takes a share >= 0 or 'none', got -1"), std::string::npos) << out;
    ASSERT_EQ(test::runCommand(kCli + " recommend " + other + " --method trak", &out), 0) << out;
    EXPECT_NE(out.find("inputs: dynamics-prior (one checkpoint is no training path"), std::string::npos) << out;

    // The path from TRAK's margin features equals TracIn's loss-gradient path: the same rows (up
    // to float rounding), losses and feature scale.
    NullProgress progress;
    CancelToken cancel;
    const auto session = AttributionSession::open(exp, "trak", 32, progress, cancel);
    SelectorInputs fromLoss = selectorInputs(*session), fromMargin = selectorInputs(*session);
    const auto lossPath = attachTrainingPath(exp, *session, fromLoss);
    const auto marginPath = attachTrainingPath(marginOnly, *session, fromMargin);
    EXPECT_FALSE(lossPath->fromMargin);
    EXPECT_TRUE(marginPath->fromMargin);
    ASSERT_EQ(fromMargin.path.size(), 3u);
    ASSERT_EQ(fromLoss.path.size(), 3u);
    for (size_t c = 0; c < 3; ++c) {
        const RowMatrixF& a = *fromMargin.path[c].trainFeatures;
        const RowMatrixF& b = *fromLoss.path[c].trainFeatures;
        ASSERT_EQ(a.rows(), b.rows());
        ASSERT_EQ(a.cols(), b.cols());
        EXPECT_LT((a - b).norm(), 1e-3 * b.norm()) << "checkpoint " << c;
        EXPECT_EQ(fromMargin.path[c].trainLoss, fromLoss.path[c].trainLoss);
        EXPECT_DOUBLE_EQ(fromMargin.path[c].epochs, fromLoss.path[c].epochs);
    }
    EXPECT_LT((*fromMargin.pathTestFeatures - *fromLoss.pathTestFeatures).norm(),
              1e-3 * fromLoss.pathTestFeatures->norm());
    SelectorOptions o;
    o.rule = SelectorRule::PathMatch;
    const std::vector<double> grid = LambdaGrid::defaultRelative().toAbsolute(session->meanEigenvalue());
    const LambdaRecommendation viaLoss = recommendLambda(fromLoss, grid, o, progress, cancel);
    const LambdaRecommendation viaMargin = recommendLambda(fromMargin, grid, o, progress, cancel);
    EXPECT_NEAR(viaMargin.pathStability, viaLoss.pathStability, 0.05 * viaLoss.pathStability);
    EXPECT_LT((viaMargin.meanXi - viaLoss.meanXi).cwiseAbs().maxCoeff(), 0.02);

    // Subset sums at any λ: TRAK's three checkpoint caches averaged, and a λ-free method.
    ASSERT_EQ(session->caches().size(), 3u);
    expectGroupScoresEqualScoresTimesGroups(*session, {grid.front(), grid[12], grid.back()});
    expectGroupScoresEqualScoresTimesGroups(*AttributionSession::open(exp, "tracin", 64, progress, cancel), {1.0});
}

// The λ-free method `unrolled`: computed by `attribute`, read by every scoring command, and equal
// to the closed form evaluated here in double from the file's features (one segment per epoch of
// a 3-epoch run with 3 checkpoints, a half-data model's ⌈⌊n/2⌋/B⌉ steps per epoch, c from the
// stored gradient norms, the Gauss–Newton weights p/(1 − p) from the stored losses).
TEST(Cli, AttributeUnrolledScoresTheRecordedPath)
{
    test::TempDir dir;
    const std::string exp = dir.file("u.h5");
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " train --data demo --model mlp --train-size 300 --test-size 30 --epochs 3 "
                                      "--momentum 0.5 --weight-decay 0.001 --checkpoints 3 --out " + exp,
                               &out),
              0)
        << out;
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method unrolled --k 16,32", &out), 0) << out;
    ASSERT_EQ(test::runCommand(kCli + " topk " + exp + " --method unrolled --k 32 --test 0 --n 3", &out), 0) << out;
    EXPECT_NE(out.find("proponents"), std::string::npos) << out;
    EXPECT_NE(out.find("opponents"), std::string::npos) << out;

    // TracIn reads the same loss features at every checkpoint: the file's are reused, and computing
    // them again (--refeaturize) gives the same numbers.
    auto storedFeatures = [&] {
        H5File f(exp, H5File::Mode::ReadOnly);
        return readFeatures(f, "loss-kron-k32-s0-all-c1", "train");
    };
    const RowMatrixF before = storedFeatures();
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method tracin --k 16,32", &out), 0) << out;
    size_t reused = 0;
    for (size_t at = out.find("), reused"); at != std::string::npos; at = out.find("), reused", at + 1))
        ++reused;
    EXPECT_EQ(reused, 3u) << out;
    EXPECT_EQ(out.find("featurizing checkpoint"), std::string::npos) << out;
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method tracin --k 16,32 --refeaturize", &out), 0) << out;
    EXPECT_EQ(out.find("), reused"), std::string::npos) << out;
    EXPECT_NE(out.find("featurizing checkpoint 2"), std::string::npos) << out;
    const RowMatrixF after = storedFeatures();
    ASSERT_EQ(after.rows(), before.rows());
    ASSERT_EQ(after.cols(), before.cols());
    EXPECT_LT((after - before).cwiseAbs().maxCoeff(), 1e-6f);

    NullProgress progress;
    CancelToken cancel;
    const auto session = AttributionSession::open(exp, "unrolled", 32, progress, cancel);
    EXPECT_EQ(session->method(), Method::Unrolled);
    EXPECT_FALSE(session->usesLambda());
    const RowMatrixF scores = session->scores({}, 1.0);
    ASSERT_EQ(scores.rows(), 30);
    ASSERT_EQ(scores.cols(), 300);

    H5File file(exp, H5File::Mode::ReadOnly);
    const ModelRecord model = readModelRecord(file);
    ASSERT_TRUE(model.recipe.has_value());
    const TrainRecipe& r = *model.recipe;
    std::vector<FeatureRecord> records;
    for (const FeatureRecord& f : listFeatureRecords(file))
        if (f.target == FeatureTarget::Loss)
            records.push_back(f);
    std::sort(records.begin(), records.end(),
              [](const FeatureRecord& a, const FeatureRecord& b) { return a.checkpoint < b.checkpoint; });
    ASSERT_EQ(records.size(), 3u);
    const double n = 300.0, stepsPerEpoch = std::ceil(150.0 / static_cast<double>(r.batchSize));
    const double effectiveLr = r.lr / (1.0 - r.momentum);
    Eigen::MatrixXd carried = readFeatures(file, records.back().key, "test", 32).cast<double>();
    Eigen::MatrixXd expected = Eigen::MatrixXd::Zero(30, 300);
    for (int s = 2; s >= 0; --s) {
        const FeatureRecord& f = records[static_cast<size_t>(s)];
        const Eigen::MatrixXd phi = readFeatures(file, f.key, "train", 32).cast<double>();
        const double c = phi.topRows(f.gradientNormSamples).rowwise().squaredNorm().mean() / f.gradientSqNormMean;
        Eigen::MatrixXd h = Eigen::MatrixXd::Identity(32, 32) * (c * r.weightDecay);
        for (Eigen::Index i = 0; i < phi.rows(); ++i) {
            const double l = f.trainStats.loss[static_cast<size_t>(i)];
            h += std::exp(-l) / -std::expm1(-l) * phi.row(i).transpose() * phi.row(i) / n;
        }
        const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(h);
        const double a = effectiveLr / c * stepsPerEpoch * 1.0; // one epoch per segment
        Eigen::VectorXd filter(32), decay(32);
        for (int j = 0; j < 32; ++j) {
            const double mu = std::max(eig.eigenvalues()[j], c * r.weightDecay);
            filter[j] = -std::expm1(-a * mu) / mu;
            decay[j] = std::exp(-a * mu);
        }
        const Eigen::MatrixXd& v = eig.eigenvectors();
        expected += carried * v * filter.asDiagonal() * v.transpose() * phi.transpose();
        carried = carried * v * decay.asDiagonal() * v.transpose();
    }
    const double error = (scores.cast<double>() - expected).norm() / expected.norm();
    EXPECT_LT(error, 2e-3) << "relative error " << error;

    // Ground truth scores it at both k, as a method without λ.
    ASSERT_EQ(test::runCommand(kCli + " lds " + exp + " --subsets 6", &out), 0) << out;
    EXPECT_NE(out.find("unrolled       k     16: LDS"), std::string::npos) << out;
    EXPECT_NE(out.find("unrolled       k     32: LDS"), std::string::npos) << out;

    EXPECT_EQ(test::runCommand(kCli + " recommend " + exp + " --method unrolled", &out), 2) << out;
    EXPECT_NE(out.find("method unrolled has no λ to recommend"), std::string::npos) << out;

    // What it cannot unroll is refused, naming the file and the reason.
    EXPECT_EQ(test::runCommand(kCli + " attribute " + exp + " --method unrolled --proj none", &out), 2) << out;
    EXPECT_NE(out.find("choose a projection"), std::string::npos) << out;
    const std::string adam = dir.file("adam.h5");
    ASSERT_EQ(test::runCommand(kCli + " train --data demo --model lr --optimizer adam --lr 0.001 --train-size 200 "
                                      "--test-size 20 --epochs 1 --out " + adam,
                               &out),
              0)
        << out;
    EXPECT_EQ(test::runCommand(kCli + " attribute " + adam + " --method unrolled --k 16", &out), 2) << out;
    EXPECT_NE(out.find(adam + ": the unrolled method unrolls SGD in closed form; this model was trained with adam"),
              std::string::npos)
        << out;
}

// The headless flow on a small experiment: attribute → recommend (with the mean-ξ table) → lds,
// each storing what it computed; the tables are read back through the store's reader.
TEST(Cli, AttributeRecommendWithXiTableThenLds)
{
    test::TempDir dir;
    const std::string exp = dir.file("e.h5");
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " train --data demo --model mlp --train-size 400 --test-size 50 --epochs 2 --out "
                                   + exp,
                               &out),
              0)
        << out;
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method trak --k 32,64 --sensitivity-tests 20", &out), 0)
        << out;
    ASSERT_EQ(test::runCommand(kCli + " recommend " + exp + " --method trak --xi-table --simulated-subsets 8", &out), 0)
        << out;
    EXPECT_NE(out.find("recommended λ = "), std::string::npos) << out;
    EXPECT_NE(out.find("mean ξ table (33 λ × 2 k)"), std::string::npos) << out;
    // The default rule is calibrated: the features stored E‖g‖², so c is measured, not k.
    EXPECT_NE(out.find("curvature ratio rho"), std::string::npos) << out;
    EXPECT_EQ(out.find("no stored gradient norm"), std::string::npos) << out;
    {
        H5File file(exp, H5File::Mode::ReadOnly);
        const std::vector<FeatureRecord> features = listFeatureRecords(file);
        ASSERT_FALSE(features.empty());
        for (const FeatureRecord& f : features)
            EXPECT_GT(f.gradientSqNormMean, 0.0) << f.key;
    }
    ASSERT_EQ(test::runCommand(kCli + " lds " + exp + " --subsets 4", &out), 0) << out;
    EXPECT_NE(out.find("k     32: best LDS"), std::string::npos) << out;
    EXPECT_NE(out.find("k     64: best LDS"), std::string::npos) << out;
    // Without --subsets, `lds` reads back the stored ground truth (not the default M = 50), and
    // prints the same table.
    {
        std::string again;
        ASSERT_EQ(test::runCommand(kCli + " lds " + exp, &again), 0) << again;
        EXPECT_NE(again.find("ground truth already computed (subsets=4"), std::string::npos) << again;
        const auto table = [](const std::string& text) { return text.substr(text.find("ground truth: 4 subsets")); };
        EXPECT_EQ(table(again), table(out));
    }

    // Explicit IF on a non-linear model: the GGN of the selected layers (fc3: 64·10 + 10).
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method if --proj none --layers last", &out), 0) << out;
    EXPECT_NE(out.find("generalized Gauss-Newton"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " attribute " + exp + " --method if --proj none --layers all", &out), 2);
    EXPECT_NE(out.find("exceeds the explicit limit"), std::string::npos) << out;
    ASSERT_EQ(test::runCommand(kCli + " topk " + exp + " --method if --lambda 0.1 --test 3 --n 2", &out), 0) << out;
    // "if" names the stored if-explicit: its tables land under that name.
    ASSERT_EQ(test::runCommand(kCli + " recommend " + exp + " --method if --xi-table --simulated-subsets 4", &out), 0)
        << out;

    H5File file(exp, H5File::Mode::ReadOnly);
    const std::vector<SpectrumRecord> spectra = listSpectra(file, "if-explicit");
    ASSERT_EQ(spectra.size(), 1u);
    EXPECT_EQ(spectra[0].curvature, "ggn");
    EXPECT_EQ(spectra[0].k, 650);
    EXPECT_GT(spectra[0].meanEigenvalue, 0.0);
    bool explicitXi = false;
    for (const auto& t : listSweepTables(file, "if-explicit"))
        explicitXi = explicitXi || (t.quantity == "mean_xi" && t.ks == std::vector<int64_t>{650});
    EXPECT_TRUE(explicitXi);
    EXPECT_FALSE(file.exists("/attribution/if"));
    const std::vector<SweepTable> tables = listSweepTables(file, "trak");
    auto find = [&](const std::string& quantity) -> const SweepTable* {
        for (const auto& t : tables)
            if (t.quantity == quantity)
                return &t;
        return nullptr;
    };
    const SweepTable* xi = find("mean_xi");
    ASSERT_NE(xi, nullptr);
    EXPECT_EQ(xi->ks, (std::vector<int64_t>{32, 64}));
    ASSERT_EQ(xi->values.rows(), 33);
    ASSERT_EQ(xi->values.cols(), 2);
    EXPECT_TRUE(xi->values.allFinite());
    EXPECT_LE(xi->values.maxCoeff(), 1.0);
    EXPECT_GE(xi->values.minCoeff(), -1.0);
    EXPECT_GT(xi->values.maxCoeff() - xi->values.minCoeff(), 0.0); // ξ varies with λ
    const SweepTable* lds = find("lds");
    ASSERT_NE(lds, nullptr);
    EXPECT_EQ(lds->values.rows(), 25);
    EXPECT_EQ(lds->values.cols(), 2);
    EXPECT_TRUE(lds->absoluteLambdas.allFinite());
    // Absolute λ grows with the relative grid in every column.
    for (Eigen::Index c = 0; c < lds->absoluteLambdas.cols(); ++c)
        for (Eigen::Index g = 1; g < lds->absoluteLambdas.rows(); ++g)
            EXPECT_GT(lds->absoluteLambdas(g, c), lds->absoluteLambdas(g - 1, c));
    // The stored table (subset sums from the spectral factors) equals the LDS of the full score
    // matrices, column by column.
    const std::optional<GroundTruth> truth = readGroundTruth(file);
    ASSERT_TRUE(truth);
    NullProgress progress;
    CancelToken cancel;
    for (size_t c = 0; c < lds->ks.size(); ++c) {
        const auto session = AttributionSession::open(exp, "trak", lds->ks[c], progress, cancel);
        for (Eigen::Index g = 0; g < lds->values.rows(); g += 6) {
            const auto col = static_cast<Eigen::Index>(c);
            const double want = computeLds(session->scores({}, lds->absoluteLambdas(g, col)), *truth).mean;
            EXPECT_NEAR(lds->values(g, col), want, 1e-3) << "k " << lds->ks[c] << " λ " << lds->absoluteLambdas(g, col);
        }
    }
    // What is stored, read without opening a session: "if" resolves to what the file holds.
    ASSERT_TRUE(storedMethod(exp, "if"));
    EXPECT_EQ(storedMethod(exp, "if")->method, Method::InfluenceExplicit);
    ASSERT_TRUE(storedMethod(exp, "trak"));
    EXPECT_EQ(storedMethod(exp, "trak")->ks, (std::vector<int64_t>{32, 64}));
    EXPECT_FALSE(storedMethod(exp, "tracin"));
    EXPECT_THROW(storedMethod(exp, "bogus"), ConfigError);
    EXPECT_THROW(storedMethod(dir.file("missing.h5"), "trak"), Error);
    // Explicit IF's cache is reassembled from the file.
    const auto explicitIf = AttributionSession::open(exp, "if", 0, progress, cancel);
    ASSERT_EQ(explicitIf->method(), Method::InfluenceExplicit);
    expectGroupScoresEqualScoresTimesGroups(*explicitIf, {0.01 * explicitIf->meanEigenvalue(), explicitIf->meanEigenvalue()});
}

// `check`: the top-k removal and leave-one-out checks through the CLI, stored in the file, against
// the scores of the same setting and models retrained here independently.
TEST(Cli, CheckRetrainsWithoutTopProponentsAndSinglePoints)
{
    test::TempDir dir;
    const std::string exp = dir.file("e.h5");
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " train --data demo --model lr --train-size 300 --test-size 40 --out " + exp, &out),
              0)
        << out;
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method if --k 64 --sensitivity-tests 10", &out), 0) << out;
    const std::string csv = dir.file("topk.csv");
    ASSERT_EQ(test::runCommand(kCli + " check " + exp + " --tests 3,14,25,33 --remove 10 --seed 5 --csv " + csv, &out),
              0)
        << out;
    EXPECT_NE(out.find("top-k removal check: if-projected k=64"), std::string::npos) << out;
    EXPECT_NE(out.find(" of 4 test points"), std::string::npos) << out;

    // What was removed: each test point's top 10 at the session's default λ, and seeded random points.
    NullProgress quiet;
    auto session = AttributionSession::open(exp, "if", 0, quiet, CancelToken());
    const RowMatrixF scores = session->scores({}, defaultLambda(*session));
    const std::vector<int64_t> tests{3, 14, 25, 33};
    const std::string g = "/checks/topk_removal/if-projected-k64";
    std::vector<int64_t> topShape;
    std::vector<int64_t> top, random;
    std::vector<double> baseline, topIncrease, randomIncrease;
    double meanTop = 0, meanRandom = 0;
    {
        H5File file(exp, H5File::Mode::ReadOnly);
        EXPECT_EQ(file.readInt64(g + "/tests"), tests);
        top = file.readInt64(g + "/top_k", &topShape);
        random = file.readInt64(g + "/random");
        baseline = file.readDoubles(g + "/baseline_loss");
        topIncrease = file.readDoubles(g + "/topk_increase");
        randomIncrease = file.readDoubles(g + "/random_increase");
        EXPECT_EQ(file.attrString(g, "method"), "if-projected");
        EXPECT_DOUBLE_EQ(file.attrDouble(g, "lambda"), defaultLambda(*session));
        EXPECT_EQ(file.attrInt(g, "removed_per_test"), 10);
        meanTop = file.attrDouble(g, "mean_topk_increase");
        meanRandom = file.attrDouble(g, "mean_random_increase");
    }
    ASSERT_EQ(topShape, (std::vector<int64_t>{4, 10}));
    for (size_t c = 0; c < tests.size(); ++c) {
        std::vector<int64_t> order(300);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
            return scores(tests[c], a) > scores(tests[c], b);
        });
        EXPECT_EQ(std::vector<int64_t>(top.begin() + 10 * c, top.begin() + 10 * (c + 1)),
                  std::vector<int64_t>(order.begin(), order.begin() + 10));
        EXPECT_EQ(std::vector<int64_t>(random.begin() + 10 * c, random.begin() + 10 * (c + 1)),
                  sampleSubset(300, 10, 5 + static_cast<uint64_t>(tests[c])));
    }
    // Independently retrained: the baseline and test 25 without its top 10.
    const ModelRecord record = session->model();
    const DataBundle data = reloadData(session->data());
    const Model start = retrainingStart(rebuildModel(record), record.recipe);
    const auto base = perSampleLoss(trainModel(start, *record.recipe, data.train, quiet, CancelToken()).model, data.test);
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < 300; ++i)
        if (std::find(top.begin() + 20, top.begin() + 30, i) == top.begin() + 30)
            keep.push_back(i);
    const auto without =
        perSampleLoss(trainModel(start, *record.recipe, data.train.select(keep), quiet, CancelToken()).model, data.test);
    for (size_t c = 0; c < tests.size(); ++c)
        EXPECT_NEAR(baseline[c], base[static_cast<size_t>(tests[c])], 1e-5);
    EXPECT_NEAR(topIncrease[2], without[25] - base[25], 1e-5);
    // Projected IF on logistic regression finds points that matter: removing them costs more than chance.
    EXPECT_GT(meanTop, meanRandom);
    EXPECT_GT(meanTop, 0.0);
    std::ifstream in(csv);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 5) << text;
    EXPECT_EQ(text.rfind("test_index,baseline_loss,topk_increase,random_increase,top_k,random\n3,", 0), 0u) << text;

    // Leave-one-out: the loss change of every test point after leaving each listed point out.
    ASSERT_EQ(test::runCommand(kCli + " check " + exp + " --kind loo --points 5,77,150", &out), 0) << out;
    EXPECT_NE(out.find("leave-one-out check: if-projected"), std::string::npos) << out;
    {
        H5File file(exp, H5File::Mode::ReadOnly);
        const std::string l = "/checks/leave_one_out/if-projected-k64";
        EXPECT_EQ(file.readInt64(l + "/removed"), (std::vector<int64_t>{5, 77, 150}));
        std::vector<int64_t> shape;
        const std::vector<double> change = file.readDoubles(l + "/loss_change", &shape);
        ASSERT_EQ(shape, (std::vector<int64_t>{3, 40}));
        std::vector<int64_t> keep77;
        for (int64_t i = 0; i < 300; ++i)
            if (i != 77)
                keep77.push_back(i);
        const auto without77 = perSampleLoss(
            trainModel(start, *record.recipe, data.train.select(keep77), quiet, CancelToken()).model, data.test);
        for (size_t t = 0; t < 40; ++t)
            EXPECT_NEAR(change[40 + t], without77[t] - base[t], 1e-5) << t;
        const double spearman = file.attrDouble(l, "mean_spearman");
        EXPECT_GE(spearman, -1.0);
        EXPECT_LE(spearman, 1.0);
        EXPECT_TRUE(file.exists(g)); // the top-k check is kept beside it
    }

    // Errors name the option and the valid range; nothing is retrained or stored.
    EXPECT_EQ(test::runCommand(kCli + " check " + exp + " --kind shapley", &out), 2);
    EXPECT_NE(out.find("--kind must be topk or loo"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " check " + exp + " --points 3", &out), 2);
    EXPECT_NE(out.find("--points is for --kind loo"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " check " + exp + " --remove 300", &out), 2);
    EXPECT_NE(out.find("'k' must be in [1, n = 300)"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " check " + exp + " --tests 40", &out), 2);
    EXPECT_NE(out.find("expected indices in [0, 40)"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " check " + exp + " --repeats 0", &out), 2);
    EXPECT_NE(out.find("--repeats must be in [1, 1000]"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " check " + exp + " --kind loo --points 9,9", &out), 2);
    EXPECT_NE(out.find("twice"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " check " + exp + " --method trak", &out), 2);
    EXPECT_NE(out.find("attribute"), std::string::npos) << out;
}

// The validation study end to end on the demo data: the table's columns (the issue's list and the
// ground-truth noise interval), one row per k, the curves, and `recommend` on the study's file
// reporting the same ratio with its interval.
TEST(Cli, StudyWritesItsTableCurvesAndGroundTruthNoise)
{
    test::TempDir dir;
    const std::string out_dir = dir.file("study");
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " study --data demo --model lr --recipes standard --methods trak --k 16,32"
                                      " --subsets 4 --train-size 300 --test-size 40 --bootstrap 20"
                                      " --path-checkpoints 3 --path-budget none --out " + out_dir,
                               &out),
              0)
        << out;
    EXPECT_NE(out.find("90% interval"), std::string::npos) << out;
    const test::Csv table = test::readCsv(out_dir + "/study.csv");
    const std::vector<std::string>& header = table.header;
    auto column = [&](const std::string& name) { return table.column(name); };
    for (const char* name : {"model", "method", "k", "best_lambda", "best_lds", "recommended_lambda", "recommended_lds",
                             "ratio", "ratio_low", "ratio_high", "ratio_share_ge_0.95", "recommend_seconds",
                             "retrain_seconds", "dynamics-prior_lambda"})
        column(name);
    const std::vector<std::vector<std::string>>& rows = table.rows;
    ASSERT_EQ(rows.size(), 2u);
    for (size_t r = 0; r < rows.size(); ++r) {
        const auto& row = rows[r];
        ASSERT_EQ(row.size(), header.size());
        EXPECT_EQ(row[column("k")], r == 0 ? "16" : "32");
        const double best = std::stod(row[column("best_lds")]), rec = std::stod(row[column("recommended_lds")]);
        const double ratio = std::stod(row[column("ratio")]);
        EXPECT_NEAR(ratio, rec / best, 1e-4);
        EXPECT_EQ(row[column("recommended_lambda")], row[column("path-or-prior_lambda")]); // the default rule
        const double low = std::stod(row[column("ratio_low")]), high = std::stod(row[column("ratio_high")]);
        EXPECT_LE(low, high);
        const double share = std::stod(row[column("ratio_share_ge_0.95")]);
        EXPECT_GE(share, 0.0);
        EXPECT_LE(share, 1.0);
        EXPECT_TRUE(std::filesystem::exists(out_dir + "/curves-lr-standard-trak-k" + row[column("k")] + ".svg"));
        // path-match, scored on the companion run's three checkpoints.
        const double pathLds = std::stod(row[column("path-match_lds")]);
        EXPECT_GT(std::stod(row[column("path-match_lambda")]), 0.0);
        EXPECT_NEAR(std::stod(row[column("path-match_ratio")]), pathLds / best, 1e-4);
        EXPECT_LE(std::stod(row[column("path-match_ratio_low")]), std::stod(row[column("path-match_ratio_high")]));
        EXPECT_GE(std::stod(row[column("path-match_seconds")]), 0.0);
        EXPECT_GT(std::stod(row[column("path-match_stability")]), 0.0);
        // path-or-prior, run on its own, takes path-match's λ where the path is stable (and within
        // its budget: none here), and times itself.
        EXPECT_GT(std::stod(row[column("path-or-prior_seconds")]), 0.0);
        if (std::stod(row[column("path-match_stability")]) <= 1.0) {
            EXPECT_EQ(row[column("path-or-prior_lambda")], row[column("path-match_lambda")]);
        } else {
            EXPECT_EQ(row[column("path-or-prior_lambda")], row[column("dynamics-prior_lambda")]);
        }
        EXPECT_GE(std::stod(row[column("dynamics-prior_seconds")]), 0.0);
        EXPECT_GT(std::stod(row[column("path_featurize_seconds")]), 0.0);
    }
    EXPECT_TRUE(std::filesystem::exists(out_dir + "/study.md"));
    {
        std::ifstream md(out_dir + "/study.md");
        const std::string text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
        EXPECT_NE(text.find("The rule path-match (the influence unrolled along 3 checkpoints of the same run"), std::string::npos);
        // The study's own experiment keeps one checkpoint (its TRAK is unchanged); the companion has three.
        EXPECT_EQ(readModelRecord(H5File(out_dir + "/lr-standard.h5", H5File::Mode::ReadOnly)).checkpoints.size(), 1u);
        EXPECT_EQ(readModelRecord(H5File(out_dir + "/lr-standard-path.h5", H5File::Mode::ReadOnly)).checkpoints.size(),
                  3u);
    }
    // `recommend --rule path-match` on the study's file with the companion's path gives the study's λ.
    ASSERT_EQ(test::runCommand(kCli + " recommend " + out_dir + "/lr-standard.h5 --method trak --k 32 --rule path-match"
                                      " --bootstrap 20 --path-from " + out_dir + "/lr-standard-path.h5",
                               &out),
              0)
        << out;
    {
        std::ostringstream lambda;
        lambda << "recommended λ = " << std::setprecision(6) << std::stod(rows[1][column("path-match_lambda")]);
        EXPECT_NE(out.find(lambda.str()), std::string::npos) << lambda.str() << "\n" << out;
    }
    // Resuming with another checkpoint count does not reuse the companion run silently.
    EXPECT_EQ(test::runCommand(kCli + " study --data demo --model lr --recipes standard --methods trak --k 16,32"
                                      " --subsets 4 --train-size 300 --test-size 40 --bootstrap 20"
                                      " --path-checkpoints 2 --out " + out_dir,
                               &out),
              2)
        << out;
    EXPECT_NE(out.find("lr-standard-path.h5 holds a different experiment"), std::string::npos) << out;

    // `recommend` on the study's experiment: the same evidence, stored with the recommendation.
    const std::string exp = out_dir + "/lr-standard.h5";
    ASSERT_EQ(test::runCommand(kCli + " recommend " + exp + " --method trak --k 32 --bootstrap 20", &out), 0) << out;
    EXPECT_NE(out.find("ground truth: LDS"), std::string::npos) << out;
    EXPECT_NE(out.find("90% interval"), std::string::npos) << out;
    {
        // The recommendation's time against the stored retraining time, as the study's cost column.
        const size_t at = out.find("cost: ");
        ASSERT_NE(at, std::string::npos) << out;
        double seconds = 0, percent = 0, retraining = 0;
        long long models = 0;
        ASSERT_EQ(std::sscanf(out.c_str() + at, "cost: %lf s, %lf%% of the %lf s of retraining behind the stored "
                                                "ground truth (%lld models)",
                              &seconds, &percent, &retraining, &models),
                  4)
            << out.substr(at);
        EXPECT_EQ(models, 4);
        EXPECT_NEAR(percent, 100.0 * seconds / retraining, 0.01 * percent + 1e-9);
        H5File f(exp, H5File::Mode::ReadOnly);
        EXPECT_NEAR(retraining, f.attrDouble("/ground_truth", "seconds"), 1e-3 * retraining);
    }
    H5File file(exp, H5File::Mode::ReadOnly);
    const std::vector<RecommendationRecord> recs = listRecommendations(file);
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_NEAR(recs[0].ldsAtRecommended / recs[0].ldsGridBest, std::stod(rows[1][column("ratio")]), 1e-4);
    EXPECT_NEAR(recs[0].ldsRatioLow, std::stod(rows[1][column("ratio_low")]), 1e-5);
    EXPECT_NEAR(recs[0].ldsRatioHigh, std::stod(rows[1][column("ratio_high")]), 1e-5);
    // Too few resamples for an interval.
    EXPECT_EQ(test::runCommand(kCli + " study --data demo --model lr --methods trak --k 16 --bootstrap 5 --out "
                                   + dir.file("other"),
                               &out),
              2);
    EXPECT_NE(out.find("--bootstrap takes 10 to 100000"), std::string::npos) << out;
}

// The README's and the user guide's PyTorch example (docs/examples/train_in_pytorch.py), run with
// Debian's PyTorch on a small share of Fashion-MNIST, prints an `import` command that works as
// printed: the run's initial weights, its checkpoints and its recipe all arrive in the file.
TEST(Cli, ThePyTorchTrainingExamplesImportCommandWorksAsPrinted)
{
    std::string out;
    if (test::runCommand("/usr/bin/python3 -c 'import torch'", &out) != 0)
        GTEST_SKIP() << "Debian's python3-torch is not installed";
    if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
        GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
    // Once with the defaults, once with OneCycleLR (its rates are onecycle's, checked in
    // TrainRecipeTest.OneCycleFollowsPyTorch), once with augmentation, the recipe arriving
    // through manifest.json.
    for (const std::string options : {"", " --schedule onecycle --momentum 0.9", " --augment hflip,crop:2"}) {
        test::TempDir dir;
        const std::string run = dir.file("my-run"), exp = dir.file("my-run.h5");
        const std::string script = std::string(ATTRI_FIXTURES_DIR) + "/../../docs/examples/train_in_pytorch.py";
        ASSERT_EQ(test::runCommand("/usr/bin/python3 " + script + " --out " + run
                                       + " --train-size 300 --epochs 4 --checkpoint-every 2 --batch-size 32" + options,
                                   &out),
                  0)
            << out;
        const size_t start = out.find("attriscope-cli import");
        ASSERT_NE(start, std::string::npos) << out;
        std::string command = out.substr(start + std::string("attriscope-cli").size());
        command = command.substr(0, command.find("--out my-run.h5"));
        EXPECT_EQ(command, " import --checkpoints-from " + run + " --data fashion-mnist --train-size 300 ");
        ASSERT_EQ(test::runCommand(kCli + command + "--test-size 50 --out " + exp, &out), 0) << command << "\n" << out;
        ASSERT_EQ(test::runCommand(kCli + " info " + exp, &out), 0) << out;
        EXPECT_NE(out.find("imported from"), std::string::npos) << out;
        EXPECT_NE(out.find("recipe sgd"), std::string::npos) << out;
        EXPECT_NE(out.find(options.find("onecycle") == std::string::npos ? "schedule constant" : "schedule onecycle"),
                  std::string::npos)
            << out;
        EXPECT_NE(out.find(options.find("augment") == std::string::npos ? "augment none" : "augment hflip,crop:2"),
                  std::string::npos)
            << out;
        EXPECT_NE(out.find("retraining starts from the run's own initial weights"), std::string::npos) << out;
        EXPECT_NE(out.find("2 checkpoint(s)"), std::string::npos) << out; // after epoch 2, and the final model
        EXPECT_NE(out.find("300 training points"), std::string::npos) << out;
    }
}

/// tests/fixtures/pt_reference.txt (make_pytorch_run.py): λ, the test points, and per model the
/// float64 influence scores PyTorch computed (rows: those test points, columns: training points).
struct PyTorchReference {
    double lambda = 0;
    std::vector<int64_t> tests;
    std::map<std::string, std::vector<std::vector<double>>> scores;
    std::map<std::string, std::vector<std::vector<double>>> tracin; ///< Σ_c η g'_{t,c}ᵀ g_{i,c}
    std::map<std::string, double> condition; ///< κ(C + λI)
    std::map<std::string, double> scale;     ///< max ‖g'_t‖ · max ‖g_i‖ / (μ_min + λ)
};

/// The app's explicit IF against the float64 reference. Its gradients, and the curvature's sums
/// over N·K = 360 (sample, class) terms, are float; the eigendecomposition and rotation are double.
/// A relative perturbation δ of C moves τ by at most about κ·δ·scale (see pt_reference.txt), and
/// float sums of T terms err by about √T·ε_f (Higham, Accuracy and Stability, §2.8; the worst
/// case T·ε_f is never approached). With T ≤ N·K + P terms and a factor 4 for the gradients'
/// own rounding, the bound is 4·κ·√(N·K + P)·ε_f·scale: 0.1% of the largest score for the LR,
/// 0.06% for the MLP.
double pyTorchScoreTolerance(const PyTorchReference& ref, const std::string& model, size_t trainCount,
                             size_t parameters)
{
    const double terms = static_cast<double>(trainCount * 3 + parameters);
    return 4.0 * ref.condition.at(model) * std::sqrt(terms) * std::numeric_limits<float>::epsilon()
           * ref.scale.at(model);
}

PyTorchReference readPyTorchReference()
{
    std::ifstream in(test::fixture("pt_reference.txt"));
    if (!in)
        throw std::runtime_error("missing fixture pt_reference.txt (run tests/fixtures/make_pytorch_run.py)");
    PyTorchReference ref;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string key;
        words >> key;
        if (key == "lambda") {
            words >> ref.lambda;
        } else if (key == "tests") {
            for (int64_t t; words >> t;)
                ref.tests.push_back(t);
        } else if (key == "model" || key == "tracin") {
            std::string name;
            size_t rows = 0, cols = 0;
            words >> name >> rows >> cols;
            if (key == "model")
                words >> ref.condition[name] >> ref.scale[name];
            auto& m = (key == "model" ? ref.scores : ref.tracin)[name];
            for (size_t r = 0; r < rows && std::getline(in, line); ++r) {
                std::istringstream values(line);
                m.emplace_back();
                for (double v; values >> v;)
                    m.back().push_back(v);
                if (m.back().size() != cols)
                    throw std::runtime_error("pt_reference.txt: a short row for " + name);
            }
        }
    }
    return ref;
}

/// The rows of a `scores --csv` file: test index, then one score per training point.
std::vector<std::vector<double>> readScoresCsv(const std::string& path)
{
    std::ifstream in(path);
    std::vector<std::vector<double>> rows;
    std::string line;
    std::getline(in, line); // header
    while (std::getline(in, line)) {
        std::istringstream cells(line);
        std::string cell;
        rows.emplace_back();
        while (std::getline(cells, cell, ','))
            rows.back().push_back(std::stod(cell));
    }
    return rows;
}

std::string importPyTorchRun(const test::TempDir& dir, const std::string& model, const std::string& extra = "")
{
    const std::string exp = dir.file(model + ".h5");
    std::string out;
    // The recipe make_pytorch_run.py trained with; no size options: the dataset is taken whole.
    EXPECT_EQ(test::runCommand(kCli + " import --torchscript " + test::fixture("pt_" + model + ".pt") + " --data h5:"
                                   + test::fixture("pt_data.h5")
                                   + " --optimizer sgd --lr 0.5 --batch-size 16 --epochs 8 " + extra + " --out " + exp,
                               &out),
              0)
        << out;
    return exp;
}

TEST(Cli, ExplicitInfluenceOfPyTorchTrainedModelsEqualsPyTorchs)
{
    // Models trained by PyTorch, not by the app: the exact Hessian of an LR, the Gauss-Newton
    // matrix of an MLP, against float64 PyTorch (tests/fixtures/make_pytorch_run.py).
    const PyTorchReference ref = readPyTorchReference();
    test::TempDir dir;
    for (const std::string model : {"lr", "mlp"}) {
        SCOPED_TRACE(model);
        const std::string exp = importPyTorchRun(dir, model);
        std::string out;
        ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method if --proj none", &out), 0) << out;
        const std::string csv = dir.file(model + ".csv");
        std::string tests;
        for (int64_t t : ref.tests)
            tests += (tests.empty() ? "" : ",") + std::to_string(t);
        std::ostringstream lambda;
        lambda.precision(17);
        lambda << ref.lambda;
        ASSERT_EQ(test::runCommand(kCli + " scores " + exp + " --method if --lambda " + lambda.str() + " --test " + tests
                                       + " --csv " + csv,
                                   &out),
                  0)
            << out;
        const auto got = readScoresCsv(csv);
        const auto& want = ref.scores.at(model);
        const double tolerance = pyTorchScoreTolerance(ref, model, want[0].size(), model == "lr" ? 195 : 819);
        ASSERT_EQ(got.size(), want.size());
        for (size_t r = 0; r < want.size(); ++r) {
            ASSERT_EQ(got[r].size(), want[r].size() + 1);
            EXPECT_EQ(got[r][0], static_cast<double>(ref.tests[r]));
            for (size_t i = 0; i < want[r].size(); ++i)
                EXPECT_NEAR(got[r][i + 1], want[r][i], tolerance)
                    << "test point " << ref.tests[r] << ", training point " << i;
        }
    }
}

TEST(Cli, EveryRuleRecommendsForAPyTorchTrainedModel)
{
    // With its recipe, the default rule falls back to the prior (one checkpoint is no training
    // path) and says why, and each rule answers. Without a recipe no rule has the training
    // dynamics it needs: a clear error says what to add, before any work.
    test::TempDir dir;
    std::string out;
    const std::string exp = importPyTorchRun(dir, "mlp");
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method if --proj gaussian --k 32,64", &out), 0) << out;
    ASSERT_EQ(test::runCommand(kCli + " recommend " + exp + " --method if --k 64", &out), 0) << out;
    EXPECT_NE(out.find("rule path-or-prior"), std::string::npos) << out;
    EXPECT_NE(out.find("inputs: dynamics-prior (one checkpoint is no training path"), std::string::npos) << out;
    for (const char* rule : {"dynamics-prior", "path-match"}) {
        EXPECT_EQ(test::runCommand(kCli + " recommend " + exp + " --method if --k 64 --rule " + rule, &out), 0) << out;
        EXPECT_NE(out.find(std::string("rule ") + rule), std::string::npos) << out;
    }
    // Ground truth retrains it with its recipe; --curve prints LDS(λ) for each stored k.
    ASSERT_EQ(test::runCommand(kCli + " lds " + exp + " --subsets 10 --curve", &out), 0) << out;
    size_t headers = 0, bests = 0, rows = 0;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        headers += line.find("relative       lambda      LDS") != std::string::npos;
        bests += line.size() > 6 && line.compare(line.size() - 6, 6, "  best") == 0;
        double rel = 0, lambda = 0, lds = 0;
        rows += std::sscanf(line.c_str(), " %lf %lf %lf", &rel, &lambda, &lds) == 3;
    }
    EXPECT_EQ(headers, 2u) << out; // k = 32 and 64
    EXPECT_EQ(bests, 2u) << out;
    EXPECT_EQ(rows, 2 * LambdaGrid::defaultRelative().values.size()) << out;

    const std::string bare = dir.file("bare.h5");
    ASSERT_EQ(test::runCommand(kCli + " import --torchscript " + test::fixture("pt_mlp.pt") + " --data h5:"
                                   + test::fixture("pt_data.h5") + " --out " + bare,
                               &out),
              0)
        << out;
    ASSERT_EQ(test::runCommand(kCli + " attribute " + bare + " --method if --proj gaussian --k 64", &out), 0) << out;
    EXPECT_EQ(test::runCommand(kCli + " recommend " + bare + " --method if --k 64", &out), 2) << out;
    EXPECT_NE(out.find("re-import with --optimizer/--lr/--epochs/--batch-size"), std::string::npos) << out;
}

TEST(Cli, ImportedInitialWeightsAreWhereRetrainingStarts)
{
    test::TempDir dir;
    std::string out;
    const std::string exp = importPyTorchRun(dir, "mlp", "--init " + test::fixture("pt_mlp_init.pt"));
    ASSERT_EQ(test::runCommand(kCli + " info " + exp, &out), 0) << out;
    EXPECT_NE(out.find("retraining starts from the run's own initial weights"), std::string::npos) << out;
    // Ground truth and `check` retrain from exactly the archive's weights, not from a seeded draw.
    H5File file(exp, H5File::Mode::ReadOnly);
    const ModelRecord record = readModelRecord(file);
    const Model start = retrainingStart(rebuildModel(record), record.recipe);
    const Model init = Model::importTorchScript(test::fixture("pt_mlp_init.pt"));
    const ParamSet got = start.parameters(), want = init.parameters();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].name, want[i].name);
        EXPECT_EQ(got[i].values, want[i].values) << got[i].name;
    }
    // Without --init the start is a seeded draw, not the archive's weights.
    const std::string plain = dir.file("plain.h5");
    std::filesystem::rename(importPyTorchRun(dir, "mlp"), plain);
    H5File plainFile(plain, H5File::Mode::ReadOnly);
    const ModelRecord plainRecord = readModelRecord(plainFile);
    EXPECT_NE(retrainingStart(rebuildModel(plainRecord), plainRecord.recipe).parameters()[0].values, want[0].values);
    // Another module's weights are refused, naming both files.
    EXPECT_EQ(test::runCommand(kCli + " import --torchscript " + test::fixture("pt_mlp.pt") + " --init "
                                   + test::fixture("pt_lr.pt") + " --data h5:" + test::fixture("pt_data.h5")
                                   + " --lr 0.5 --epochs 8 --batch-size 16 --out " + dir.file("bad.h5"),
                               &out),
              2)
        << out;
    EXPECT_NE(out.find("--init " + test::fixture("pt_lr.pt") + " does not hold the parameters of"), std::string::npos)
        << out;
    EXPECT_FALSE(std::filesystem::exists(dir.file("bad.h5")));
}

TEST(Cli, ImportedCheckpointsServeTracInAndThePathRules)
{
    const PyTorchReference ref = readPyTorchReference();
    test::TempDir dir;
    std::string out, checkpoints;
    for (int epoch : {2, 4, 6})
        checkpoints += " --checkpoint " + test::fixture("pt_mlp_epoch" + std::to_string(epoch) + ".pt")
                       + ":epoch=" + std::to_string(epoch);
    const std::string exp = importPyTorchRun(dir, "mlp", "--init " + test::fixture("pt_mlp_init.pt") + checkpoints);
    {
        H5File file(exp, H5File::Mode::ReadOnly);
        const ModelRecord record = readModelRecord(file);
        ASSERT_EQ(record.checkpoints.size(), 4u);
        const int64_t stepsPerEpoch = (120 + 15) / 16;
        for (size_t c = 0; c < 4; ++c) {
            EXPECT_EQ(record.checkpoints[c].epoch, static_cast<int64_t>(2 * (c + 1)));
            EXPECT_EQ(record.checkpoints[c].step, static_cast<int64_t>(2 * (c + 1)) * stepsPerEpoch);
            EXPECT_EQ(record.checkpoints[c].lr, 0.5);
        }
        // Each checkpoint holds its archive's weights.
        EXPECT_EQ(record.checkpoints[1].params[0].values,
                  Model::importTorchScript(test::fixture("pt_mlp_epoch4.pt")).parameters()[0].values);
    }
    // TracIn over the four checkpoints equals PyTorch's sum of η·g'ᵀg (float features and float
    // dot products of P = 819 terms against a float64 reference: 1e-4 of the largest score).
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method tracin --proj none", &out), 0) << out;
    const std::string csv = dir.file("tracin.csv");
    ASSERT_EQ(test::runCommand(kCli + " scores " + exp + " --method tracin --test 0,1,2 --csv " + csv, &out), 0)
        << out;
    const auto got = readScoresCsv(csv);
    const auto& want = ref.tracin.at("mlp");
    ASSERT_EQ(got.size(), want.size());
    double scale = 0;
    for (const auto& row : want)
        for (double v : row)
            scale = std::max(scale, std::abs(v));
    for (size_t r = 0; r < want.size(); ++r)
        for (size_t i = 0; i < want[r].size(); ++i)
            EXPECT_NEAR(got[r][i + 1], want[r][i], 1e-4 * scale) << "test point " << r << ", training point " << i;
    // The path rule follows the imported run.
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method if --proj none", &out), 0) << out;
    ASSERT_EQ(test::runCommand(kCli + " recommend " + exp + " --method if --rule path-match", &out), 0) << out;
    EXPECT_NE(out.find("along 4 checkpoints"), std::string::npos) << out;

    // Out of order, past the run's end, another module, no recipe: clear errors, no file.
    const std::string model = " --torchscript " + test::fixture("pt_mlp.pt") + " --data h5:" + test::fixture("pt_data.h5");
    const std::string recipe = " --optimizer sgd --lr 0.5 --batch-size 16 --epochs 8";
    const std::string e4 = test::fixture("pt_mlp_epoch4.pt"), e2 = test::fixture("pt_mlp_epoch2.pt");
    const std::vector<std::pair<std::string, std::string>> bad = {
        {recipe + " --checkpoint " + e4 + ":epoch=4 --checkpoint " + e2 + ":epoch=2", "checkpoints go in training order"},
        {recipe + " --checkpoint " + e4 + ":epoch=8", "before the recipe's end (epoch 8"},
        {recipe + " --checkpoint " + e2 + ":epoch=2 --checkpoint " + e4 + ":epoch=2.01", "falls on optimizer step 16"},
        {recipe + " --checkpoint " + test::fixture("pt_lr.pt") + ":epoch=2", "does not hold the parameters of"},
        {recipe + " --checkpoint " + e2, "expected FILE.pt:epoch=E[:lr=L]"},
        {recipe + " --checkpoint " + e2 + ":epoch=two", "'two' is not a number"},
        {" --checkpoint " + e2 + ":epoch=2", "--checkpoint needs the run's recipe"},
        // A recipe is the user's own: no guessed learning rate, epochs or batch size.
        {" --lr 0.5", "the run's recipe needs --lr, --epochs and --batch-size (missing: --epochs, --batch-size)"},
    };
    for (const auto& [args, message] : bad) {
        EXPECT_EQ(test::runCommand(kCli + " import" + model + args + " --out " + dir.file("bad.h5"), &out), 2)
            << args << "\n" << out;
        EXPECT_NE(out.find(message), std::string::npos) << args << "\n" << out;
        EXPECT_FALSE(std::filesystem::exists(dir.file("bad.h5"))) << args;
    }
}

// --checkpoints-from DIR (DIR/manifest.json) and --recipe FILE.json stand for the flags they
// replace: the same checkpoints, initial weights and recipe arrive in the file; recipe flags
// override the file's fields; bad manifests and recipe files are errors naming the file and key.
TEST(Cli, ImportReadsAManifestAndARecipeFile)
{
    test::TempDir dir;
    std::string out;
    for (const char* name :
         {"pt_mlp.pt", "pt_mlp_init.pt", "pt_mlp_epoch2.pt", "pt_mlp_epoch4.pt", "pt_mlp_epoch6.pt"})
        std::filesystem::copy_file(test::fixture(name), dir.file(name));
    const std::string data = " --data h5:" + test::fixture("pt_data.h5");
    const auto manifest = [&](const std::string& checkpoints, const std::string& extra) {
        test::writeFile(
            dir.file("manifest.json"),
            "{\n  \"model\": \"pt_mlp.pt\",\n  \"init\": \"pt_mlp_init.pt\",\n  \"checkpoints\": ["
                + checkpoints + "],\n  \"recipe\": {\"optimizer\": \"sgd\", \"lr\": 0.5, \"batch_size\": 16, "
                + "\"epochs\": 8}" + extra + "\n}\n");
    };
    const std::string inOrder =
        R"({"file": "pt_mlp_epoch2.pt", "epoch": 2}, {"file": "pt_mlp_epoch4.pt", "epoch": 4},
                                   {"file": "pt_mlp_epoch6.pt", "epoch": 6, "lr": 0.25})";
    manifest(inOrder, "");
    const std::string exp = dir.file("m.h5");
    ASSERT_EQ(test::runCommand(
                  kCli + " import --checkpoints-from " + dir.path().string() + data + " --out " + exp, &out),
              0)
        << out;
    {
        H5File file(exp, H5File::Mode::ReadOnly);
        const ModelRecord record = readModelRecord(file);
        ASSERT_TRUE(record.recipe.has_value());
        EXPECT_EQ(record.recipe->optimizer, "sgd");
        EXPECT_EQ(record.recipe->lr, 0.5);
        EXPECT_EQ(record.recipe->batchSize, 16);
        EXPECT_EQ(record.recipe->epochs, 8);
        EXPECT_EQ(record.torchscriptPath, std::filesystem::absolute(dir.file("pt_mlp.pt")).string());
        ASSERT_EQ(record.checkpoints.size(), 4u);
        for (size_t c = 0; c < 3; ++c)
            EXPECT_EQ(record.checkpoints[c].epoch, static_cast<int64_t>(2 * (c + 1)));
        EXPECT_EQ(record.checkpoints[0].lr, 0.5);
        EXPECT_EQ(record.checkpoints[2].lr, 0.25); // the manifest's own "lr"
        EXPECT_EQ(record.checkpoints[1].params[0].values,
                  Model::importTorchScript(test::fixture("pt_mlp_epoch4.pt")).parameters()[0].values);
        EXPECT_EQ(record.initialParams[0].values,
                  Model::importTorchScript(test::fixture("pt_mlp_init.pt")).parameters()[0].values);
    }
    ASSERT_EQ(test::runCommand(kCli + " info " + exp, &out), 0) << out;
    EXPECT_NE(out.find("recipe sgd lr 0.5 momentum 0 batch 16 epochs 8"), std::string::npos) << out;
    EXPECT_NE(out.find("retraining starts from the run's own initial weights"), std::string::npos) << out;

    // Flags override the manifest's recipe, and a recipe file's; onecycle arrives as a schedule.
    ASSERT_EQ(test::runCommand(kCli + " import --checkpoints-from " + dir.path().string() + data
                                   + " --lr 0.4 --schedule onecycle --out " + exp,
                               &out),
              0)
        << out;
    {
        H5File file(exp, H5File::Mode::ReadOnly);
        const ModelRecord record = readModelRecord(file);
        ASSERT_TRUE(record.recipe.has_value());
        EXPECT_EQ(record.recipe->lr, 0.4);
        EXPECT_EQ(record.recipe->schedule, "onecycle");
        EXPECT_EQ(record.recipe->epochs, 8);
        // Checkpoint 1 ends step 2·8 − 1 = 15 of 64 (120 points, batches of 16): onecycle's rate there.
        EXPECT_DOUBLE_EQ(record.checkpoints[0].lr, 0.4 * record.recipe->lrMultiplier(15, 8, 64));
    }
    test::writeFile(dir.file("recipe.json"),
                    R"({"optimizer": "adam", "lr": 0.01, "batch_size": 16, "epochs": 8,
                                                "weight_decay": 0.001, "seed": 7})");
    ASSERT_EQ(test::runCommand(kCli + " import --torchscript " + test::fixture("pt_mlp.pt") + data
                                   + " --recipe " + dir.file("recipe.json") + " --epochs 9 --out " + exp,
                               &out),
              0)
        << out;
    {
        H5File file(exp, H5File::Mode::ReadOnly);
        const ModelRecord record = readModelRecord(file);
        ASSERT_TRUE(record.recipe.has_value());
        EXPECT_EQ(record.recipe->optimizer, "adam");
        EXPECT_EQ(record.recipe->lr, 0.01);
        EXPECT_EQ(record.recipe->weightDecay, 0.001);
        EXPECT_EQ(record.recipe->seed, 7u);
        EXPECT_EQ(record.recipe->epochs, 9); // the flag's
    }

    // Errors, each naming the file and what is wrong; no experiment file is written.
    const std::string from = " --checkpoints-from " + dir.path().string();
    const std::string manifestPath = dir.file("manifest.json");
    const auto expectError = [&](const std::string& args, const std::string& message, int code = 2) {
        const std::string bad = dir.file("bad.h5");
        EXPECT_EQ(test::runCommand(kCli + " import" + args + data + " --out " + bad, &out), code)
            << args << "\n"
            << out;
        EXPECT_NE(out.find(message), std::string::npos) << args << "\n" << out;
        EXPECT_FALSE(std::filesystem::exists(bad)) << args;
    };
    expectError(from + " --checkpoint " + test::fixture("pt_mlp_epoch2.pt") + ":epoch=2",
                "--checkpoint and " + manifestPath + " (its \"checkpoints\") both give");
    expectError(from + " --torchscript " + test::fixture("pt_mlp.pt"), "--torchscript and " + manifestPath);
    expectError(from + " --recipe " + dir.file("recipe.json"),
                "--recipe and " + manifestPath + " (its \"recipe\")");
    manifest(R"({"file": "pt_mlp_epoch4.pt", "epoch": 4}, {"file": "pt_mlp_epoch2.pt", "epoch": 2})", "");
    expectError(from, "checkpoint " + dir.file("pt_mlp_epoch2.pt")
                          + " (epoch 2): checkpoints go in training order, each after the one before (epoch 4)");
    manifest(R"({"file": "pt_mlp_epoch2.pt", "epoch": 2}, {"file": "pt_mlp_epoch9.pt", "epoch": 9})", "");
    expectError(from, manifestPath + ": 'checkpoints[1].file' names " + dir.file("pt_mlp_epoch9.pt")
                          + ", which does not exist");
    manifest(R"({"file": "pt_mlp_epoch2.pt", "epochs": 2})", "");
    expectError(from, manifestPath + ": unknown key 'checkpoints[0].epochs' (known: file, epoch, lr)");
    manifest(inOrder, ",\n  \"checkpoint_every\": 2");
    expectError(from, manifestPath + ": unknown key 'checkpoint_every'");
    test::writeFile(manifestPath,
                    R"({"model": "pt_mlp.pt", "recipe": {"lr": "fast", "epochs": 8, "batch_size": 16}})");
    expectError(from, manifestPath + ": 'recipe.lr' must be a number, got \"fast\"");
    test::writeFile(manifestPath, "{\"model\": \"pt_mlp.pt\",\n \"recipe\": {\"lr\": 0.5, \"epochs\": 8,}}");
    expectError(from, manifestPath + ":2:36: expected a key in double quotes, got '}'");
    expectError(" --checkpoints-from " + dir.file("absent"),
                dir.file("absent/manifest.json") + ": cannot open",
                1); // an IoError
    const std::string ts = " --torchscript " + test::fixture("pt_mlp.pt");
    test::writeFile(dir.file("r.json"), R"({"lr": 0.5, "epochs": 8, "batch_size": 16, "momentum": 1.5})");
    expectError(ts + " --recipe " + dir.file("r.json"),
                dir.file("r.json") + ": training recipe: 'momentum' must be in [0, 1)");
    test::writeFile(dir.file("r.json"), R"({"lr": 0.5, "epochs": 8, "batchsize": 16})");
    expectError(ts + " --recipe " + dir.file("r.json"), dir.file("r.json") + ": unknown key 'batchsize'");
    test::writeFile(dir.file("r.json"), R"({"lr": 0.5, "epochs": "8", "batch_size": 16})");
    expectError(ts + " --recipe " + dir.file("r.json"),
                dir.file("r.json") + ": 'epochs' must be an integer, got \"8\"");
    test::writeFile(dir.file("r.json"), R"({"lr": 0.5, "epochs": 8})");
    expectError(ts + " --recipe " + dir.file("r.json"),
                "the run's recipe needs --lr, --epochs and --batch-size "
                "(missing: --batch-size");
    test::writeFile(dir.file("r.json"), R"({"lr": 0.5, "epochs": 8, "batch_size": 16, "schedule": "onecycle",
                                            "warmup_epochs": 1})");
    expectError(ts + " --recipe " + dir.file("r.json"), dir.file("r.json")
                                                            + ": training recipe: 'warmup_epochs' must be 0 "
                                                              "with the onecycle schedule");
    // train reads the same file (and fails before it trains).
    EXPECT_EQ(test::runCommand(kCli + " train --data demo --recipe " + dir.file("r.json") + " --out "
                                   + dir.file("t.h5"),
                               &out),
              2)
        << out;
    EXPECT_NE(out.find(dir.file("r.json") + ": training recipe: 'warmup_epochs'"), std::string::npos) << out;
}

TEST(Cli, DefaultSizesTakeASmallDatasetWholeAndExplicitOnesAreChecked)
{
    test::TempDir dir;
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " import --torchscript " + test::fixture("pt_lr.pt") + " --data h5:"
                                   + test::fixture("pt_data.h5") + " --out " + dir.file("a.h5"),
                               &out),
              0)
        << out;
    ASSERT_EQ(test::runCommand(kCli + " info " + dir.file("a.h5"), &out), 0) << out;
    EXPECT_NE(out.find("120 training points, 20 test points"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " import --torchscript " + test::fixture("pt_lr.pt") + " --data h5:"
                                   + test::fixture("pt_data.h5") + " --train-size 500 --out " + dir.file("b.h5"),
                               &out),
              2)
        << out;
    EXPECT_NE(out.find("--train-size 500 but pt_data has 120 training images"), std::string::npos) << out;
}

/// Starts `args` (argv[0] = the CLI) with output discarded; returns its pid.
pid_t spawnCli(const std::vector<std::string>& args)
{
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::dup2(null, 2);
        std::vector<char*> argv;
        for (const auto& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return pid;
}

/// Waits (up to 120 s) until `ready` holds, then kills `pid` with SIGKILL and reaps it.
/// Returns whether `ready` held while the process was still running.
bool killWhen(pid_t pid, const std::function<bool()>& ready)
{
    bool caught = false;
    for (int i = 0; i < 12000; ++i) {
        if (ready()) {
            caught = ::kill(pid, SIGKILL) == 0;
            break;
        }
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid)
            return false; // finished before the moment came
        ::usleep(10000);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return caught && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

bool hasTempFile(const std::string& dir)
{
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp-") != std::string::npos)
            return true;
    return false;
}

// kill -9 in the middle of an attribution (while its result is being written) and of a
// ground-truth run: the experiment file keeps its previous bytes, and `lds` resumes from the
// subsets already trained.
TEST(Cli, KilledJobsLeaveTheFileIntactAndGroundTruthResumes)
{
    test::TempDir dir;
    const std::string exp = dir.file("e.h5");
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " train --data demo --model mlp --train-size 600 --test-size 60 --epochs 3 --out "
                                   + exp,
                               &out),
              0)
        << out;
    const std::string before = test::readFile(exp);

    const pid_t attribute = spawnCli({kCli, "attribute", exp, "--method", "trak", "--k", "64,128"});
    ASSERT_TRUE(killWhen(attribute, [&] { return hasTempFile(dir.path().string()); }))
        << "attribute finished before its write could be interrupted";
    EXPECT_EQ(test::readFile(exp), before);
    ASSERT_EQ(test::runCommand(kCli + " info " + exp, &out), 0) << out;

    const std::string partial = dir.file("e.gt-partial.h5");
    const pid_t lds = spawnCli({kCli, "lds", exp, "--subsets", "40"});
    ASSERT_TRUE(killWhen(lds, [&] { return std::filesystem::exists(partial); }))
        << "lds finished before it could be interrupted";
    EXPECT_EQ(test::readFile(exp), before);
    ASSERT_EQ(test::runCommand(kCli + " lds " + exp + " --subsets 40", &out), 0) << out;
    const auto pos = out.find("resuming ground truth: ");
    ASSERT_NE(pos, std::string::npos) << out;
    const int resumed = std::stoi(out.substr(pos + 23));
    EXPECT_GE(resumed, 1) << out;
    EXPECT_LT(resumed, 40) << out;
    EXPECT_NE(out.find("ground truth: 40 subsets"), std::string::npos) << out;
    EXPECT_FALSE(std::filesystem::exists(partial));
}

// kill -9 in the middle of a featurization: the experiment file keeps its bytes, and the next
// `attribute` takes the rows the journal already holds and computes the rest; the stored
// features equal those of an uninterrupted run bit for bit.
TEST(Cli, KilledFeaturizationResumesFromItsJournal)
{
    test::TempDir dir;
    const std::string exp = dir.file("e.h5");
    const std::string reference = dir.file("reference.h5");
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " train --data demo --model cnn --train-size 3000 --test-size 100 --epochs 1 --out "
                                   + exp,
                               &out),
              0)
        << out;
    std::filesystem::copy_file(exp, reference);
    const std::string before = test::readFile(exp);
    const std::string journal = dir.file("e.features-partial.bin");
    const auto header = std::string("attriscope feature journal v1 ").size() + 65;

    const pid_t attribute =
        spawnCli({kCli, "attribute", exp, "--method", "if", "--k", "64,256", "--batch-size", "50"});
    ASSERT_TRUE(killWhen(attribute, [&] {
        std::error_code ec;
        const auto size = std::filesystem::file_size(journal, ec);
        return !ec && size > header;
    })) << "attribute finished before its featurization could be interrupted";
    EXPECT_EQ(test::readFile(exp), before);
    ASSERT_TRUE(std::filesystem::exists(journal));

    // Then kill -9 at random moments, repeated (seeded delays over the span of a whole run, so
    // some land in featurization, some in a journal write, some in the spectra or the final
    // save): the file is always either untouched or complete, never damaged.
    const std::vector<std::string> args = {kCli, "attribute", exp, "--method", "if", "--k", "64,256", "--batch-size", "50"};
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(test::runCommand(kCli + " attribute " + reference + " --method if --k 64,256 --batch-size 50", &out), 0)
        << out;
    const double runSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::mt19937 rng(20261129);
    std::uniform_real_distribution<double> delay(0.1 * runSeconds, 0.9 * runSeconds);
    for (int round = 0; round < 4; ++round) {
        const pid_t pid = spawnCli(args);
        ::usleep(static_cast<useconds_t>(delay(rng) * 1e6));
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        if (test::readFile(exp) != before) { // the run got as far as replacing the file: it is whole
            H5File done(exp, H5File::Mode::ReadOnly);
            EXPECT_EQ(listFeatureRecords(done).size(), 1u) << "round " << round;
        }
        ASSERT_EQ(test::runCommand(kCli + " info " + exp, &out), 0) << "round " << round << ": " << out;
    }

    // What the journal holds now depends on where the random kills landed: a round may have
    // finished featurizing (deleting the journal) and been killed later, and the next round may
    // have started a fresh journal and been killed before its first block was whole. So: when
    // the journal holds at least one whole train block (550 rows at batch 50, record layout as
    // in feature_journal.h), the run must resume from it; when it holds less, it must not
    // pretend to.
    int64_t dimension = 0;
    {
        H5File r(reference, H5File::Mode::ReadOnly);
        const std::vector<FeatureRecord> records = listFeatureRecords(r);
        ASSERT_EQ(records.size(), 1u);
        dimension = readFeatures(r, records[0].key, "train").cols();
    }
    const int64_t blockRecord = 8 * 8 + 8 + 550 * dimension * 4 + 550 * 4 * 2 + 8;
    std::error_code sizeError;
    const auto journalSize = std::filesystem::file_size(journal, sizeError);
    const bool hadWholeBlock = !sizeError && journalSize >= header + static_cast<uintmax_t>(blockRecord);
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method if --k 64,256 --batch-size 50", &out), 0) << out;
    const std::string marker = "resuming featurization: checkpoint 0 train: ";
    const auto pos = out.find(marker);
    if (hadWholeBlock) {
        ASSERT_NE(pos, std::string::npos) << "journal of " << journalSize << " bytes\n" << out;
        const int resumed = std::stoi(out.substr(pos + marker.size()));
        EXPECT_GE(resumed, 550) << out;
    } else {
        EXPECT_EQ(pos, std::string::npos) << "journal of " << (sizeError ? 0 : journalSize) << " bytes\n" << out;
    }
    EXPECT_FALSE(std::filesystem::exists(journal));

    H5File a(exp, H5File::Mode::ReadOnly), b(reference, H5File::Mode::ReadOnly);
    const std::vector<FeatureRecord> fa = listFeatureRecords(a), fb = listFeatureRecords(b);
    ASSERT_EQ(fa.size(), 1u);
    ASSERT_EQ(fb.size(), 1u);
    for (const char* split : {"train", "test"}) {
        const RowMatrixF x = readFeatures(a, fa[0].key, split), y = readFeatures(b, fb[0].key, split);
        ASSERT_EQ(x.rows(), y.rows());
        ASSERT_EQ(x.cols(), y.cols());
        EXPECT_EQ(std::memcmp(x.data(), y.data(), static_cast<size_t>(x.size()) * sizeof(float)), 0) << split;
    }
    EXPECT_EQ(fa[0].trainStats.loss, fb[0].trainStats.loss);
    EXPECT_DOUBLE_EQ(fa[0].gradientSqNormMean, fb[0].gradientSqNormMean);
}

/// The stored features and ground truth of two experiment files are bitwise equal.
void expectSameResults(const std::string& a, const std::string& b)
{
    H5File fa(a, H5File::Mode::ReadOnly), fb(b, H5File::Mode::ReadOnly);
    const std::vector<FeatureRecord> ra = listFeatureRecords(fa), rb = listFeatureRecords(fb);
    ASSERT_EQ(ra.size(), rb.size());
    for (size_t i = 0; i < ra.size(); ++i) {
        EXPECT_EQ(ra[i].key, rb[i].key);
        for (const char* split : {"train", "test"}) {
            const RowMatrixF x = readFeatures(fa, ra[i].key, split), y = readFeatures(fb, rb[i].key, split);
            ASSERT_EQ(x.rows(), y.rows());
            ASSERT_EQ(x.cols(), y.cols());
            EXPECT_EQ(std::memcmp(x.data(), y.data(), static_cast<size_t>(x.size()) * sizeof(float)), 0)
                << ra[i].key << " " << split;
        }
        EXPECT_EQ(ra[i].trainStats.loss, rb[i].trainStats.loss);
        EXPECT_EQ(ra[i].gradientSqNormMean, rb[i].gradientSqNormMean);
    }
    const std::vector<double> la = fa.readDoubles("/ground_truth/test_loss"), lb = fb.readDoubles("/ground_truth/test_loss");
    EXPECT_EQ(la, lb);
    EXPECT_EQ(fa.readUInt8("/ground_truth/masks"), fb.readUInt8("/ground_truth/masks"));
}

/// A trained demo experiment and a byte copy of it, to run the same job two ways.
void trainPair(const test::TempDir& dir, const std::string& exp, const std::string& reference)
{
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " train --data demo --model mlp --train-size 1600 --test-size 60 --epochs 1 --out "
                                   + exp,
                               &out),
              0)
        << out;
    std::filesystem::copy_file(exp, reference);
    (void)dir;
}

// Sharding by hand (`--shard R/N`, as a Slurm array would): each shard featurizes its row blocks
// and trains its subsets into its own side file; the run without --shard takes them all, and the
// result equals a single-process run bit for bit.
TEST(Cli, ShardedAttributeAndGroundTruthEqualOneProcess)
{
    test::TempDir dir;
    const std::string exp = dir.file("e.h5"), reference = dir.file("reference.h5");
    trainPair(dir, exp, reference);
    std::string out;
    const std::string attribute = " --method trak --k 32,64 --batch-size 100 --sensitivity-tests 10";
    for (const char* shard : {"0/2", "1/2"}) {
        ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + attribute + " --shard " + shard, &out), 0) << out;
        EXPECT_NE(out.find(std::string("shard ") + shard + ": featurized"), std::string::npos) << out;
    }
    EXPECT_TRUE(std::filesystem::exists(dir.file("e.features-partial.r0-of-2.bin")));
    EXPECT_TRUE(std::filesystem::exists(dir.file("e.features-partial.r1-of-2.bin")));
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + attribute, &out), 0) << out;
    EXPECT_NE(out.find("resuming featurization: checkpoint 0 train: 1600 of 1600 rows already done"), std::string::npos)
        << out;
    EXPECT_FALSE(std::filesystem::exists(dir.file("e.features-partial.r0-of-2.bin")));
    EXPECT_FALSE(std::filesystem::exists(dir.file("e.features-partial.bin")));

    for (const char* shard : {"0/2", "1/2"}) {
        ASSERT_EQ(test::runCommand(kCli + " lds " + exp + " --subsets 6 --shard " + shard, &out), 0) << out;
        EXPECT_NE(out.find(std::string("shard ") + shard + ": trained 3 subset models"), std::string::npos) << out;
    }
    ASSERT_EQ(test::runCommand(kCli + " lds " + exp + " --subsets 6", &out), 0) << out;
    EXPECT_NE(out.find("resuming ground truth: 6 of 6 subsets already trained"), std::string::npos) << out;
    EXPECT_FALSE(std::filesystem::exists(dir.file("e.gt-partial.r1-of-2.h5")));

    ASSERT_EQ(test::runCommand(kCli + " attribute " + reference + attribute, &out), 0) << out;
    ASSERT_EQ(test::runCommand(kCli + " lds " + reference + " --subsets 6", &out), 0) << out;
    expectSameResults(exp, reference);

    // A bad shard is refused with the expected form.
    EXPECT_EQ(test::runCommand(kCli + " lds " + exp + " --shard 2/2", &out), 2);
    EXPECT_NE(out.find("expected R/N with 0 <= R < N"), std::string::npos) << out;
}

#ifdef ATTRI_MPI_PATH
// The same job under `mpirun -np 2 attriscope-mpi`: the merged result equals the single-process
// run bit for bit.
TEST(Cli, MpiRunEqualsOneProcess)
{
    test::TempDir dir;
    const std::string exp = dir.file("e.h5"), reference = dir.file("reference.h5");
    trainPair(dir, exp, reference);
    // OpenMPI refuses root unless told; oversubscribe: 2 ranks on however many cores; no
    // single-copy shared-memory mechanism (needs ptrace rights containers often lack).
    // Under the asan preset: OpenMPI (uninstrumented) leaks from MPI_Init and from its plugins,
    // which are unloaded by exit, so no suppression can name them; leak checking is off for the
    // MPI processes only (every other ASan check stays on; the same core code runs leak-checked
    // in ShardedAttributeAndGroundTruthEqualOneProcess).
    const std::string env = std::string(::getuid() == 0 ? "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " : "")
                            + "OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1 "
                            + "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 ";
    // One LibTorch thread everywhere: results are bitwise equal only at equal thread counts
    // (across thread counts they agree to 1e-5, see robustness_test).
    const std::string mpirun = env + ATTRI_MPIEXEC + " -np 2 " + ATTRI_MPI_PATH + " --threads 1";
    const std::string attribute = " --method trak --k 32,64 --batch-size 100 --sensitivity-tests 10";
    std::string out;
    ASSERT_EQ(test::runCommand(mpirun + " attribute " + exp + attribute, &out), 0) << out;
    EXPECT_NE(out.find("shard 0/2: featurized"), std::string::npos) << out;
    EXPECT_NE(out.find("shard 1/2: featurized"), std::string::npos) << out;
    EXPECT_NE(out.find("stored in"), std::string::npos) << out;
    ASSERT_EQ(test::runCommand(mpirun + " lds " + exp + " --subsets 6", &out), 0) << out;
    EXPECT_NE(out.find("shard 1/2: trained 3 subset models"), std::string::npos) << out;
    EXPECT_NE(out.find("ground truth: 6 subsets"), std::string::npos) << out;

    ASSERT_EQ(test::runCommand(kCli + " --threads 1 attribute " + reference + attribute, &out), 0) << out;
    ASSERT_EQ(test::runCommand(kCli + " --threads 1 lds " + reference + " --subsets 6", &out), 0) << out;
    expectSameResults(exp, reference);
}
#endif

// Ground truth retrained by PyTorch (train_in_pytorch.py --ground-truth M, the example's own
// training loop) comes into an imported run with `lds --ground-truth-from`, which scores against
// it and says where it came from; a ground truth for other test points is refused naming the file.
TEST(Cli, PyTorchGroundTruthIsImportedAndScored)
{
    std::string out;
    if (test::runCommand("/usr/bin/python3 -c 'import torch, h5py'", &out) != 0)
        GTEST_SKIP() << "Debian's python3-torch or python3-h5py is not installed";
    if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
        GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
    test::TempDir dir;
    const std::string run = dir.file("run"), other = dir.file("other"), exp = dir.file("run.h5");
    const std::string script = std::string(ATTRI_FIXTURES_DIR) + "/../../docs/examples/train_in_pytorch.py";
    const std::string recipe = " --train-size 200 --epochs 2 --batch-size 32 --lr 0.05";
    ASSERT_EQ(test::runCommand("/usr/bin/python3 " + script + " --out " + run + recipe
                                   + " --ground-truth 4 --test-size 30",
                               &out),
              0)
        << out;
    EXPECT_NE(out.find("lds my-run.h5 --ground-truth-from " + run + "/ground_truth.h5"), std::string::npos) << out;
    ASSERT_EQ(test::runCommand(kCli + " import --torchscript " + run + "/model.pt --init " + run
                                   + "/init.pt --data fashion-mnist --test-size 30 --out " + exp + recipe,
                               &out),
              0)
        << out;
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method if --proj gaussian --k 16 --sensitivity-tests 5",
                               &out),
              0)
        << out;
    ASSERT_EQ(test::runCommand(kCli + " lds " + exp + " --ground-truth-from " + run + "/ground_truth.h5", &out), 0)
        << out;
    EXPECT_NE(out.find("ground truth imported from"), std::string::npos) << out;
    EXPECT_NE(out.find("4 subset models (PyTorch"), std::string::npos) << out;
    EXPECT_NE(out.find("best LDS"), std::string::npos) << out;
    // Read back by a plain `lds`, and by `recommend` as its evidence.
    ASSERT_EQ(test::runCommand(kCli + " lds " + exp, &out), 0) << out;
    EXPECT_NE(out.find("ground truth imported from"), std::string::npos) << out;
    ASSERT_EQ(test::runCommand(kCli + " recommend " + exp + " --method if --k 16", &out), 0) << out;
    EXPECT_NE(out.find("of the 4 subsets"), std::string::npos) << out;

    // 20 test points against the experiment's 30: refused, naming the file and the shape.
    ASSERT_EQ(test::runCommand("/usr/bin/python3 " + script + " --out " + other + recipe
                                   + " --ground-truth 2 --test-size 20",
                               &out),
              0)
        << out;
    EXPECT_NE(test::runCommand(kCli + " lds " + exp + " --force --ground-truth-from " + other + "/ground_truth.h5", &out),
              0);
    EXPECT_NE(out.find(other + "/ground_truth.h5: test_loss must be 2 × 30"), std::string::npos) << out;

    // The same run through `study --from-pytorch`: imported into the study's folder, judged against
    // the same PyTorch ground truth, it recommends the λ `recommend` stored above, with the same
    // LDS there; a second run reuses the file. A folder without ground truth is refused by name.
    const std::string studyDir = dir.file("study");
    const std::string study = kCli + " study --from-pytorch " + run
                              + " --data fashion-mnist --train-size 200 --test-size 30 --methods if --k 16"
                                " --proj gaussian --bootstrap 10 --out " + studyDir;
    for (int pass = 0; pass < 2; ++pass) {
        ASSERT_EQ(test::runCommand(study, &out), 0) << out;
        const test::Csv table = test::readCsv(studyDir + "/study.csv");
        ASSERT_EQ(table.rows.size(), 1u) << out;
        const std::vector<std::string>& row = table.rows[0];
        EXPECT_EQ(row[table.column("model")], "run");
        EXPECT_EQ(row[table.column("recipe")], "pytorch-sgd");
        EXPECT_EQ(row[table.column("method")], "if-projected");
        EXPECT_EQ(row[table.column("k")], "16");
        H5File file(exp, H5File::Mode::ReadOnly);
        const std::vector<RecommendationRecord> recs = listRecommendations(file);
        ASSERT_EQ(recs.size(), 1u);
        EXPECT_NEAR(std::stod(row[table.column("recommended_lambda")]), recs[0].lambda, 1e-5 * recs[0].lambda);
        EXPECT_NEAR(std::stod(row[table.column("recommended_lds")]), recs[0].ldsAtRecommended, 1e-5);
        EXPECT_TRUE(std::filesystem::exists(studyDir + "/pytorch-run.h5"));
        EXPECT_TRUE(std::filesystem::exists(studyDir + "/curves-run-pytorch-sgd-if-projected-k16.svg"));
    }
    const std::string bare = dir.file("bare");
    std::filesystem::copy(run, bare);
    std::filesystem::remove(bare + "/ground_truth.h5");
    EXPECT_EQ(test::runCommand(kCli + " study --from-pytorch " + bare + " --train-size 200 --test-size 30 --out "
                                   + studyDir + "2",
                               &out),
              2);
    EXPECT_NE(out.find(bare + " has no ground_truth.h5"), std::string::npos) << out;
}

// --optimizer lbfgs end to end on the small PyTorch dataset: what it does not take is refused by
// name, it trains to its tolerance (or says it did not), ground truth warns about subset models
// that stopped at their cap, the default rule takes the weight decay and says why, and the rules
// that unroll training refuse.
TEST(Cli, LbfgsTrainsToItsToleranceAndTheDefaultTakesItsWeightDecay)
{
    test::TempDir dir;
    std::string out;
    const std::string data = " --data h5:" + test::fixture("pt_data.h5");
    const std::string train = kCli + " train" + data + " --model lr --optimizer lbfgs --out " + dir.file("x.h5");
    const auto refused = [&](const std::string& command, const std::string& message) {
        EXPECT_EQ(test::runCommand(command, &out), 2) << command << "\n" << out;
        EXPECT_NE(out.find(message), std::string::npos) << out;
    };
    // (The recipe's own refusals, momentum, schedule and a tolerance without lbfgs, are
    // TrainRecipeTest's; these two are the CLI's.)
    refused(train + " --batch-size 8", "--batch-size does not apply to --optimizer lbfgs");
    refused(kCli + " import --torchscript " + test::fixture("pt_lr.pt") + data
                + " --optimizer lbfgs --epochs 100 --out " + dir.file("x.h5"),
            "(missing: --tolerance)");

    const std::string exp = dir.file("lbfgs.h5");
    ASSERT_EQ(test::runCommand(kCli + " train" + data + " --model lr --optimizer lbfgs --epochs 300 "
                                   "--weight-decay 0.01 --tolerance 1e-4 --out " + exp,
                               &out),
              0)
        << out;
    EXPECT_NE(out.find("L-BFGS converged after"), std::string::npos) << out;
    ASSERT_EQ(test::runCommand(kCli + " info " + exp, &out), 0) << out;
    EXPECT_NE(out.find("recipe lbfgs lr 1 "), std::string::npos) << out;
    EXPECT_NE(out.find("tolerance 0.0001"), std::string::npos) << out;
    EXPECT_NE(out.find("final gradient max |g| "), std::string::npos) << out;
    ASSERT_EQ(test::runCommand(kCli + " attribute " + exp + " --method if --proj none --sensitivity-tests 5", &out), 0)
        << out;
    ASSERT_EQ(test::runCommand(kCli + " recommend " + exp + " --method if-explicit", &out), 0) << out;
    EXPECT_NE(out.find("converged prior (trained to convergence (lbfgs)"), std::string::npos) << out;
    EXPECT_NE(out.find("lambda_true = wd 0.01 "), std::string::npos) << out;
    EXPECT_NE(test::runCommand(kCli + " attribute " + exp + " --method unrolled", &out), 0);
    EXPECT_NE(out.find("lbfgs"), std::string::npos) << out;

    // Capped at 2 iterations: it finishes, says so, and so does its ground truth.
    const std::string capped = dir.file("capped.h5");
    ASSERT_EQ(test::runCommand(kCli + " train" + data + " --model lr --optimizer lbfgs --epochs 2 --out " + capped,
                               &out),
              0)
        << out;
    EXPECT_NE(out.find("L-BFGS did NOT converge"), std::string::npos) << out;
    ASSERT_EQ(test::runCommand(kCli + " lds " + capped + " --subsets 3", &out), 0) << out;
    EXPECT_NE(out.find("warning: 3 of 3 subset models did not reach the L-BFGS tolerance"), std::string::npos)
        << out;
}

} // namespace
} // namespace attri
