// Attribution engine tests. References are independent: direct dense solves in double (Eigen
// LDLT), a NumPy fixture (tests/fixtures/make_if_reference.py), closed-form gradients written
// here, and leave-one-out retraining with a Newton solver written here.

#include "attribution/cg_influence.h"
#include "attribution/dense_products.h"
#include "attribution/explicit_curvature.h"
#include "attribution/methods.h"
#include "attribution/spectral_cache.h"
#include "common/error.h"
#include "common/runtime.h"
#include "data/image_set.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "model/internal/net.h"
#include "support/test_support.h"
#include "tuning/lambda_grid.h"
#include "eval/rank_stats.h"
#include "tuning/sensitivity.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <Eigen/Cholesky>
#include <Eigen/Dense>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>

using namespace attri;
using attri::test::randomMatrix;

namespace {

/// Per-sample weights first, first + step, first + 2·step, … (TRAK's 1 − p_i stand-in).
std::vector<float> rampWeights(int n, float first, float step)
{
    std::vector<float> w;
    for (int i = 0; i < n; ++i)
        w.push_back(first + step * static_cast<float>(i));
    return w;
}

/// Direct reference: w_i · φ_iᵀ (C + λI)⁻¹ φ'_t in double with a dense LDLT.
Eigen::VectorXd directScores(const Eigen::MatrixXd& c, const RowMatrixF& train, const RowMatrixF& test,
                             int64_t t, double lambda, const std::vector<float>& weights = {})
{
    const int64_t k = c.rows();
    const Eigen::MatrixXd a = c + lambda * Eigen::MatrixXd::Identity(k, k);
    const Eigen::VectorXd x = a.ldlt().solve(test.row(t).transpose().cast<double>());
    Eigen::VectorXd s = train.cast<double>() * x;
    for (size_t i = 0; i < weights.size(); ++i)
        s[static_cast<int64_t>(i)] *= weights[i];
    return s;
}

double maxRelativeError(const Eigen::VectorXf& got, const Eigen::VectorXd& want)
{
    const double scale = std::max(want.cwiseAbs().maxCoeff(), 1e-30);
    return (got.cast<double>() - want).cwiseAbs().maxCoeff() / scale;
}

// ---------------------------------------------------------------- dense products through BLAS

// The Torch-backed products against Eigen's own arithmetic, in non-square shapes that would
// expose a transposed view, and on the leading columns of a wider matrix.
TEST(DenseProducts, EqualEigenArithmetic)
{
    const RowMatrixF wide = randomMatrix(37, 11, 3); // Φ: 37 rows, first 7 columns used
    const int64_t k = 7;
    const Eigen::MatrixXd phi = wide.leftCols(k).cast<double>();
    Eigen::VectorXf scale = Eigen::VectorXf::Random(37);
    const Eigen::MatrixXd a = randomMatrix(5, 9, 4).cast<double>(), b = randomMatrix(9, 6, 5).cast<double>();
    EXPECT_LT((productD(a, b) - a * b).cwiseAbs().maxCoeff(), 1e-12);

    const Eigen::MatrixXd sphi = scale.cast<double>().asDiagonal() * phi;
    EXPECT_LT((weightedGramD(wide, k, scale) - sphi.transpose() * sphi).cwiseAbs().maxCoeff(), 1e-5);
    EXPECT_LT((weightedGramD(wide, k, scale, Accumulation::Single) - sphi.transpose() * sphi).cwiseAbs().maxCoeff(),
              1e-4);
    // Row blocks: rows [10, 25) alone, and the sum of three blocks is the whole.
    const Eigen::MatrixXd middle = sphi.middleRows(10, 15);
    EXPECT_LT((weightedGramD(wide, k, scale, Accumulation::Double, 10, 25) - middle.transpose() * middle)
                  .cwiseAbs()
                  .maxCoeff(),
              1e-5);
    const Eigen::MatrixXd summed = weightedGramD(wide, k, scale, Accumulation::Single, 0, 10)
                                   + weightedGramD(wide, k, scale, Accumulation::Single, 10, 25)
                                   + weightedGramD(wide, k, scale, Accumulation::Single, 25);
    EXPECT_LT((summed - sphi.transpose() * sphi).cwiseAbs().maxCoeff(), 1e-4);
    EXPECT_EQ(weightedGramD(wide, k, scale, Accumulation::Double, 37, 37), Eigen::MatrixXd::Zero(k, k));
    EXPECT_THROW(weightedGramD(wide, k, scale, Accumulation::Double, 20, 10), ConfigError);
    EXPECT_THROW(weightedGramD(wide, k, scale, Accumulation::Double, -1, 10), ConfigError);
    EXPECT_THROW(weightedGramD(wide, k, scale, Accumulation::Double, 0, 38), ConfigError);
    // The weighted Gram matrix times a block, in two passes: Y = (diag(s) Φ V)ᵀ, then Gram · V.
    const Eigen::MatrixXd block = randomMatrix(k, 3, 9).cast<double>();
    const Eigen::MatrixXf y = scaledRowsTimes(wide, k, scale, block);
    ASSERT_EQ(y.rows(), 3);
    ASSERT_EQ(y.cols(), 37);
    EXPECT_LT((y.cast<double>() - (sphi * block).transpose()).cwiseAbs().maxCoeff(), 1e-5);
    EXPECT_LT((scaledProductD(y, scale, wide, k).transpose() - sphi.transpose() * (sphi * block)).cwiseAbs().maxCoeff(),
              1e-4);
    const Eigen::VectorXf norms = rowSquaredNorms(wide, k);
    ASSERT_EQ(norms.size(), 37);
    EXPECT_LT((norms.cast<double>() - phi.rowwise().squaredNorm()).cwiseAbs().maxCoeff(), 1e-5);

    const Eigen::MatrixXf p = randomMatrix(4, k, 6);
    Eigen::MatrixXf out = randomMatrix(4, 37, 7);
    const Eigen::MatrixXd want = out.cast<double>() + p.cast<double>() * phi.transpose();
    addProductWithTransposed(out, p, wide);
    EXPECT_LT((out.cast<double>() - want).cwiseAbs().maxCoeff(), 1e-4);

    const Eigen::MatrixXf q = randomMatrix(3, 37, 8);
    const Eigen::MatrixXd scaled = q.cast<double>() * scale.cast<double>().asDiagonal() * phi;
    EXPECT_LT((scaledProductD(q, scale, wide, k) - scaled).cwiseAbs().maxCoeff(), 1e-4);

    // A Bᵀ with a non-square B of the same width (as an LDS's scores times its masks).
    const RowMatrixF rows = randomMatrix(5, 11, 10);
    const RowMatrixF abt = productWithTransposedF(rows, wide);
    ASSERT_EQ(abt.rows(), 5);
    ASSERT_EQ(abt.cols(), 37);
    EXPECT_LT((abt.cast<double>() - rows.cast<double>() * wide.cast<double>().transpose()).cwiseAbs().maxCoeff(),
              1e-4);
    EXPECT_THROW(productWithTransposedF(rows, randomMatrix(4, 10, 11)), ConfigError);

    EXPECT_THROW(productD(a, a), ConfigError);
    EXPECT_THROW(weightedGramD(wide, 12, scale), ConfigError);
    EXPECT_THROW(weightedGramD(wide, k, Eigen::VectorXf::Ones(36)), ConfigError);
    EXPECT_THROW(scaledRowsTimes(wide, k + 1, scale, block), ConfigError);
    EXPECT_THROW(scaledRowsTimes(wide, k, Eigen::VectorXf::Ones(36), block), ConfigError);
    Eigen::MatrixXf wrong(4, 36);
    EXPECT_THROW(addProductWithTransposed(wrong, p, wide), ConfigError);
}

TEST(DenseProducts, SinglePrecisionEigenReconstructsTheMatrix)
{
    const RowMatrixF f = randomMatrix(60, 20, 9);
    const Eigen::MatrixXd c = f.cast<double>().transpose() * f.cast<double>();
    Eigen::VectorXd mu, mu64;
    Eigen::MatrixXd v, v64;
    symmetricEigen(c, &mu, &v, EigenPrecision::Single);
    symmetricEigen(c, &mu64, &v64);
    const double top = mu64.maxCoeff();
    EXPECT_LT((mu - mu64).cwiseAbs().maxCoeff() / top, 1e-5);
    EXPECT_LT((v * mu.asDiagonal() * v.transpose() - c).cwiseAbs().maxCoeff() / top, 1e-5);
    EXPECT_LT((v.transpose() * v - Eigen::MatrixXd::Identity(20, 20)).cwiseAbs().maxCoeff(), 1e-5);
}

TEST(DenseProducts, EigenSolverRunsOnOneThreadWhateverTheProcessUses)
{
    // The solver's LAPACK call must run on a team of one even where the process uses two threads
    // (as the programs do from start-up); with the team undone inside the solve it took 3-5x the
    // time. The caller's own setting stays as it was.
    const int before = torch::get_num_threads();
    torch::set_num_threads(2);
    EXPECT_EQ(symmetricEigenThreads(), 1);
    EXPECT_EQ(torch::get_num_threads(), 2);
    torch::set_num_threads(before);
}

// ---------------------------------------------------------------- spectral cache vs dense solve

TEST(SpectralCache, MatchesDirectSolveMeanConvention)
{
    const RowMatrixF train = randomMatrix(50, 8, 1);
    const RowMatrixF test = randomMatrix(4, 8, 2);
    const auto cache = SpectralCache::fromFeatures(train, test, CurvatureConvention::Mean);
    const Eigen::MatrixXd c = train.cast<double>().transpose() * train.cast<double>() / 50.0;
    ASSERT_EQ(cache->dimension(), 8);
    ASSERT_EQ(cache->trainCount(), 50);
    ASSERT_EQ(cache->testCount(), 4);
    EXPECT_NEAR(cache->meanEigenvalue(), c.trace() / 8.0, 1e-9 * c.trace());
    for (double lambda : {1e-3, 0.1, 1.0, 10.0})
        for (int64_t t = 0; t < 4; ++t)
            EXPECT_LT(maxRelativeError(cache->scores(t, lambda), directScores(c, train, test, t, lambda)),
                      2e-5)
                << "λ=" << lambda << " t=" << t;
}

TEST(SpectralCache, MatchesDirectSolveSumConventionWithWeights)
{
    const RowMatrixF train = randomMatrix(30, 6, 3);
    const RowMatrixF test = randomMatrix(3, 6, 4);
    const std::vector<float> weights = rampWeights(30, 0.05f, 0.03f);
    const auto cache = SpectralCache::fromFeatures(train, test, CurvatureConvention::Sum, weights);
    const Eigen::MatrixXd c = train.cast<double>().transpose() * train.cast<double>();
    EXPECT_EQ(cache->convention(), CurvatureConvention::Sum);
    for (double lambda : {1e-2, 1.0, 100.0}) {
        const RowMatrixF all = cache->scoreMatrix({}, lambda);
        ASSERT_EQ(all.rows(), 3);
        ASSERT_EQ(all.cols(), 30);
        for (int64_t t = 0; t < 3; ++t) {
            const Eigen::VectorXd want = directScores(c, train, test, t, lambda, weights);
            EXPECT_LT(maxRelativeError(cache->scores(t, lambda), want), 2e-5) << "λ=" << lambda;
            EXPECT_LT(maxRelativeError(all.row(t).transpose(), want), 2e-5) << "λ=" << lambda;
        }
    }
    // A subset of rows, in the order asked.
    const RowMatrixF some = cache->scoreMatrix({2, 0}, 1.0);
    EXPECT_LT(maxRelativeError(some.row(0).transpose(), directScores(c, train, test, 2, 1.0, weights)), 2e-5);
    EXPECT_LT(maxRelativeError(some.row(1).transpose(), directScores(c, train, test, 0, 1.0, weights)), 2e-5);
}

// Scores summed over groups of training points from the λ-free training side, against the direct
// solve's scores times the groups in double: 0/1 masks (the LDS's subsets) and general weights, with
// and without TRAK's per-sample weights.
TEST(SpectralCache, GroupScoresEqualDirectScoresTimesGroups)
{
    const RowMatrixF train = randomMatrix(40, 7, 31);
    const RowMatrixF test = randomMatrix(5, 7, 32);
    const std::vector<float> weights = rampWeights(40, 0.1f, 0.02f);
    RowMatrixF groups = randomMatrix(9, 40, 33);
    for (int64_t j = 0; j < 6; ++j) // six 0/1 masks, three rows of general weights
        for (int64_t i = 0; i < 40; ++i)
            groups(j, i) = groups(j, i) > 0.0f ? 1.0f : 0.0f;
    for (const bool weighted : {false, true}) {
        const std::vector<float> w = weighted ? weights : std::vector<float>{};
        const auto convention = weighted ? CurvatureConvention::Sum : CurvatureConvention::Mean;
        const auto cache = SpectralCache::fromFeatures(train, test, convention, w);
        Eigen::MatrixXd c = train.cast<double>().transpose() * train.cast<double>();
        if (!weighted)
            c /= 40.0;
        const RowMatrixF side = cache->groupTrainSide(groups);
        ASSERT_EQ(side.rows(), 9);
        ASSERT_EQ(side.cols(), 7);
        for (double lambda : {1e-2, 1.0, 30.0}) {
            const RowMatrixF got = cache->groupScoreMatrix(side, lambda);
            ASSERT_EQ(got.rows(), 5);
            ASSERT_EQ(got.cols(), 9);
            for (int64_t t = 0; t < 5; ++t) {
                const Eigen::VectorXd want =
                    groups.cast<double>() * directScores(c, train, test, t, lambda, w);
                const double scale = want.cwiseAbs().maxCoeff();
                EXPECT_LT((got.row(t).transpose().cast<double>() - want).cwiseAbs().maxCoeff(), 2e-5 * scale)
                    << "weighted " << weighted << " λ=" << lambda << " t=" << t;
            }
        }
        EXPECT_THROW(cache->groupTrainSide(randomMatrix(3, 39, 34)), ConfigError);
        EXPECT_THROW(cache->groupScoreMatrix(randomMatrix(3, 6, 35), 1.0), ConfigError);
        for (double lambda : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN()})
            EXPECT_THROW(cache->groupScoreMatrix(side, lambda), ConfigError) << lambda;
        EXPECT_EQ(cache->groupScoreMatrix(cache->groupTrainSide(RowMatrixF(0, 40)), 1.0).cols(), 0);
    }
}

