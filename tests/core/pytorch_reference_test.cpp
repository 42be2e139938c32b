// TRAK, CG influence and the unrolled method on models PyTorch trained (not the app), imported
// as a user would, against float64 references computed in PyTorch from the same archives
// (tests/fixtures/make_pytorch_more.py, pt_reference_more.txt). Explicit IF and TracIn on the
// same models are checked in cli_test.cpp ("PyTorchRun").
#include "attribution/attribution_session.h"
#include "attribution/cg_influence.h"
#include "data/data_loader.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "store/experiment_file.h"
#include "store/h5_file.h"
#include "support/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace attri {
namespace {

const std::string kCli = ATTRI_CLI_PATH;
constexpr int64_t kClasses = 3;
constexpr int64_t kTrain = 120;

using Rows = std::vector<std::vector<double>>;

/// One block of pt_reference_more.txt: `METHOD MODEL PARAMETER ROWS COLUMNS SENSITIVITY SOLVE_SCALE`.
struct ReferenceBlock {
    double parameter = 0;   ///< absolute λ, or k for the unrolled method
    double sensitivity = 0; ///< first-order |δτ| per unit relative perturbation (see the script)
    double solveScale = 0; ///< CG: max ‖g'‖‖g_i‖ / (μ_min + λ), what a relative residual can move τ by
    Rows scores;           ///< rows: the test points, columns: the training points
};

struct Reference {
    std::vector<int64_t> tests;
    std::map<std::string, ReferenceBlock> blocks; ///< by "METHOD MODEL"

    const ReferenceBlock& at(const std::string& key) const
    {
        const auto it = blocks.find(key);
        if (it == blocks.end())
            throw std::runtime_error("pt_reference_more.txt has no block '" + key + "'");
        return it->second;
    }
    std::string testList() const
    {
        std::string s;
        for (int64_t t : tests)
            s += (s.empty() ? "" : ",") + std::to_string(t);
        return s;
    }
};

Reference readReference()
{
    std::ifstream in(test::fixture("pt_reference_more.txt"));
    if (!in)
        throw std::runtime_error(
            "missing fixture pt_reference_more.txt (run tests/fixtures/make_pytorch_more.py)");
    Reference ref;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string key;
        words >> key;
        if (key.empty() || key[0] == '#')
            continue;
        if (key == "tests") {
            for (int64_t t; words >> t;)
                ref.tests.push_back(t);
            continue;
        }
        std::string model;
        size_t rows = 0, cols = 0;
        ReferenceBlock block;
        if (!(words >> model >> block.parameter >> rows >> cols >> block.sensitivity >> block.solveScale))
            throw std::runtime_error("pt_reference_more.txt: a bad header: " + line);
        for (size_t r = 0; r < rows && std::getline(in, line); ++r) {
            std::istringstream values(line);
            block.scores.emplace_back();
            for (double v; values >> v;)
                block.scores.back().push_back(v);
            if (block.scores.back().size() != cols)
                throw std::runtime_error("pt_reference_more.txt: a short row in " + key + " " + model);
        }
        ref.blocks[key + " " + model] = std::move(block);
    }
    return ref;
}

/// What float32 arithmetic may move a score by. Every score is a function of features,
/// curvature and their products that the app forms in float from float weights: each a sum of at
/// most `terms` float terms, which errs by about √T·ε_f relatively (Higham, Accuracy and Stability,
/// §2.8; the worst case T·ε_f is never approached). The reference's sensitivity S turns relative
/// perturbations into a score's change (first order, the conditioning included); a factor 4 covers
/// the several float stages each input passes through. CG also stops at a relative residual
/// `tolerance`, which moves τ by at most tolerance · solveScale.
double floatBound(const ReferenceBlock& block, double terms, double tolerance = 0.0)
{
    return 4.0 * std::sqrt(terms) * std::numeric_limits<float>::epsilon() * block.sensitivity
           + tolerance * block.solveScale;
}

/// Terms of the longest float sums: the per-sample gradients' and curvature's sums over the N·K
/// (sample, class) pairs, and products over the P parameters.
double termsFor(int64_t parameters)
{
    return static_cast<double>(kTrain * kClasses + parameters);
}

