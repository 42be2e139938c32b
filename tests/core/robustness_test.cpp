// Numerical robustness and determinism (issue 6): degenerate curvature, extreme λ, k = 1, a
// single test point, non-finite parameters, and identical results across runs and thread counts.

#include "attribution/spectral_cache.h"
#include "common/error.h"
#include "features/featurizer.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "support/test_support.h"
#include "tuning/lambda_grid.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

#include <cmath>
#include <limits>
#include <random>

namespace attri {
namespace {

RowMatrixF gaussian(int64_t rows, int64_t cols, uint32_t seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    RowMatrixF m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i)
        m.data()[i] = normal(rng);
    return m;
}

double maxRelative(const Eigen::VectorXd& got, const Eigen::VectorXd& want)
{
    return (got - want).cwiseAbs().maxCoeff() / std::max(want.cwiseAbs().maxCoeff(), 1e-300);
}

TEST(Robustness, ExtremeRelativeLambdasGiveFiniteScoresWithTheRightLimits)
{
    const RowMatrixF train = gaussian(200, 16, 1), test = gaussian(3, 16, 2);
    const auto cache = SpectralCache::fromFeatures(train, test, CurvatureConvention::Mean);
    const double mean = cache->meanEigenvalue();
    for (double c = 1e-12; c <= 1e12; c *= 10) {
        const Eigen::VectorXf s = cache->scores(1, c * mean);
        EXPECT_TRUE(s.allFinite()) << "relative λ " << c;
    }
    // λ → ∞: scores → φ'ᵀφ_i / λ (Grad-Dot scaled).
    const double big = 1e12 * mean;
    const Eigen::VectorXd dot = train.cast<double>() * test.row(1).transpose().cast<double>();
    EXPECT_LT(maxRelative(cache->scores(1, big).cast<double>() * big, dot), 1e-3);
    // λ → 0 on a full-rank curvature: the unregularized solve.
    const Eigen::MatrixXd c = train.cast<double>().transpose() * train.cast<double>() / 200.0;
    const Eigen::VectorXd exact = train.cast<double>() * c.ldlt().solve(test.row(1).transpose().cast<double>());
    EXPECT_LT(maxRelative(cache->scores(1, 1e-12 * mean).cast<double>(), exact), 1e-3);
}

TEST(Robustness, ZeroFeaturesHaveZeroCurvatureAndRelativeLambdaIsRefused)
{
    // E.g. a model that fits every training point perfectly: all gradients vanish.
    const RowMatrixF train = RowMatrixF::Zero(10, 4), test = gaussian(2, 4, 3);
    const auto cache = SpectralCache::fromFeatures(train, test, CurvatureConvention::Mean);
    EXPECT_EQ(cache->meanEigenvalue(), 0.0);
    const Eigen::VectorXf s = cache->scores(0, 1.0); // an absolute λ still scores: all zero
    EXPECT_TRUE(s.allFinite());
    EXPECT_EQ(s.cwiseAbs().maxCoeff(), 0.0f);
    // A relative λ has no unit here: refused with a message naming the cause, never NaN scores.
    try {
        (void)LambdaGrid::defaultRelative().toAbsolute(cache->meanEigenvalue());
        FAIL() << "expected a ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("curvature zero"), std::string::npos) << e.what();
    }
    EXPECT_THROW(cache->scores(0, 0.0), ConfigError);
}

TEST(Robustness, DuplicateSamplesAndMoreFeaturesThanSamples)
{
    RowMatrixF train = gaussian(6, 32, 4); // rank ≤ 6 < k
    train.row(5) = train.row(0);           // a duplicate
    const RowMatrixF test = gaussian(1, 32, 5);
    const int64_t n = train.rows(), k = train.cols();
    const auto cache = SpectralCache::fromFeatures(train, test, CurvatureConvention::Mean);

    // Reference in double, independent of the cache: Eigen's eigendecomposition of C = ΦᵀΦ/n,
    // s_i = Σ_j a_ij b_j / (μ_j + λ) with a = ΦQ, b = Qᵀφ'.
    const Eigen::MatrixXd phi = train.cast<double>();
    const Eigen::VectorXd query = test.row(0).transpose().cast<double>();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(phi.transpose() * phi / static_cast<double>(n));
    const Eigen::VectorXd mu = eig.eigenvalues().cwiseMax(0.0);
    const Eigen::MatrixXd a = phi * eig.eigenvectors();
    const Eigen::VectorXd b = eig.eigenvectors().transpose() * query;

    // Error bound for the cache's scores. Its rotation is formed in double and rounded once to
    // float (relative error ≤ ε_f per component), and the λ-scaled product is a float dot product
    // of k terms (≤ k·ε_f of the sum of |terms|): together below (k + 3)·ε_f·Σ_j |a_ij b_j| / (μ_j + λ).
    // In the null space of C (27 of the 32 directions) the exact a_ij are 0; a double dot product
    // computes them to within k·ε_d·Σ_l |φ_il q_lj|, in the cache and in the reference, so each side
    // adds at most that times |b_j| / λ there. Eigenvalue errors (≈ k·ε_d·‖C‖) are below 1e-6 of
    // every λ here and are covered by the factor 2.
    const double epsF = std::numeric_limits<float>::epsilon(), epsD = std::numeric_limits<double>::epsilon();
    const double nullLevel = 1e3 * k * epsD * eig.eigenvalues().cwiseAbs().maxCoeff();
    const Eigen::MatrixXd absProducts = phi.cwiseAbs() * eig.eigenvectors().cwiseAbs(); // Σ_l |φ_il q_lj|
    for (double c : {1e-9, 1e-3, 1.0}) {
        const double lambda = c * cache->meanEigenvalue();
        const Eigen::VectorXf s = cache->scores(0, lambda);
        ASSERT_TRUE(s.allFinite());
        const Eigen::ArrayXd inv = (mu.array() + lambda).inverse();
        const Eigen::VectorXd reference = a * (b.array() * inv).matrix();
        Eigen::VectorXd bound(n);
        for (int64_t i = 0; i < n; ++i) {
            const double magnitude = (a.row(i).transpose().array().abs() * b.array().abs() * inv).sum();
            double nullSpace = 0;
            for (int64_t j = 0; j < k; ++j)
                if (eig.eigenvalues()[j] < nullLevel)
                    nullSpace += 2.0 * k * epsD * absProducts(i, j) * std::abs(b[j]) / lambda;
            bound[i] = 2.0 * ((k + 3) * epsF * magnitude + nullSpace);
            EXPECT_LE(std::abs(s[i] - reference[i]), bound[i])
                << "relative λ " << c << ", training point " << i << ": " << s[i] << " vs " << reference[i];
        }
        // Duplicates score alike, on any BLAS kernels. The bound is a real constraint: under 1% of
        // the score at λ = 1e-9 × mean and under 1e-4 of it from 1e-3 on, far below what a float
        // rotation's null-space noise makes of the scores there.
        EXPECT_LE(std::abs(s[5] - s[0]), bound[0] + bound[5]) << "relative λ " << c;
        EXPECT_LT(bound[0], (c < 1e-6 ? 1e-2 : 1e-4) * std::abs(reference[0])) << "relative λ " << c;
    }
}

TEST(Robustness, OneFeatureAndOneTestPoint)
{
    const RowMatrixF train = gaussian(5, 1, 6), test = gaussian(1, 1, 7);
    const auto cache = SpectralCache::fromFeatures(train, test, CurvatureConvention::Mean);
    const double mu = train.cast<double>().squaredNorm() / 5.0;
    EXPECT_NEAR(cache->meanEigenvalue(), mu, 1e-9 * mu);
    const double lambda = 0.1;
    const Eigen::VectorXf s = cache->scores(0, lambda);
    for (int i = 0; i < 5; ++i)
        EXPECT_NEAR(s[i], test(0, 0) * train(i, 0) / (mu + lambda), 1e-5);
    EXPECT_THROW(cache->scores(1, lambda), ConfigError); // the only test point is 0
}

TEST(Robustness, NonFiniteParametersAreNamedBeforeFeaturizing)
{
    const InputShape shape{1, 4, 4};
    Model model = Model::create(Architecture::Mlp, shape, 3, 1);
    ParamSet params = model.parameters();
    params[2].values[7] = std::numeric_limits<float>::quiet_NaN();
    params[2].values[9] = std::numeric_limits<float>::infinity();
    model.setParameters(params);
    const ImageSet set = test::syntheticImages(8, shape, 3, 1, test::Pixels::Uniform);
    NullProgress progress;
    CancelToken cancel;
    FeatureOptions options;
    options.projection = ProjectionKind::Kronecker;
    options.kMax = 16;
    try {
        featurizeToMatrix(model, set, options, nullptr, nullptr, progress, cancel);
        FAIL() << "expected a ConfigError";
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(params[2].name), std::string::npos) << what;
        EXPECT_NE(what.find("2 non-finite"), std::string::npos) << what;
        EXPECT_NE(what.find("flat index 7"), std::string::npos) << what;
    }
}