TEST(SpectralCache, RankDeficientFeaturesStillSolve)
{
    // k > n: C is singular (tiny negative eigenvalues from rounding are clipped to 0).
    const RowMatrixF train = randomMatrix(5, 12, 5);
    const RowMatrixF test = randomMatrix(2, 12, 6);
    const auto cache = SpectralCache::fromFeatures(train, test, CurvatureConvention::Mean);
    EXPECT_GE(cache->eigenvalues().minCoeff(), 0.0);
    EXPECT_LE(cache->mostNegativeEigenvalue(), 0.0);
    EXPECT_GT(cache->mostNegativeEigenvalue(), -1e-10);
    const Eigen::MatrixXd c = train.cast<double>().transpose() * train.cast<double>() / 5.0;
    for (double lambda : {1e-2, 1.0})
        EXPECT_LT(maxRelativeError(cache->scores(1, lambda), directScores(c, train, test, 1, lambda)), 2e-5);
}

TEST(SpectralCache, RecordsAndClipsNegativeEigenvalues)
{
    Eigen::MatrixXd c = Eigen::Vector3d(-2.0, 1.0, 3.0).asDiagonal();
    const RowMatrixF train = randomMatrix(4, 3, 7);
    const RowMatrixF test = randomMatrix(1, 3, 8);
    const auto cache = SpectralCache::fromCurvature(c, train, test, CurvatureConvention::Mean);
    EXPECT_DOUBLE_EQ(cache->mostNegativeEigenvalue(), -2.0);
    EXPECT_NEAR(cache->eigenvalues()[0], 0.0, 1e-15);
    EXPECT_NEAR(cache->eigenvalues()[1], 1.0, 1e-12);
    EXPECT_NEAR(cache->eigenvalues()[2], 3.0, 1e-12);
    EXPECT_NEAR(cache->meanEigenvalue(), 2.0 / 3.0, 1e-15); // tr(C)/d before clipping
    // Scores use the clipped spectrum: diag(0, 1, 3) + λ.
    const Eigen::MatrixXd clipped = Eigen::Vector3d(0.0, 1.0, 3.0).asDiagonal();
    EXPECT_LT(maxRelativeError(cache->scores(0, 0.5), directScores(clipped, train, test, 0, 0.5)), 2e-6);
}

