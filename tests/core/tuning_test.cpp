// Tuning tests: λ grids, top-k, and the λ × k sensitivity sweep against a brute-force
// recomputation with the (separately tested, rank_stats_test.cpp) statistics.

#include "attribution/spectral_cache.h"
#include "common/error.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "tuning/lambda_grid.h"
#include "eval/rank_stats.h"
#include "tuning/sensitivity.h"
#include "tuning/top_k.h"
#include "workflows/study.h"

#include "support/test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

using namespace attri;
using attri::test::randomMatrix;

namespace {

// ---------------------------------------------------------------- top-k

TEST(TopK, ProponentsAndOpponentsWithTies)
{
    const std::vector<float> s = {1, 3, 3, 0, 3, -1, 2};
    const TopK top = topK(s, 4);
    ASSERT_EQ(top.proponents.size(), 4u);
    ASSERT_EQ(top.opponents.size(), 4u);
    const std::vector<int64_t> pro = {1, 2, 4, 6};
    const std::vector<int64_t> opp = {5, 3, 0, 6};
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(top.proponents[i].index, pro[i]);
        EXPECT_EQ(top.proponents[i].score, s[static_cast<size_t>(pro[i])]);
        EXPECT_EQ(top.opponents[i].index, opp[i]);
        EXPECT_EQ(top.opponents[i].score, s[static_cast<size_t>(opp[i])]);
    }
    EXPECT_EQ(topK(s, 100).proponents.size(), s.size());
    EXPECT_TRUE(topK(s, 0).proponents.empty());
    EXPECT_THROW(topK(s, -1), ConfigError);
    const std::vector<float> withNaN = {1, std::numeric_limits<float>::quiet_NaN()};
    EXPECT_THROW(topK(withNaN, 1), ConfigError);
    Eigen::VectorXf v(3);
    v << 0.5f, -2.0f, 0.7f;
    EXPECT_EQ(topK(v, 1).proponents[0].index, 2);
    EXPECT_EQ(topK(v, 1).opponents[0].index, 1);
}

// ---------------------------------------------------------------- λ grid

TEST(LambdaGrid, DefaultAndParsing)
{
    const LambdaGrid def = LambdaGrid::defaultRelative();
    ASSERT_EQ(def.values.size(), 25u);
    EXPECT_TRUE(def.relative);
    EXPECT_DOUBLE_EQ(def.values.front(), 1e-6);
    EXPECT_DOUBLE_EQ(def.values.back(), 1e2);
    for (size_t i = 1; i < def.values.size(); ++i)
        EXPECT_NEAR(def.values[i] / def.values[i - 1], std::pow(10.0, 1.0 / 3.0), 1e-9);

    const LambdaGrid list = LambdaGrid::parse("1e-3, 1e-2,0.5");
    EXPECT_EQ(list.values, (std::vector<double>{1e-3, 1e-2, 0.5}));
    const LambdaGrid log = LambdaGrid::parse("log:1e-6:1e2:25");
    ASSERT_EQ(log.values.size(), 25u);
    for (size_t i = 0; i < 25; ++i)
        EXPECT_NEAR(log.values[i], def.values[i], 1e-12 * def.values[i]);
    EXPECT_EQ(LambdaGrid::parse("log:0.1:0.1:1").values, (std::vector<double>{0.1}));
    const LambdaGrid absolute = LambdaGrid::parse("2", false);
    EXPECT_FALSE(absolute.relative);
    EXPECT_EQ(absolute.toAbsolute(123.0), (std::vector<double>{2.0}));
    const std::vector<double> abs = list.toAbsolute(4.0);
    EXPECT_DOUBLE_EQ(abs[0], 4e-3);
    EXPECT_DOUBLE_EQ(abs[2], 2.0);
    EXPECT_THROW(list.toAbsolute(0.0), ConfigError);
    EXPECT_THROW(list.toAbsolute(std::nan("")), ConfigError);

    for (const char* bad : {"", "abc", "1e-3,-1", "0", "1e-3,,1", "nan", "inf", "1e-3;1e-2", "log:1:0.1:5",
                            "log:1e-3:1:0", "log:1:2", "log:0:1:3", "log:1e-3:1:2.5", "1e999"})
        EXPECT_THROW(LambdaGrid::parse(bad), ConfigError) << bad;
    LambdaGrid empty;
    EXPECT_THROW(empty.validate(), ConfigError);
}