/// The rows of a `scores --csv` file without its test-index column, after checking that column.
Rows readScoresCsv(const std::string& path, const std::vector<int64_t>& tests)
{
    std::ifstream in(path);
    Rows rows;
    std::string line;
    std::getline(in, line); // header
    while (std::getline(in, line)) {
        std::istringstream cells(line);
        std::string cell;
        std::getline(cells, cell, ',');
        EXPECT_EQ(std::stoll(cell), tests.at(rows.size()));
        rows.emplace_back();
        while (std::getline(cells, cell, ','))
            rows.back().push_back(std::stod(cell));
    }
    return rows;
}

/// The largest |got − want| over all entries (and checks every entry against `bound`).
double expectWithin(const Rows& got, const Rows& want, double bound, const std::string& what)
{
    EXPECT_EQ(got.size(), want.size()) << what;
    double worst = 0, largest = 0;
    for (size_t r = 0; r < std::min(got.size(), want.size()); ++r) {
        EXPECT_EQ(got[r].size(), want[r].size()) << what;
        for (size_t i = 0; i < std::min(got[r].size(), want[r].size()); ++i) {
            EXPECT_NEAR(got[r][i], want[r][i], bound)
                << what << ", test row " << r << ", training point " << i;
            worst = std::max(worst, std::abs(got[r][i] - want[r][i]));
            largest = std::max(largest, std::abs(want[r][i]));
        }
    }
    // The bound must be far below the scores themselves, or the comparison would prove little.
    EXPECT_LT(bound, 0.05 * largest) << what;
    std::printf("%s: max error %.3g, bound %.3g (error/bound %.2g), largest score %.3g\n", what.c_str(),
                worst, bound, worst / bound, largest);
    return worst;
}

std::string importRun(const test::TempDir& dir, const std::string& model, const std::string& extra = "")
{
    const std::string exp = dir.file(model + ".h5");
    std::string out;
    // The recipe make_pytorch_run.py trained with; the dataset is taken whole.
    EXPECT_EQ(test::runCommand(kCli + " import --torchscript " + test::fixture("pt_" + model + ".pt")
                                   + " --data h5:" + test::fixture("pt_data.h5")
                                   + " --optimizer sgd --lr 0.5 --batch-size 16 --epochs 8 " + extra
                                   + " --out " + exp,
                               &out),
              0)
        << out;
    return exp;
}

/// The MLP's checkpoints after epochs 2, 4 and 6 (the final model is the fourth).
std::string mlpCheckpoints()
{
    std::string s;
    for (int epoch : {2, 4, 6})
        s += " --checkpoint " + test::fixture("pt_mlp_epoch" + std::to_string(epoch) + ".pt")
             + ":epoch=" + std::to_string(epoch);
    return s;
}

std::string exactly(double v)
{
    std::ostringstream s;
    s.precision(17);
    s << v;
    return s.str();
}

/// `attribute` then `scores --csv` through the CLI, as a user runs them.
Rows cliScores(const test::TempDir& dir, const std::string& exp, const std::string& method,
               const std::string& attributeOptions, const std::string& scoreOptions, const Reference& ref)
{
    std::string out;
    EXPECT_EQ(
        test::runCommand(kCli + " attribute " + exp + " --method " + method + " " + attributeOptions, &out),
        0)
        << out;
    const std::string csv = dir.file(method + ".csv");
    EXPECT_EQ(test::runCommand(kCli + " scores " + exp + " --method " + method + " " + scoreOptions
                                   + " --test " + ref.testList() + " --csv " + csv,
                               &out),
              0)
        << out;
    return readScoresCsv(csv, ref.tests);
}