TEST(SpectralCache, FromRotatedReassemblesTheSameCache)
{
    const RowMatrixF train = randomMatrix(25, 5, 23);
    const RowMatrixF test = randomMatrix(3, 5, 24);
    const std::vector<float> weights(25, 0.5f);
    const auto cache = SpectralCache::fromFeatures(train, test, CurvatureConvention::Sum, weights);
    const auto again = SpectralCache::fromRotated(cache->eigenvalues(), cache->trainRotated(),
                                                  cache->testRotated(), CurvatureConvention::Sum, weights);
    EXPECT_NEAR(again->meanEigenvalue(), cache->meanEigenvalue(), 1e-9 * cache->meanEigenvalue());
    EXPECT_EQ(again->convention(), CurvatureConvention::Sum);
    EXPECT_EQ((again->scores(2, 0.3) - cache->scores(2, 0.3)).cwiseAbs().maxCoeff(), 0.0f);
    const auto withMean =
        SpectralCache::fromRotated(Eigen::Vector2d(-0.5, 2.0), randomMatrix(4, 2, 25), randomMatrix(1, 2, 26),
                                   CurvatureConvention::Mean, {}, -1.0, 0.75);
    EXPECT_DOUBLE_EQ(withMean->mostNegativeEigenvalue(), -1.0);
    EXPECT_DOUBLE_EQ(withMean->eigenvalues()[0], 0.0);
    EXPECT_DOUBLE_EQ(withMean->meanEigenvalue(), 0.75);
    EXPECT_THROW(SpectralCache::fromRotated(Eigen::Vector3d(1, 2, 3), cache->trainRotated(),
                                            cache->testRotated(), CurvatureConvention::Sum),
                 ConfigError);
}

TEST(SpectralCache, RejectsBadInput)
{
    const RowMatrixF train = randomMatrix(10, 4, 9);
    const RowMatrixF test = randomMatrix(2, 4, 10);
    const auto cache = SpectralCache::fromFeatures(train, test, CurvatureConvention::Mean);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    for (double lambda : {0.0, -1.0, nan, inf}) {
        EXPECT_THROW(cache->scores(0, lambda), ConfigError) << lambda;
        EXPECT_THROW(cache->scoreMatrix({}, lambda), ConfigError) << lambda;
    }
    EXPECT_THROW(cache->scores(2, 1.0), ConfigError);
    EXPECT_THROW(cache->scores(-1, 1.0), ConfigError);
    EXPECT_THROW(cache->scoreMatrix({0, 5}, 1.0), ConfigError);
    // Mismatched feature dimensions, weights, curvature size, NaN features.
    EXPECT_THROW(SpectralCache::fromFeatures(train, randomMatrix(2, 5, 11), CurvatureConvention::Mean),
                 ConfigError);
    EXPECT_THROW(
        SpectralCache::fromFeatures(train, test, CurvatureConvention::Sum, std::vector<float>(9, 1.0f)),
        ConfigError);
    EXPECT_THROW(
        SpectralCache::fromCurvature(Eigen::MatrixXd::Identity(5, 5), train, test, CurvatureConvention::Mean),
        ConfigError);
    Eigen::MatrixXd asymmetric = Eigen::MatrixXd::Identity(4, 4);
    asymmetric(0, 1) = 1.0;
    EXPECT_THROW(SpectralCache::fromCurvature(asymmetric, train, test, CurvatureConvention::Mean),
                 ConfigError);
    RowMatrixF bad = train;
    bad(3, 2) = std::numeric_limits<float>::quiet_NaN();
    EXPECT_THROW(SpectralCache::fromFeatures(bad, test, CurvatureConvention::Mean), ConfigError);
    EXPECT_THROW(SpectralCache::fromFeatures(RowMatrixF(0, 4), test, CurvatureConvention::Mean), ConfigError);
}