// ---------------------------------------------------------------- sensitivity

TEST(Sensitivity, IsotropicCurvatureGivesIdenticalRankings)
{
    // C = I: scores are φ'ᵀφ_i/(1+λ), so every λ and both "k" entries rank identically.
    const RowMatrixF train = randomMatrix(40, 5, 3);
    RowMatrixF test = randomMatrix(6, 5, 4);
    test.row(4).setZero(); // all scores 0: Spearman undefined for this test point
    const auto cache =
        SpectralCache::fromCurvature(Eigen::MatrixXd::Identity(5, 5), train, test, CurvatureConvention::Mean);
    SensitivityOptions options;
    options.grid = LambdaGrid::parse("1e-2,1e-1,1,10");
    options.topK = 5;
    options.blockSize = 4; // several blocks
    NullProgress progress;
    const auto result = lambdaSensitivity({{8, cache}, {16, cache}}, options, progress, CancelToken());
    EXPECT_EQ(result->ks, (std::vector<int64_t>{8, 16}));
    EXPECT_EQ(result->testIndices.size(), 6u);
    ASSERT_EQ(result->lambdaSpearman.rows, 3);
    ASSERT_EQ(result->lambdaSpearman.cols, 2);
    ASSERT_EQ(result->kSpearman.rows, 4);
    ASSERT_EQ(result->kSpearman.cols, 1);
    for (int64_t r = 0; r < 3; ++r)
        for (int64_t c = 0; c < 2; ++c) {
            EXPECT_NEAR(result->lambdaSpearman.at(r, c), 1.0, 1e-6);
            EXPECT_EQ(result->lambdaSpearman.countAt(r, c), 5); // the zero test point is skipped
            EXPECT_DOUBLE_EQ(result->lambdaJaccard.at(r, c), 1.0);
            EXPECT_EQ(result->lambdaJaccard.countAt(r, c), 6);
        }
    for (int64_t r = 0; r < 4; ++r) {
        EXPECT_NEAR(result->kSpearman.at(r, 0), 1.0, 1e-6);
        EXPECT_DOUBLE_EQ(result->kJaccard.at(r, 0), 1.0);
    }
    EXPECT_NEAR(result->absoluteLambdas[0][2], 1.0, 1e-12); // mean eigenvalue of I is 1
}

TEST(Sensitivity, MatchesBruteForceRankStatistics)
{
    const RowMatrixF train = randomMatrix(60, 12, 5);
    const RowMatrixF test = randomMatrix(9, 12, 6);
    // Nested "k": the k = 6 cache uses the first 6 feature columns.
    const RowMatrixF train6 = train.leftCols(6), test6 = test.leftCols(6);
    const auto c12 = SpectralCache::fromFeatures(train, test, CurvatureConvention::Mean);
    const auto c6 = SpectralCache::fromFeatures(train6, test6, CurvatureConvention::Mean);
    SensitivityOptions options;
    options.grid = LambdaGrid::parse("1e-3,1e-1,10");
    options.testIndices = {0, 3, 8, 5};
    options.topK = 7;
    options.blockSize = 3;
    options.threads = 2;
    NullProgress progress;
    const auto result = lambdaSensitivity({{12, c12}, {6, c6}}, options, progress, CancelToken());
    ASSERT_EQ(result->ks, (std::vector<int64_t>{6, 12}));
    const std::vector<const SpectralCache*> caches = {c6.get(), c12.get()};
    for (int64_t j = 0; j < 3; ++j) {
        for (int64_t c = 0; c < 2; ++c) {
            const double lj = options.grid.values[j] * caches[c]->meanEigenvalue();
            if (j + 1 < 3) {
                const double lj1 = options.grid.values[j + 1] * caches[c]->meanEigenvalue();
                double sp = 0, jac = 0;
                for (int64_t t : options.testIndices) {
                    const Eigen::VectorXf a = caches[c]->scores(t, lj), b = caches[c]->scores(t, lj1);
                    sp += spearman(a, b);
                    jac += topKJaccard(a, b, 7);
                }
                EXPECT_NEAR(result->lambdaSpearman.at(j, c), sp / 4, 1e-5);
                EXPECT_NEAR(result->lambdaJaccard.at(j, c), jac / 4, 1e-12);
                EXPECT_EQ(result->lambdaSpearman.countAt(j, c), 4);
            }
        }
        double sp = 0, jac = 0;
        for (int64_t t : options.testIndices) {
            const Eigen::VectorXf a = c6->scores(t, options.grid.values[j] * c6->meanEigenvalue());
            const Eigen::VectorXf b = c12->scores(t, options.grid.values[j] * c12->meanEigenvalue());
            sp += spearman(a, b);
            jac += topKJaccard(a, b, 7);
        }
        EXPECT_NEAR(result->kSpearman.at(j, 0), sp / 4, 1e-5);
        EXPECT_NEAR(result->kJaccard.at(j, 0), jac / 4, 1e-12);
    }
}