TEST(PyTorchReference, TrakOfPyTorchTrainedLogisticRegressionEqualsPyTorchs)
{
    // Exact margin gradients (--proj none), ΦᵀΦ (sum) + λI, weights 1 − p_i.
    const Reference ref = readReference();
    const ReferenceBlock& want = ref.at("trak lr");
    test::TempDir dir;
    const std::string exp = importRun(dir, "lr");
    const Rows got = cliScores(dir, exp, "trak", "--proj none", "--lambda " + exactly(want.parameter), ref);
    const double bound = floatBound(want, termsFor(195));
    expectWithin(got, want.scores, bound, "trak lr");

    // The bound is tight enough to see a wrong sign or a missing 1 − p_i weighting.
    NullProgress progress;
    const auto session = AttributionSession::open(exp, "trak", 0, progress, CancelToken());
    const std::vector<float>& w = session->trainWeights();
    ASSERT_EQ(w.size(), static_cast<size_t>(kTrain));
    double unweighted = 0, negated = 0;
    for (size_t r = 0; r < got.size(); ++r)
        for (size_t i = 0; i < got[r].size(); ++i) {
            unweighted = std::max(unweighted, std::abs(got[r][i] / w[i] - want.scores[r][i]));
            negated = std::max(negated, std::abs(-got[r][i] - want.scores[r][i]));
        }
    EXPECT_GT(unweighted, 10 * bound);
    EXPECT_GT(negated, 10 * bound);
}

TEST(PyTorchReference, TrakOfPyTorchTrainedMlpAveragesItsCheckpoints)
{
    // Four checkpoints, each with its own margin gradients, curvature and weights; their mean.
    const Reference ref = readReference();
    const ReferenceBlock& want = ref.at("trak mlp");
    test::TempDir dir;
    const std::string exp = importRun(dir, "mlp", mlpCheckpoints());
    const Rows got = cliScores(dir, exp, "trak", "--proj none", "--lambda " + exactly(want.parameter), ref);
    expectWithin(got, want.scores, floatBound(want, termsFor(819)), "trak mlp");
}

TEST(PyTorchReference, CgInfluenceOfPyTorchTrainedModelsEqualsPyTorchs)
{
    // CG has no CLI command: the test reads the model and data back from the imported experiment,
    // as `attribute` does, and solves with the exact Hessian of the mean loss (for the MLP with the
    // tanh's second derivatives, unlike explicit IF's Gauss-Newton matrix).
    const Reference ref = readReference();
    test::TempDir dir;
    NullProgress progress;
    for (const std::string model : {"lr", "mlp"}) {
        SCOPED_TRACE(model);
        const ReferenceBlock& want = ref.at("cg " + model);
        const std::string exp = importRun(dir, model);
        H5File file(exp, H5File::Mode::ReadOnly);
        const Model net = rebuildModel(readModelRecord(file));
        const DataBundle data = reloadData(readDataRecord(file));
        CgOptions options;
        options.tolerance = 1e-6;
        options.maxIterations = 500;
        const auto result = cgInfluence(net, data.train, data.test, ref.tests, want.parameter, options,
                                        progress, CancelToken());
        ASSERT_EQ(result->solves.size(), ref.tests.size());
        for (const CgSolveInfo& solve : result->solves)
            EXPECT_TRUE(solve.converged) << "test " << solve.testIndex << ": relative residual "
                                         << solve.relativeResidual << " after " << solve.iterations;
        Rows got(static_cast<size_t>(result->scores.rows()));
        for (Eigen::Index r = 0; r < result->scores.rows(); ++r)
            for (Eigen::Index i = 0; i < result->scores.cols(); ++i)
                got[static_cast<size_t>(r)].push_back(result->scores(r, i));
        const int64_t parameters = model == "lr" ? 195 : 819;
        EXPECT_EQ(result->parameterCount, parameters);
        expectWithin(got, want.scores, floatBound(want, termsFor(parameters), options.tolerance),
                     "cg " + model);
    }
}

TEST(PyTorchReference, UnrolledMethodFollowsThePyTorchRunsCheckpoints)
{
    // The unrolled method refuses --proj none (a k × k curvature at every checkpoint): the
    // reference applies the app's Rademacher projection (seed 0) itself, from its definition.
    const Reference ref = readReference();
    const ReferenceBlock& want = ref.at("unrolled mlp");
    const auto k = static_cast<int64_t>(want.parameter);
    test::TempDir dir;
    const std::string exp = importRun(dir, "mlp", mlpCheckpoints());
    const Rows got =
        cliScores(dir, exp, "unrolled", "--proj rademacher --seed 0 --k " + std::to_string(k), "", ref);
    expectWithin(got, want.scores, floatBound(want, termsFor(819) + static_cast<double>(k)), "unrolled mlp");
}

} // namespace
} // namespace attri