// ---------------------------------------------------------------- methods

TEST(Methods, NamesParseAndResolve)
{
    for (Method m : {Method::InfluenceExplicit, Method::InfluenceProjected, Method::Trak, Method::TracIn,
                     Method::GradDot, Method::GradCos})
        EXPECT_EQ(parseMethod(toString(m)), m);
    EXPECT_EQ(parseMethod("TRAK"), Method::Trak);
    EXPECT_EQ(parseMethod("if", ProjectionKind::None, Architecture::LogisticRegression),
              Method::InfluenceExplicit);
    EXPECT_EQ(parseMethod("if", ProjectionKind::Kronecker, Architecture::LogisticRegression),
              Method::InfluenceProjected);
    EXPECT_EQ(parseMethod("if", ProjectionKind::None, Architecture::Mlp), Method::InfluenceExplicit);
    EXPECT_EQ(parseMethod("tracin", ProjectionKind::None, Architecture::LogisticRegression), Method::TracIn);
    EXPECT_THROW(parseMethod("lissa"), ConfigError);
    EXPECT_TRUE(usesLambda(Method::Trak));
    EXPECT_FALSE(usesLambda(Method::GradCos));
    EXPECT_EQ(curvatureConvention(Method::Trak), CurvatureConvention::Sum);
    EXPECT_EQ(curvatureConvention(Method::InfluenceProjected), CurvatureConvention::Mean);
}

TEST(Methods, GradDotGradCosTracIn)
{
    const RowMatrixF train = randomMatrix(7, 5, 12);
    RowMatrixF test = randomMatrix(3, 5, 13);
    test.row(1).setZero(); // zero-norm row: cosine undefined → 0
    const RowMatrixF dot = gradDotScores(train, test);
    const RowMatrixF cos = gradCosScores(train, test);
    for (int64_t t = 0; t < 3; ++t)
        for (int64_t i = 0; i < 7; ++i) {
            const double d = test.row(t).cast<double>().dot(train.row(i).cast<double>());
            EXPECT_NEAR(dot(t, i), d, 1e-5);
            const double nt = test.row(t).cast<double>().norm();
            const double ni = train.row(i).cast<double>().norm();
            EXPECT_NEAR(cos(t, i), nt > 0 ? d / (nt * ni) : 0.0, 1e-6);
        }
    EXPECT_THROW(gradDotScores(train, randomMatrix(2, 4, 14)), ConfigError);
    EXPECT_THROW(gradCosScores(train, randomMatrix(2, 4, 14)), ConfigError);

    const RowMatrixF train2 = randomMatrix(7, 5, 15);
    const RowMatrixF test2 = randomMatrix(3, 5, 16);
    const RowMatrixF tracin = tracInScores({train, train2}, {test, test2}, {0.1, 0.01});
    for (int64_t t = 0; t < 3; ++t)
        for (int64_t i = 0; i < 7; ++i) {
            const double want = 0.1 * test.row(t).cast<double>().dot(train.row(i).cast<double>())
                                + 0.01 * test2.row(t).cast<double>().dot(train2.row(i).cast<double>());
            EXPECT_NEAR(tracin(t, i), want, 1e-5);
        }
    EXPECT_THROW(tracInScores({train, train2}, {test}, {0.1, 0.01}), ConfigError);
    EXPECT_THROW(tracInScores({}, {}, {}), ConfigError);
}

TEST(Methods, TrakAveragesWeightedCheckpointScores)
{
    const RowMatrixF trainA = randomMatrix(20, 4, 17);
    const RowMatrixF testA = randomMatrix(2, 4, 18);
    const RowMatrixF trainB = randomMatrix(20, 4, 19);
    const RowMatrixF testB = randomMatrix(2, 4, 20);
    std::vector<float> wA(20), wB(20);
    for (int i = 0; i < 20; ++i) {
        wA[i] = 0.5f + 0.02f * i;
        wB[i] = 0.9f - 0.03f * i;
    }
    const auto a = SpectralCache::fromFeatures(trainA, testA, CurvatureConvention::Sum, wA);
    const auto b = SpectralCache::fromFeatures(trainB, testB, CurvatureConvention::Sum, wB);
    const Eigen::MatrixXd cA = trainA.cast<double>().transpose() * trainA.cast<double>();
    const Eigen::MatrixXd cB = trainB.cast<double>().transpose() * trainB.cast<double>();
    const RowMatrixF s = trakScores({a, b}, {1}, 0.5);
    ASSERT_EQ(s.rows(), 1);
    const Eigen::VectorXd want =
        0.5 * (directScores(cA, trainA, testA, 1, 0.5, wA) + directScores(cB, trainB, testB, 1, 0.5, wB));
    EXPECT_LT(maxRelativeError(s.row(0).transpose(), want), 2e-5);
    const RowMatrixF rel = trakScoresRelative({a, b}, {1}, 0.1);
    const Eigen::VectorXd wantRel = 0.5
                                    * (directScores(cA, trainA, testA, 1, 0.1 * cA.trace() / 4, wA)
                                       + directScores(cB, trainB, testB, 1, 0.1 * cB.trace() / 4, wB));
    EXPECT_LT(maxRelativeError(rel.row(0).transpose(), wantRel), 2e-5);
    EXPECT_THROW(trakScores({}, {}, 1.0), ConfigError);
    EXPECT_THROW(trakScores({a, nullptr}, {}, 1.0), ConfigError);
    EXPECT_THROW(trakScores({a}, {}, -1.0), ConfigError);
}

// ---------------------------------------------------------------- explicit IF vs NumPy fixture

struct IfReference {
    int64_t n = 0, m = 0, d = 0, k = 0;
    Eigen::MatrixXd w;
    Eigen::VectorXd b;
    Eigen::MatrixXd trainX, testX;
    std::vector<int64_t> trainY, testY;
    Eigen::MatrixXd hessian;
    std::map<double, Eigen::MatrixXd> scores; // λ → m×n
};