TEST(Sensitivity, RejectsBadInputAndCancels)
{
    const RowMatrixF train = randomMatrix(20, 4, 7);
    const RowMatrixF test = randomMatrix(3, 4, 8);
    const auto cache = SpectralCache::fromFeatures(train, test, CurvatureConvention::Mean);
    const auto other = SpectralCache::fromFeatures(train.topRows(10), test, CurvatureConvention::Mean);
    NullProgress progress;
    SensitivityOptions options;
    EXPECT_THROW(lambdaSensitivity({}, options, progress, CancelToken()), ConfigError);
    EXPECT_THROW(lambdaSensitivity({{4, cache}, {8, other}}, options, progress, CancelToken()), ConfigError);
    EXPECT_THROW(lambdaSensitivity({{4, nullptr}}, options, progress, CancelToken()), ConfigError);
    SensitivityOptions badIndex;
    badIndex.testIndices = {3};
    EXPECT_THROW(lambdaSensitivity({{4, cache}}, badIndex, progress, CancelToken()), ConfigError);
    SensitivityOptions badTop;
    badTop.topK = 0;
    EXPECT_THROW(lambdaSensitivity({{4, cache}}, badTop, progress, CancelToken()), ConfigError);
    SensitivityOptions badGrid;
    badGrid.grid.values = {1.0, -1.0};
    EXPECT_THROW(lambdaSensitivity({{4, cache}}, badGrid, progress, CancelToken()), ConfigError);
    CancelToken cancel;
    cancel.cancel();
    EXPECT_THROW(lambdaSensitivity({{4, cache}}, options, progress, cancel), Cancelled);
}

} // namespace

// The study's recipe variants change only what their names say, on every model it runs.
TEST(RecipeVariant, EachVariantChangesOnlyWhatItsNameSays)
{
    for (Architecture arch : {Architecture::LogisticRegression, Architecture::Mlp, Architecture::Cnn}) {
        SCOPED_TRACE(toString(arch));
        const TrainRecipe standard = TrainRecipe::standardFor(arch);
        auto sameExceptEpochsRateMomentumDecay = [&](const TrainRecipe& r) {
            EXPECT_EQ(r.optimizer, standard.optimizer);
            EXPECT_EQ(r.batchSize, standard.batchSize);
            EXPECT_EQ(r.seed, standard.seed);
            EXPECT_EQ(r.checkpoints, standard.checkpoints);
        };
        const TrainRecipe longer = RecipeVariant::parse("long").apply(arch);
        sameExceptEpochsRateMomentumDecay(longer);
        EXPECT_EQ(longer.epochs, 3 * standard.epochs);
        EXPECT_EQ(longer.lr, standard.lr);
        EXPECT_EQ(longer.momentum, standard.momentum);
        EXPECT_EQ(longer.weightDecay, standard.weightDecay);

        const TrainRecipe shortHigh = RecipeVariant::parse("short-high-lr").apply(arch);
        sameExceptEpochsRateMomentumDecay(shortHigh);
        EXPECT_EQ(shortHigh.epochs, std::max<int64_t>(1, standard.epochs / 10));
        EXPECT_EQ(shortHigh.lr, 0.1);
        EXPECT_EQ(shortHigh.momentum, 0.0);

        const TrainRecipe momentumWd = RecipeVariant::parse("momentum-wd").apply(arch);
        sameExceptEpochsRateMomentumDecay(momentumWd);
        EXPECT_EQ(momentumWd.epochs, standard.epochs);
        EXPECT_EQ(momentumWd.momentum, 0.9);
        EXPECT_EQ(momentumWd.weightDecay, 5e-3);
    }
    try {
        RecipeVariant::parse("longer");
        FAIL() << "an unknown variant was accepted";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("long)"), std::string::npos) << e.what();
    }
}