TEST(Robustness, SameInputsGiveTheSameScoresAcrossRunsAndThreadCounts)
{
    const InputShape shape{1, 8, 8};
    const Model model = Model::create(Architecture::Mlp, shape, 4, 3);
    const ImageSet train = test::syntheticImages(300, shape, 4, 8, test::Pixels::Uniform);
    const ImageSet testSet = test::syntheticImages(20, shape, 4, 9, test::Pixels::Uniform);
    NullProgress progress;
    CancelToken cancel;
    FeatureOptions options;
    options.projection = ProjectionKind::Kronecker;
    options.kMax = 64;
    options.batchSize = 64;
    const int threadsBefore = torch::get_num_threads();
    auto scoresWith = [&](int threads) {
        torch::set_num_threads(threads);
        const RowMatrixF f = featurizeToMatrix(model, train, options, nullptr, nullptr, progress, cancel);
        const RowMatrixF g = featurizeToMatrix(model, testSet, options, nullptr, nullptr, progress, cancel);
        const auto cache = SpectralCache::fromFeatures(f, g, CurvatureConvention::Mean);
        return std::make_pair(f, cache->scoreMatrix({}, 0.1 * cache->meanEigenvalue()));
    };
    const auto one = scoresWith(1);
    const auto oneAgain = scoresWith(1);
    const auto two = scoresWith(2);
    torch::set_num_threads(threadsBefore);
    // Same thread count: bitwise identical.
    EXPECT_EQ((one.first - oneAgain.first).cwiseAbs().maxCoeff(), 0.0f);
    EXPECT_EQ((one.second - oneAgain.second).cwiseAbs().maxCoeff(), 0.0f);
    // Another thread count: equal to float rounding (documented tolerance 1e-4 relative).
    const float featureScale = one.first.cwiseAbs().maxCoeff();
    EXPECT_LT((one.first - two.first).cwiseAbs().maxCoeff(), 1e-5f * featureScale);
    const float scoreScale = one.second.cwiseAbs().maxCoeff();
    EXPECT_LT((one.second - two.second).cwiseAbs().maxCoeff(), 1e-4f * scoreScale);
}

} // namespace
} // namespace attri