Eigen::MatrixXd readMatrix(std::istream& in, int64_t rows, int64_t cols)
{
    Eigen::MatrixXd m(rows, cols);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            in >> m(r, c);
    return m;
}

IfReference loadIfReference()
{
    std::ifstream in(test::fixture("if_reference.txt"));
    if (!in)
        throw std::runtime_error(
            "missing fixture if_reference.txt (run tests/fixtures/make_if_reference.py)");
    IfReference ref;
    std::string word;
    while (in >> word) {
        if (word[0] == '#') {
            std::getline(in, word);
        } else if (word == "sizes") {
            in >> ref.n >> ref.m >> ref.d >> ref.k;
        } else if (word == "W") {
            ref.w = readMatrix(in, ref.k, ref.d);
        } else if (word == "b") {
            ref.b = readMatrix(in, ref.k, 1);
        } else if (word == "train_x") {
            ref.trainX = readMatrix(in, ref.n, ref.d);
        } else if (word == "test_x") {
            ref.testX = readMatrix(in, ref.m, ref.d);
        } else if (word == "train_y" || word == "test_y") {
            auto& y = word == "train_y" ? ref.trainY : ref.testY;
            y.resize(static_cast<size_t>(word == "train_y" ? ref.n : ref.m));
            for (auto& v : y)
                in >> v;
        } else if (word == "hessian") {
            const int64_t p = ref.k * (ref.d + 1);
            ref.hessian = readMatrix(in, p, p);
        } else if (word == "scores") {
            double lambda = 0;
            in >> lambda;
            ref.scores[lambda] = readMatrix(in, ref.m, ref.n);
        } else {
            throw std::runtime_error("unexpected word in if_reference.txt: " + word);
        }
    }
    return ref;
}

ImageSet makeSet(const Eigen::MatrixXd& x, const std::vector<int64_t>& y)
{
    ImageSet set;
    set.count = x.rows();
    set.channels = 1;
    set.height = 1;
    set.width = x.cols();
    for (int64_t i = 0; i < x.rows(); ++i)
        for (int64_t j = 0; j < x.cols(); ++j)
            set.images.push_back(static_cast<float>(x(i, j)));
    set.labels = y;
    return set;
}

Model makeLogisticRegression(const Eigen::MatrixXd& w, const Eigen::VectorXd& b)
{
    Model model = Model::create(Architecture::LogisticRegression, InputShape{1, 1, w.cols()},
                                static_cast<int>(w.rows()), 7);
    ParamSet params = model.parameters();
    EXPECT_EQ(params.size(), 2u);
    for (int64_t a = 0; a < w.rows(); ++a) {
        for (int64_t j = 0; j < w.cols(); ++j)
            params[0].values[a * w.cols() + j] = static_cast<float>(w(a, j));
        params[1].values[a] = static_cast<float>(b[a]);
    }
    model.setParameters(params);
    return model;
}

/// Closed-form per-sample CE gradients of an LR, θ = [W row-major, b], in double.
Eigen::MatrixXd closedFormGradients(const Eigen::MatrixXd& w, const Eigen::VectorXd& b,
                                    const Eigen::MatrixXd& x, const std::vector<int64_t>& y)
{
    const int64_t k = w.rows(), d = w.cols();
    Eigen::MatrixXd g(x.rows(), k * (d + 1));
    for (int64_t i = 0; i < x.rows(); ++i) {
        Eigen::VectorXd z = w * x.row(i).transpose() + b;
        z.array() -= z.maxCoeff();
        Eigen::VectorXd p = z.array().exp();
        p /= p.sum();
        p[y[i]] -= 1.0;
        for (int64_t a = 0; a < k; ++a) {
            g.block(i, a * d, 1, d) = p[a] * x.row(i);
            g(i, k * d + a) = p[a];
        }
    }
    return g;
}

TEST(ExplicitInfluence, MatchesNumPyReference)
{
    const IfReference ref = loadIfReference();
    ASSERT_EQ(ref.scores.size(), 2u);
    const Model model = makeLogisticRegression(ref.w, ref.b);
    const ImageSet train = makeSet(ref.trainX, ref.trainY);
    ASSERT_TRUE(isLogisticRegression(model));

    const Eigen::MatrixXd h = logisticRegressionHessian(model, train);
    ASSERT_EQ(h.rows(), ref.k * (ref.d + 1));
    EXPECT_LT((h - ref.hessian).cwiseAbs().maxCoeff(),
              1e-12 * std::max(1.0, ref.hessian.cwiseAbs().maxCoeff()));

    const RowMatrixF g = closedFormGradients(ref.w, ref.b, ref.trainX, ref.trainY).cast<float>();
    const RowMatrixF gTest = closedFormGradients(ref.w, ref.b, ref.testX, ref.testY).cast<float>();
    // The library's own closed-form gradients agree with the test's.
    const RowMatrixF libGrad = logisticRegressionGradients(model, train);
    EXPECT_LT((libGrad - g).cwiseAbs().maxCoeff(), 1e-6);

    const auto cache = SpectralCache::fromCurvature(h, g, gTest, CurvatureConvention::Mean);
    EXPECT_LE(cache->mostNegativeEigenvalue(), 0.0);
    EXPECT_GT(cache->mostNegativeEigenvalue(), -1e-12); // PSD up to rounding
    double worst = 0;
    for (const auto& [lambda, expected] : ref.scores) {
        for (int64_t t = 0; t < ref.m; ++t) {
            const double err = maxRelativeError(cache->scores(t, lambda), expected.row(t).transpose());
            EXPECT_LT(err, 1e-6) << "λ=" << lambda << " test " << t;
            worst = std::max(worst, err);
        }
    }
    {
        std::ostringstream text;
        text << worst;
        RecordProperty("max_relative_error", text.str());
    }
}

TEST(ExplicitInfluence, RejectsNonLogisticModels)
{
    const Model mlp = Model::create(Architecture::Mlp, InputShape{1, 4, 4}, 3, 1);
    EXPECT_FALSE(isLogisticRegression(mlp));
    ImageSet set;
    set.count = 2;
    set.channels = 1;
    set.height = 4;
    set.width = 4;
    set.images.assign(32, 0.5f);
    set.labels = {0, 2};
    EXPECT_THROW(logisticRegressionHessian(mlp, set), ConfigError);
    const Model lr = Model::create(Architecture::LogisticRegression, InputShape{1, 4, 4}, 3, 1);
    EXPECT_NO_THROW(logisticRegressionHessian(lr, set));
    set.labels = {0, 3}; // label out of range
    EXPECT_THROW(logisticRegressionHessian(lr, set), ConfigError);
    ImageSet wrong = set;
    wrong.width = 3;
    wrong.images.resize(24);
    wrong.labels = {0, 1};
    EXPECT_THROW(logisticRegressionHessian(lr, wrong), ConfigError);
}

// ---------------------------------------------------------------- generalized Gauss-Newton

TEST(GeneralizedGaussNewton, EqualsTheNumPyHessianOnLogisticRegression)
{
    // For a linear model the GGN is the exact Hessian: the fixture's, computed by NumPy.
    const IfReference ref = loadIfReference();
    const Model model = makeLogisticRegression(ref.w, ref.b);
    const ImageSet train = makeSet(ref.trainX, ref.trainY);
    CancelToken cancel;
    const Eigen::MatrixXd g = generalizedGaussNewton(model, train, "all", 7, cancel);
    ASSERT_EQ(g.rows(), ref.hessian.rows());
    const double scale = ref.hessian.cwiseAbs().maxCoeff();
    EXPECT_LT((g - ref.hessian).cwiseAbs().maxCoeff(), 1e-5 * scale);
}

TEST(GeneralizedGaussNewton, MatchesPerSampleJacobiansOnAnMlp)
{
    // Reference written here: J_i by one autograd call per logit and sample, then
    // (1/n) Σ J_iᵀ (diag p − p pᵀ) J_i in double.
    const InputShape shape{1, 4, 4};
    const Model model = Model::create(Architecture::Mlp, shape, 3, 11);
    const ImageSet train = test::syntheticImages(40, shape, 3, 5, test::Pixels::Gaussian);
    CancelToken cancel;
    // fc1's gradients pass through the hidden non-linearities: the chain rule is exercised.
    const Eigen::MatrixXd g = generalizedGaussNewton(model, train, "fc1,fc3", 16, cancel);

    Net& net = model.net();
    net.setTraining(false);
    std::vector<torch::Tensor> params;
    for (const auto& [name, t] : net.namedParameters())
        if (name.rfind("fc1.", 0) == 0 || name.rfind("fc3.", 0) == 0)
            params.push_back(t);
    ASSERT_EQ(params.size(), 4u);
    int64_t p = 0;
    for (const auto& t : params)
        p += t.numel();
    ASSERT_EQ(g.rows(), p);
    Eigen::MatrixXd want = Eigen::MatrixXd::Zero(p, p);
    for (int64_t i = 0; i < train.count; ++i) {
        const torch::Tensor x =
            torch::from_blob(const_cast<float*>(train.images.data()) + i * 16, {1, 1, 4, 4}, torch::kFloat).clone();
        const torch::Tensor logits = net.forward(x);
        Eigen::MatrixXd jac(3, p);
        for (int64_t c = 0; c < 3; ++c) {
            const auto grads = torch::autograd::grad({logits[0][c]}, params, {}, /*retain_graph=*/true);
            int64_t offset = 0;
            for (const auto& gr : grads) {
                const torch::Tensor flat = gr.reshape({-1}).to(torch::kDouble).contiguous();
                for (int64_t j = 0; j < flat.numel(); ++j)
                    jac(c, offset + j) = flat.data_ptr<double>()[j];
                offset += flat.numel();
            }
        }
        const torch::Tensor prob = torch::softmax(logits.detach(), 1).to(torch::kDouble).contiguous();
        Eigen::Vector3d pr(prob.data_ptr<double>()[0], prob.data_ptr<double>()[1], prob.data_ptr<double>()[2]);
        const Eigen::Matrix3d h = Eigen::Matrix3d(pr.asDiagonal()) - pr * pr.transpose();
        want += jac.transpose() * h * jac;
    }
    want /= static_cast<double>(train.count);
    const double scale = want.cwiseAbs().maxCoeff();
    ASSERT_GT(scale, 0);
    EXPECT_LT((g - want).cwiseAbs().maxCoeff(), 1e-5 * scale);
    // Symmetric, positive semi-definite (vᵀGv ≥ 0, up to float accumulation), and independent
    // of the batch size.
    EXPECT_EQ((g - g.transpose()).cwiseAbs().maxCoeff(), 0.0);
    std::mt19937 rng(3);
    std::normal_distribution<double> normal;
    for (int r = 0; r < 5; ++r) {
        Eigen::VectorXd v(p);
        for (int64_t j = 0; j < p; ++j)
            v[j] = normal(rng);
        EXPECT_GT(v.dot(g * v), -1e-6 * scale * v.squaredNorm());
    }
    EXPECT_LT((generalizedGaussNewton(model, train, "fc1,fc3", 40, cancel) - g).cwiseAbs().maxCoeff(), 1e-6 * scale);
}

TEST(GeneralizedGaussNewton, RejectsLargeSelectionsUnknownLayersAndCancels)
{
    const InputShape shape{1, 4, 4};
    const Model model = Model::create(Architecture::Mlp, shape, 3, 11);
    const ImageSet train = test::syntheticImages(8, shape, 3, 5, test::Pixels::Gaussian);
    CancelToken cancel;
    try {
        generalizedGaussNewton(model, train, "all", 8, cancel); // 10627 parameters
        FAIL() << "expected a ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("--layers last"), std::string::npos) << e.what();
    }
    EXPECT_THROW(generalizedGaussNewton(model, train, "nosuch", 8, cancel), ConfigError);
    EXPECT_THROW(generalizedGaussNewton(model, train, "last", 0, cancel), ConfigError);
    CancelToken cancelled;
    cancelled.cancel();
    EXPECT_THROW(generalizedGaussNewton(model, train, "last", 8, cancelled), Cancelled);
}

// ---------------------------------------------------------------- CG influence

TEST(CgInfluence, MatchesExplicitInfluence)
{
    const IfReference ref = loadIfReference();
    const Model model = makeLogisticRegression(ref.w, ref.b);
    const ImageSet train = makeSet(ref.trainX, ref.trainY);
    const ImageSet test = makeSet(ref.testX, ref.testY);
    NullProgress progress;
    CancelToken cancel;

    // Per-sample gradients by the autograd loop equal the closed form.
    const RowMatrixF g = fullPerSampleGradients(model, train, progress, cancel);
    const Eigen::MatrixXd gRef = closedFormGradients(ref.w, ref.b, ref.trainX, ref.trainY);
    EXPECT_LT((g.cast<double>() - gRef).cwiseAbs().maxCoeff(), 1e-6);

    // Hessian-vector products by double backward equal H v.
    const Eigen::VectorXd v = Eigen::VectorXd::LinSpaced(ref.hessian.rows(), -1.0, 2.0);
    const Eigen::VectorXd hv = meanLossHessianVectorProduct(model, train, v, 7);
    EXPECT_LT((hv - ref.hessian * v).cwiseAbs().maxCoeff(), 1e-5 * (ref.hessian * v).cwiseAbs().maxCoeff());

    CgOptions options;
    options.tolerance = 1e-8;
    options.batchSize = 16;
    for (const auto& [lambda, expected] : ref.scores) {
        const auto result = cgInfluence(model, train, test, {}, lambda, options, progress, cancel);
        ASSERT_EQ(result->scores.rows(), ref.m);
        ASSERT_EQ(result->solves.size(), static_cast<size_t>(ref.m));
        EXPECT_EQ(result->parameterCount, ref.k * (ref.d + 1));
        for (int64_t t = 0; t < ref.m; ++t) {
            EXPECT_LT(maxRelativeError(result->scores.row(t).transpose(), expected.row(t).transpose()), 1e-4)
                << "λ=" << lambda << " test " << t;
            EXPECT_GT(result->solves[t].iterations, 0);
            EXPECT_LE(result->solves[t].iterations, options.maxIterations);
        }
    }
    // With the caller's gradients and a subset of test points.
    const auto subset = cgInfluence(model, train, test, {3}, 1.0, options, progress, cancel, &g);
    EXPECT_LT(maxRelativeError(subset->scores.row(0).transpose(), ref.scores.at(1.0).row(3).transpose()),
              1e-4);

    EXPECT_THROW(cgInfluence(model, train, test, {}, 0.0, options, progress, cancel), ConfigError);
    EXPECT_THROW(cgInfluence(model, train, test, {5}, 1.0, options, progress, cancel), ConfigError);
    CgOptions bad;
    bad.maxIterations = 0;
    EXPECT_THROW(cgInfluence(model, train, test, {}, 1.0, bad, progress, cancel), ConfigError);
    CancelToken cancelled;
    cancelled.cancel();
    EXPECT_THROW(cgInfluence(model, train, test, {}, 1.0, options, progress, cancelled), Cancelled);
}

// ---------------------------------------------------------------- leave-one-out on a convex problem

/// A strictly convex L2-regularized multinomial LR, solved with Newton's method in double
/// (written here, independent of the library): L(θ) = (1/n) Σ_{i∈S} ℓ_i(θ) + (wd/2) ‖θ‖².
struct NewtonLr {
    Eigen::MatrixXd x;
    std::vector<int64_t> y;
    int64_t k = 3;
    double wd = 0.05;

    int64_t dim() const { return k * (x.cols() + 1); }

    Eigen::VectorXd probabilities(const Eigen::VectorXd& theta, int64_t i) const
    {
        const int64_t d = x.cols();
        Eigen::VectorXd z(k);
        for (int64_t a = 0; a < k; ++a)
            z[a] = theta.segment(a * d, d).dot(x.row(i).transpose()) + theta[k * d + a];
        z.array() -= z.maxCoeff();
        Eigen::VectorXd p = z.array().exp();
        return p / p.sum();
    }

    double loss(const Eigen::VectorXd& theta, int64_t i) const
    {
        return -std::log(probabilities(theta, i)[y[i]]);
    }

    /// Minimizes with sample `skip` removed (−1: none); normalization stays 1/n.
    Eigen::VectorXd fit(Eigen::VectorXd theta, int64_t skip) const
    {
        const int64_t n = x.rows(), d = x.cols(), p = dim();
        for (int iter = 0; iter < 100; ++iter) {
            Eigen::VectorXd grad = wd * theta;
            Eigen::MatrixXd hess = wd * Eigen::MatrixXd::Identity(p, p);
            for (int64_t i = 0; i < n; ++i) {
                if (i == skip)
                    continue;
                const Eigen::VectorXd prob = probabilities(theta, i);
                Eigen::VectorXd r = prob;
                r[y[i]] -= 1.0;
                Eigen::MatrixXd jac = Eigen::MatrixXd::Zero(k, p); // d logits / dθ
                for (int64_t a = 0; a < k; ++a) {
                    jac.block(a, a * d, 1, d) = x.row(i);
                    jac(a, k * d + a) = 1.0;
                }
                const Eigen::MatrixXd a = Eigen::MatrixXd(prob.asDiagonal()) - prob * prob.transpose();
                grad += jac.transpose() * r / static_cast<double>(n);
                hess += jac.transpose() * a * jac / static_cast<double>(n);
            }
            const Eigen::VectorXd step = hess.ldlt().solve(grad);
            theta -= step;
            if (step.norm() < 1e-13)
                break;
        }
        return theta;
    }
};

TEST(ExplicitInfluence, PredictsLeaveOneOutRetraining)
{
    const int64_t n = 60, d = 4, k = 3;
    std::mt19937 rng(11);
    std::normal_distribution<double> normal(0.0, 1.0);
    NewtonLr problem;
    problem.k = k;
    problem.x.resize(n, d);
    Eigen::MatrixXd teacher(k, d);
    for (int64_t i = 0; i < teacher.size(); ++i)
        teacher.data()[i] = normal(rng);
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < d; ++j)
            problem.x(i, j) = static_cast<float>(normal(rng)); // float-representable inputs
        Eigen::VectorXd z = teacher * problem.x.row(i).transpose();
        for (int64_t a = 0; a < k; ++a)
            z[a] += 1.5 * normal(rng); // label noise: not separable
        int64_t best = 0;
        z.maxCoeff(&best);
        problem.y.push_back(best);
    }
    Eigen::MatrixXd testX(3, d);
    std::vector<int64_t> testY = {0, 1, 2};
    for (int64_t i = 0; i < testX.size(); ++i)
        testX.data()[i] = static_cast<float>(normal(rng));

    const Eigen::VectorXd theta = problem.fit(Eigen::VectorXd::Zero(problem.dim()), -1);
    // The library model at θ̂ (parameters rounded to float, as a Model stores them).
    Eigen::MatrixXd w(k, d);
    Eigen::VectorXd b(k);
    for (int64_t a = 0; a < k; ++a) {
        w.row(a) = theta.segment(a * d, d).transpose();
        b[a] = theta[k * d + a];
    }
    const Model model = makeLogisticRegression(w, b);
    const ImageSet train = makeSet(problem.x, problem.y);
    const ImageSet test = makeSet(testX, testY);
    const Eigen::MatrixXd h = logisticRegressionHessian(model, train);
    const auto cache =
        SpectralCache::fromCurvature(h, logisticRegressionGradients(model, train),
                                     logisticRegressionGradients(model, test), CurvatureConvention::Mean);

    NewtonLr testProblem = problem;
    testProblem.x = testX;
    testProblem.y = testY;
    std::vector<Eigen::VectorXd> loo;
    for (int64_t j = 0; j < n; ++j)
        loo.push_back(problem.fit(theta, j));
    for (int64_t t = 0; t < 3; ++t) {
        // Removing z_j (weight 1/n → 0) changes the test loss by ≈ +τ_j / n (λ = weight decay):
        // a proponent's removal raises the loss.
        const Eigen::VectorXf tau = cache->scores(t, problem.wd);
        std::vector<double> predicted, actual;
        const double base = testProblem.loss(theta, t);
        for (int64_t j = 0; j < n; ++j) {
            predicted.push_back(tau[j] / static_cast<double>(n));
            actual.push_back(testProblem.loss(loo[static_cast<size_t>(j)], t) - base);
        }
        const double r = pearson(predicted, actual);
        EXPECT_GE(r, 0.95) << "test point " << t;
        RecordProperty("loo_pearson_" + std::to_string(t), std::to_string(r));
        // The scale matches too (first-order accurate), not just the direction.
        const Eigen::Map<const Eigen::VectorXd> pv(predicted.data(), n), av(actual.data(), n);
        EXPECT_NEAR(pv.dot(av) / av.squaredNorm(), 1.0, 0.2) << "test point " << t;
    }
}

// ---------------------------------------------------------------- performance (run by hand)

double secondsSince(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Run: attri_attribution_tests --gtest_also_run_disabled_tests --gtest_filter='*Performance*'
// ATTRI_PERF_N / ATTRI_PERF_K override the sizes (defaults 5000, 2048).
TEST(SpectralCachePerformance, DISABLED_SweepTimings)
{
    initRuntime(0);
    const char* envN = std::getenv("ATTRI_PERF_N");
    const char* envK = std::getenv("ATTRI_PERF_K");
    const int64_t n = envN ? std::atoll(envN) : 5000;
    const int64_t k = envK ? std::atoll(envK) : 2048;
    const int64_t m = 500;
    const RowMatrixF train = randomMatrix(n, k, 21);
    const RowMatrixF test = randomMatrix(m, k, 22);

    auto start = std::chrono::steady_clock::now();
    const auto cache = SpectralCache::fromFeatures(train, test, CurvatureConvention::Mean);
    const double build = secondsSince(start);
    // The same curvature given explicitly: eigendecomposition + rotation without the Gram matrix.
    const Eigen::MatrixXd c =
        train.cast<double>().transpose() * train.cast<double>() / static_cast<double>(n);
    start = std::chrono::steady_clock::now();
    const auto cache2 = SpectralCache::fromCurvature(c, train, test, CurvatureConvention::Mean);
    const double eighAndRotate = secondsSince(start);

    // scores() is one row-major float GEMV (Eigen, memory bound); compare BLAS sgemv via Torch.
    {
        const Eigen::VectorXf v = Eigen::VectorXf::Random(k);
        torch::Tensor a =
            torch::from_blob(const_cast<float*>(cache->trainRotated().data()), {n, k}, torch::kFloat);
        torch::Tensor tv = torch::from_blob(const_cast<float*>(v.data()), {k}, torch::kFloat);
        auto t0 = std::chrono::steady_clock::now();
        float acc = 0;
        for (int r = 0; r < 50; ++r)
            acc += (cache->trainRotated() * v)[r];
        const double eigenMv = secondsSince(t0) / 50;
        t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < 50; ++r)
            acc += torch::mv(a, tv)[r].item<float>();
        const double torchMv = secondsSince(t0) / 50;
        std::printf("  GEMV n×k: Eigen %.2f ms, Torch/OpenBLAS %.2f ms (%g)\n", 1e3 * eigenMv, 1e3 * torchMv,
                    acc);
    }

    const LambdaGrid grid = LambdaGrid::defaultRelative();
    const std::vector<double> lambdas = grid.toAbsolute(cache->meanEigenvalue());
    start = std::chrono::steady_clock::now();
    const int reps = 50;
    float sink = 0;
    for (int r = 0; r < reps; ++r)
        sink += cache->scores(r % m, lambdas[r % lambdas.size()])[0];
    const double oneScores = secondsSince(start) / reps;

    start = std::chrono::steady_clock::now();
    for (double lambda : lambdas)
        sink += cache->scoreMatrix({}, lambda)(0, 0);
    const double scoreSweep = secondsSince(start);

    SensitivityOptions options;
    if (const char* block = std::getenv("ATTRI_PERF_BLOCK"))
        options.blockSize = std::atoll(block);
    NullProgress progress;
    start = std::chrono::steady_clock::now();
    const auto sens = lambdaSensitivity({{k, cache}}, options, progress, CancelToken());
    const double sensitivity = secondsSince(start);

    // Baseline: factor (C + λI) afresh per λ (Cholesky in double), solve for the 500 test
    // points, then score. Timed on the first 3 λ and extrapolated to the grid.
    const Eigen::MatrixXd rhs = test.cast<double>().transpose();
    start = std::chrono::steady_clock::now();
    const int baselineLambdas = 3;
    for (int j = 0; j < baselineLambdas; ++j) {
        Eigen::MatrixXd a = c;
        a.diagonal().array() += lambdas[j];
        const Eigen::MatrixXd x = a.llt().solve(rhs);
        const RowMatrixF xf = x.transpose().cast<float>();
        const RowMatrixF s = xf * train.transpose();
        sink += s(0, 0);
    }
    const double baselinePerLambda = secondsSince(start) / baselineLambdas;

    std::printf("n=%lld k=%lld tests=%lld threads=%d\n", static_cast<long long>(n), static_cast<long long>(k),
                static_cast<long long>(m), torchThreads());
    std::printf("  cache build (Gram + eigh + rotation): %.2f s; eigh + rotation alone: %.2f s\n", build,
                eighAndRotate);
    std::printf("  one scores() call: %.2f ms\n", 1e3 * oneScores);
    std::printf("  25 λ × 500 tests score matrices: %.2f s (%.3f s per λ)\n", scoreSweep, scoreSweep / 25);
    std::printf("  25 λ × 500 tests sensitivity (scores + ranks + Spearman/Jaccard): %.2f s\n", sensitivity);
    std::printf("  baseline Cholesky per λ (Eigen, factor + solve + score): %.2f s per λ → %.1f s for 25 λ; "
                "ratio vs cached score sweep %.1f×\n",
                baselinePerLambda, 25 * baselinePerLambda, 25 * baselinePerLambda / scoreSweep);
    std::printf("  (sink %g, mean λ-Spearman first cell %.4f, caches agree %g)\n", sink,
                sens->lambdaSpearman.at(0, 0),
                (cache->eigenvalues() - cache2->eigenvalues()).cwiseAbs().maxCoeff());
}

} // namespace
