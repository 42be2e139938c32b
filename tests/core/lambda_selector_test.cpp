// Tests of the retraining-free λ selector on small synthetic problems with known structure.
#include "attribution/spectral_cache.h"
#include "common/error.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "tuning/lambda_grid.h"
#include "tuning/lambda_selector.h"

#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

namespace attri {
namespace {

struct Problem {
    RowMatrixF train, test;
    std::shared_ptr<const SpectralCache> cache;
    std::vector<double> grid;
};

/// Features with a decaying spectrum, as gradient features have.
Problem makeProblem(int64_t n, int64_t m, int64_t k, uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    Problem p;
    p.train.resize(n, k);
    p.test.resize(m, k);
    for (auto* mat : {&p.train, &p.test})
        for (Eigen::Index r = 0; r < mat->rows(); ++r)
            for (Eigen::Index c = 0; c < k; ++c)
                (*mat)(r, c) = normal(rng) * 0.3f / std::sqrt(1.0f + static_cast<float>(c));
    p.cache = SpectralCache::fromFeatures(p.train, p.test, CurvatureConvention::Mean);
    p.grid = LambdaGrid::logSpaced(1e-4, 1e2, 13).toAbsolute(p.cache->meanEigenvalue());
    return p;
}

SelectorInputs inputsFor(const Problem& p, TrainRecipe recipe)
{
    SelectorInputs in;
    in.cache = p.cache;
    in.trainFeatures = &p.train;
    in.testFeatures = &p.test;
    in.recipe = recipe;
    return in;
}

TrainRecipe quickRecipe(int64_t epochs)
{
    TrainRecipe r;
    r.lr = 0.05;
    r.batchSize = 16;
    r.epochs = epochs;
    return r;
}

TEST(LambdaSelector, SimulatedSgdPicksAGridValueAndIsDeterministic)
{
    Problem p = makeProblem(200, 20, 16, 1);
    SelectorOptions o;
    o.rule = SelectorRule::SimulatedSgd;
    o.simulatedSubsets = 16;
    NullProgress progress;
    CancelToken cancel;
    LambdaRecommendation a = recommendLambda(inputsFor(p, quickRecipe(3)), p.grid, o, progress, cancel);
    LambdaRecommendation b = recommendLambda(inputsFor(p, quickRecipe(3)), p.grid, o, progress, cancel);
    ASSERT_GE(a.gridIndex, 0);
    EXPECT_DOUBLE_EQ(a.lambda, p.grid[static_cast<size_t>(a.gridIndex)]);
    EXPECT_DOUBLE_EQ(a.lambda, b.lambda);
    ASSERT_EQ(a.meanXi.size(), static_cast<Eigen::Index>(p.grid.size()));
    EXPECT_TRUE(a.meanXi.isApprox(b.meanXi));
    EXPECT_EQ(a.xi.rows(), 20);
    EXPECT_DOUBLE_EQ(a.meanXi[a.gridIndex], a.meanXi.maxCoeff());
    EXPECT_GE(a.peakedness, 0.0);
    EXPECT_NEAR(a.relativeLambda, a.lambda / p.cache->meanEigenvalue(), 1e-12);
    for (Eigen::Index g = 0; g < a.meanXi.size(); ++g) {
        EXPECT_GE(a.meanXi[g], -1.0);
        EXPECT_LE(a.meanXi[g], 1.0);
    }
}

// Longer training moves the subset models further (less implicit ridge), so the recommended λ
// must not grow when the recipe trains longer — the early-stopping/ridge correspondence.
TEST(LambdaSelector, LongerTrainingDoesNotRaiseTheRecommendedLambda)
{
    Problem p = makeProblem(300, 30, 12, 2);
    SelectorOptions o;
    o.rule = SelectorRule::SimulatedSgd;
    o.simulatedSubsets = 24;
    NullProgress progress;
    CancelToken cancel;
    double shortLambda = recommendLambda(inputsFor(p, quickRecipe(1)), p.grid, o, progress, cancel).lambda;
    double longLambda = recommendLambda(inputsFor(p, quickRecipe(60)), p.grid, o, progress, cancel).lambda;
    EXPECT_LE(longLambda, shortLambda);
}

TEST(LambdaSelector, DynamicsPriorFollowsTheRecipe)
{
    Problem p = makeProblem(100, 5, 8, 3);
    SelectorOptions o;
    o.rule = SelectorRule::DynamicsPrior;
    o.scale = 1.0;
    NullProgress progress;
    CancelToken cancel;
    TrainRecipe r = quickRecipe(10);
    // 50 points per subset, batch 16: 4 steps per epoch, 40 steps; λ = 1/(η T).
    LambdaRecommendation rec = recommendLambda(inputsFor(p, r), p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.lambda, 1.0 / (0.05 * 40), 1e-12);
    r.weightDecay = 0.1;
    rec = recommendLambda(inputsFor(p, r), p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.lambda, 1.0 / (0.05 * 40) + 0.1, 1e-12);
}

// Adam's rate is read as the SGD rate whose steps are as long as Adam's: η·√(p·B/E‖g‖²), with
// E‖g‖² of loss gradients (TRAK's margin norms scaled by Σ(1 − p)²‖φ‖²/Σ‖φ‖²); without a
// recorded gradient norm, η itself, and the inputs say so.
TEST(LambdaSelector, DynamicsPriorReadsAdamsStepAsSgdsOfTheSameLength)
{
    Problem p = makeProblem(100, 5, 8, 3);
    SelectorOptions o;
    o.rule = SelectorRule::DynamicsPrior;
    o.scale = 1.0;
    NullProgress progress;
    CancelToken cancel;
    TrainRecipe r = quickRecipe(10);
    r.optimizer = "adam";
    r.lr = 1e-3;
    SelectorInputs in = inputsFor(p, r);
    LambdaRecommendation rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.priorStepSize, 1e-3, 1e-15);
    EXPECT_NE(rec.inputs.find("read as SGD's"), std::string::npos) << rec.inputs;

    in.gradientSqNormMean = 4.0;
    in.gradientNormSamples = 40;
    in.gradientDimension = 900;
    const double step = 1e-3 * std::sqrt(900.0 * 16 / 4.0); // batch 16
    rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.priorStepSize, step, 1e-12 * step);
    EXPECT_NEAR(rec.lambda, 1.0 / (step * 40), 1e-9 / (step * 40)); // 40 subset steps, c = 1
    EXPECT_NE(rec.inputs.find("Adam's lr*sqrt(p*B/E|g|^2)"), std::string::npos) << rec.inputs;

    // TRAK: the recorded norms are of margin gradients; the optimizer saw (1 − p) times them.
    in.curvature = SelectorCurvature::MarginFisher;
    in.trainLoss.resize(100);
    double margin = 0, loss = 0;
    for (int64_t i = 0; i < 100; ++i) {
        const float l = 0.05f + 0.01f * static_cast<float>(i % 30);
        in.trainLoss[static_cast<size_t>(i)] = l;
        const double sq = p.train.row(i).cast<double>().squaredNorm();
        const double q = 1.0 - std::exp(-static_cast<double>(l));
        margin += sq;
        loss += q * q * sq;
    }
    const double tracStep = 1e-3 * std::sqrt(900.0 * 16 / (4.0 * loss / margin));
    rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.priorStepSize, tracStep, 1e-5 * tracStep);
    EXPECT_GT(rec.priorStepSize, step); // smaller loss gradients: longer steps for the same length

    // SGD is untouched by the gradient's size.
    in.recipe.optimizer = "sgd";
    rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.priorStepSize, 1e-3, 1e-15);
}

// A schedule enters the prior as its integrated step size (Σ_t lr_t in place of lr·T); AdamW's
// decoupled decay as the ridge wd·lr/η_eff. The path rules leave a scheduled run to the prior and
// say why; path-match and simulated-sgd refuse it.
TEST(LambdaSelector, DynamicsPriorIntegratesTheScheduleAndReadsAdamWsDecay)
{
    Problem p = makeProblem(100, 5, 8, 3);
    SelectorOptions o;
    o.rule = SelectorRule::DynamicsPrior;
    o.scale = 1.0;
    NullProgress progress;
    CancelToken cancel;
    TrainRecipe r = quickRecipe(10); // 50 of 100 points, batch 16: 4 steps an epoch, 40 in all
    r.schedule = "cosine";
    SelectorInputs in = inputsFor(p, r);
    LambdaRecommendation rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.priorSteps, 20.5, 1e-9);
    EXPECT_NEAR(rec.lambda, 1.0 / (0.05 * 20.5), 1e-9);
    EXPECT_NE(rec.inputs.find("cosine schedule's integrated steps of 40"), std::string::npos) << rec.inputs;

    in.recipe = quickRecipe(10);
    in.recipe.optimizer = "adamw";
    in.recipe.lr = 1e-3;
    in.recipe.weightDecay = 0.01;
    in.gradientSqNormMean = 4.0;
    in.gradientNormSamples = 40;
    in.gradientDimension = 900;
    const double step = 1e-3 * std::sqrt(900.0 * 16 / 4.0);
    rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.priorStepSize, step, 1e-12 * step);
    EXPECT_NEAR(rec.priorWeightDecay, 0.01 * 1e-3 / step, 1e-15);
    EXPECT_NEAR(rec.lambda, 1.0 / (step * 40) + 0.01 * 1e-3 / step, 1e-9);

    // The path rules: a scheduled run with a path takes the prior and says why.
    in.recipe = quickRecipe(10);
    in.recipe.schedule = "step:5:0.1";
    o.rule = SelectorRule::PathMatch;
    EXPECT_THROW(recommendLambda(in, p.grid, o, progress, cancel), ConfigError);
    o.rule = SelectorRule::SimulatedSgd;
    EXPECT_THROW(recommendLambda(in, p.grid, o, progress, cancel), ConfigError);
}

// Converged training (lbfgs) minimises L + wd/2·‖θ‖²: its prior is wd itself in the method's units
// (× c here), with no step size, steps or path factor; without weight decay, or stopped short of
// its tolerance, it is μ_max/K² (K the cap on iterations) where that is larger. path-or-prior
// takes it and says why; the rules that simulate or unroll training refuse it.
TEST(LambdaSelector, ConvergedTrainingTakesItsWeightDecayAndTheDefaultSaysWhy)
{
    Problem p = makeProblem(100, 5, 8, 3);
    // μ_max of the mean curvature (1/n)ΦᵀΦ, independently of the cache.
    const Eigen::MatrixXd gram = p.train.cast<double>().transpose() * p.train.cast<double>() / 100.0;
    const double muMax = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(gram).eigenvalues().maxCoeff();
    SelectorOptions o;
    o.rule = SelectorRule::DynamicsPrior;
    o.scale = 3.0;
    NullProgress progress;
    CancelToken cancel;
    TrainRecipe r;
    r.optimizer = "lbfgs";
    r.lr = 1.0;
    r.epochs = 100;
    r.weightDecay = 0.01;
    SelectorInputs in = inputsFor(p, r);
    in.pathTrace = {1.0, 2.0}; // a recorded path does not enter: no dynamics
    in.finalTrace = 4.0;
    LambdaRecommendation rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.lambda, 0.01 * 3.0, 1e-15);
    EXPECT_DOUBLE_EQ(rec.priorWeightDecay, 0.01);
    EXPECT_TRUE(std::isnan(rec.priorStepSize));
    EXPECT_TRUE(std::isnan(rec.priorSteps));
    EXPECT_EQ(rec.pathFactor, 1.0);
    EXPECT_NE(rec.inputs.find("converged training: lambda_true = wd 0.01"), std::string::npos) << rec.inputs;
    EXPECT_NE(rec.reason.find("converged training"), std::string::npos) << rec.reason;
    // Recorded as reached: the same.
    in.gradientMaxAbs = 1e-6;
    EXPECT_NEAR(recommendLambda(in, p.grid, o, progress, cancel).lambda, 0.03, 1e-15);

    // Stopped short of its tolerance after a cap of 2 iterations, with a small decay: μ_max/K²,
    // in the method's own units (its spectrum: no factor c), where that is above c·wd.
    in.gradientMaxAbs = 1e-3;
    in.recipe.epochs = 2;
    in.recipe.weightDecay = 0.001;
    ASSERT_GT(muMax / 4.0, 3.0 * 0.001);
    rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.lambda, muMax / 4.0, 1e-6 * rec.lambda);
    EXPECT_NEAR(rec.priorWeightDecay, muMax / 4.0 / 3.0, 1e-6 * rec.priorWeightDecay);
    EXPECT_NE(rec.inputs.find("stopped short of its tolerance"), std::string::npos) << rec.inputs;
    // Short of the tolerance but the floor below c·wd: the decay.
    in.recipe.epochs = 100;
    EXPECT_NEAR(recommendLambda(in, p.grid, o, progress, cancel).lambda, 0.003, 1e-15);
    // No weight decay: the floor, whatever the gradient.
    in.recipe.weightDecay = 0.0;
    in.gradientMaxAbs = std::nan("");
    rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.lambda, muMax / 1e4, 1e-6 * rec.lambda);
    EXPECT_NE(rec.inputs.find("no weight decay"), std::string::npos) << rec.inputs;

    // The default falls back to this prior and says why; it never errors on an lbfgs run.
    in.recipe.weightDecay = 0.01;
    o.rule = SelectorRule::PathOrPrior;
    rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.lambda, 0.03, 1e-15);
    ASSERT_TRUE(rec.pathFallback.has_value());
    EXPECT_EQ(rec.pathFallback->reason, PathFallback::Reason::Converged);
    EXPECT_EQ(rec.inputs.rfind("converged prior (trained to convergence (lbfgs)", 0), 0u) << rec.inputs;
    EXPECT_NE(rec.reason.find("trained to convergence (full-batch L-BFGS)"), std::string::npos) << rec.reason;
    EXPECT_FALSE(rec.pathUsed);

    for (SelectorRule refusing : {SelectorRule::PathMatch, SelectorRule::SimulatedSgd}) {
        o.rule = refusing;
        try {
            recommendLambda(in, p.grid, o, progress, cancel);
            ADD_FAILURE() << toString(refusing) << " accepted an lbfgs run";
        } catch (const ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find("trained to convergence with lbfgs"), std::string::npos)
                << e.what();
            EXPECT_NE(std::string(e.what()).find("path-or-prior"), std::string::npos) << e.what();
        }
    }
}

// The calibrated prior: λ = (1/(ηT) + wd) · c · ρ, with c = E‖φ‖²/E‖g‖² measured from the
// features and ρ = tr(method's curvature)/tr(loss Gauss–Newton) from the per-sample losses.
TEST(LambdaSelector, DynamicsPriorCalibration)
{
    Problem p = makeProblem(100, 5, 8, 3);
    NullProgress progress;
    CancelToken cancel;
    const TrainRecipe r = quickRecipe(10);
    const double trueLambda = 1.0 / (0.05 * 40);
    SelectorInputs in = inputsFor(p, r);
    SelectorOptions o;

    // Without a stored gradient norm the scale is k, and without losses ρ = 1.
    o.rule = SelectorRule::DynamicsPrior;
    LambdaRecommendation rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_DOUBLE_EQ(rec.featureScale, 8.0);
    EXPECT_DOUBLE_EQ(rec.curvatureRatio, 1.0);
    EXPECT_NEAR(rec.lambda, trueLambda * 8.0, 1e-12);
    EXPECT_NE(rec.inputs.find("no stored gradient norm"), std::string::npos) << rec.inputs;

    // c from the features: mean ‖φ_i‖² / mean ‖g_i‖² over the same (first 40) training points.
    const double meanSq = p.train.topRows(40).cast<double>().rowwise().squaredNorm().mean();
    in.gradientSqNormMean = meanSq / 3.0;
    in.gradientNormSamples = 40;
    EXPECT_NEAR(selectorFeatureScale(in, o), 3.0, 1e-6);

    // ρ for TRAK's margin features: Σ‖φ‖² / Σ p(1−p)‖φ‖², p = exp(−loss).
    in.trainLoss.resize(100);
    double used = 0, gaussNewton = 0, lossFisherGn = 0;
    for (int64_t i = 0; i < 100; ++i) {
        const float loss = 0.01f + 0.02f * static_cast<float>(i % 50);
        in.trainLoss[static_cast<size_t>(i)] = loss;
        const double sq = p.train.row(i).cast<double>().squaredNorm();
        const double prob = std::exp(-static_cast<double>(loss));
        used += sq;
        gaussNewton += prob * (1 - prob) * sq;
        lossFisherGn += prob / (1 - prob) * sq;
    }
    in.curvature = SelectorCurvature::MarginFisher;
    EXPECT_NEAR(selectorCurvatureRatio(in), used / gaussNewton, 1e-6 * used / gaussNewton);
    rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.lambda, trueLambda * 3.0 * used / gaussNewton, 1e-6 * rec.lambda);
    EXPECT_GT(rec.curvatureRatio, 1.0); // p(1 − p) ≤ 1/4: TRAK's curvature overstates the loss's

    // Projected IF's empirical Fisher of loss gradients: GN weight p/(1−p) per unit of ‖g‖².
    in.curvature = SelectorCurvature::LossFisher;
    EXPECT_NEAR(selectorCurvatureRatio(in), used / lossFisherGn, 1e-6 * used / lossFisherGn);
    // Explicit curvature (exact Hessian or GGN) needs no ratio.
    in.curvature = SelectorCurvature::LossGaussNewton;
    EXPECT_DOUBLE_EQ(selectorCurvatureRatio(in), 1.0);

    // A sample whose loss is exactly 0 (p = 1) has no Fisher weight and is skipped, never a NaN.
    in.curvature = SelectorCurvature::LossFisher;
    in.trainLoss[0] = 0.0f;
    EXPECT_TRUE(std::isfinite(selectorCurvatureRatio(in)));
    // Every p = 1: no Gauss–Newton mass to compare with; ρ falls back to 1.
    std::fill(in.trainLoss.begin(), in.trainLoss.end(), 0.0f);
    EXPECT_DOUBLE_EQ(selectorCurvatureRatio(in), 1.0);

    // The path factor π = final Gauss–Newton trace / its mean along the run; 1 when not recorded.
    in.curvature = SelectorCurvature::MarginFisher;
    in.trainLoss.assign(100, 0.5f);
    EXPECT_DOUBLE_EQ(selectorPathFactor(in), 1.0);
    in.pathTrace = {4.0, 3.0, 2.0, 1.0};
    in.finalTrace = 1.25;
    EXPECT_DOUBLE_EQ(selectorPathFactor(in), 0.5); // a run twice as curved as its end: half the λ
    const double rhoHere = selectorCurvatureRatio(in);
    rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_DOUBLE_EQ(rec.pathFactor, 0.5);
    EXPECT_NEAR(rec.lambda, trueLambda * 3.0 * rhoHere * 0.5, 1e-6 * rec.lambda);
    EXPECT_NE(rec.inputs.find("path factor pi 0.5"), std::string::npos) << rec.inputs;
    // Unusable records are ignored, never a NaN or a zero λ.
    for (double bad : {0.0, -1.0, std::nan("")}) {
        in.finalTrace = bad;
        EXPECT_DOUBLE_EQ(selectorPathFactor(in), 1.0) << bad;
        in.finalTrace = 1.25;
        in.pathTrace[1] = bad;
        EXPECT_DOUBLE_EQ(selectorPathFactor(in), 1.0) << bad;
        in.pathTrace[1] = 3.0;
    }
    in.pathTrace.clear();
    in.finalTrace = std::nan("");

    // The uncalibrated rule keeps c = k and ρ = 1 whatever the inputs say.
    in.curvature = SelectorCurvature::MarginFisher;
    in.trainLoss.assign(100, 0.5f);
    o.rule = SelectorRule::DynamicsPriorUncalibrated;
    rec = recommendLambda(in, p.grid, o, progress, cancel);
    EXPECT_NEAR(rec.lambda, trueLambda * 8.0, 1e-12);
    EXPECT_DOUBLE_EQ(rec.curvatureRatio, 1.0);
    // An explicit scale wins over the measured one.
    o.rule = SelectorRule::DynamicsPrior;
    o.scale = 1.0;
    in.curvature = SelectorCurvature::LossGaussNewton;
    EXPECT_NEAR(recommendLambda(in, p.grid, o, progress, cancel).lambda, trueLambda, 1e-12);
}

TEST(LambdaSelector, FixedRulesAndEffectiveDimension)
{
    Problem p = makeProblem(100, 5, 8, 4);
    NullProgress progress;
    CancelToken cancel;
    SelectorOptions o;
    o.rule = SelectorRule::FixedRelative;
    EXPECT_NEAR(recommendLambda(inputsFor(p, quickRecipe(2)), p.grid, o, progress, cancel).lambda,
                0.1 * p.cache->meanEigenvalue(), 1e-12);
    o.rule = SelectorRule::FixedAbsolute;
    EXPECT_DOUBLE_EQ(recommendLambda(inputsFor(p, quickRecipe(2)), p.grid, o, progress, cancel).lambda, 1e-3);
    o.rule = SelectorRule::EffectiveDimension;
    double lambda = recommendLambda(inputsFor(p, quickRecipe(2)), p.grid, o, progress, cancel).lambda;
    const Eigen::VectorXd& mu = p.cache->eigenvalues();
    double df = (mu.array() / (mu.array() + lambda)).sum();
    EXPECT_NEAR(df, 0.5 * 8, 1e-6); // min(⌊αn⌋ = 50, k = 8) / 2
}

/// A three-checkpoint path for PathMatch on a Problem: the last checkpoint's features are the
/// problem's own (the spectrum's), the two before perturbed copies; losses in (0.1, 2). Three, so
/// that the selector's eigendecompositions (a batch per hardware thread) span more than one batch.
struct PathFixture {
    RowMatrixF early, first, second, test;
    std::vector<PathSegment> segments;
};

PathFixture makePath(const Problem& p, uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> loss(0.1f, 2.0f);
    PathFixture f;
    f.second = p.train;
    f.first = p.train;
    for (Eigen::Index r = 0; r < f.first.rows(); ++r)
        for (Eigen::Index c = 0; c < f.first.cols(); ++c)
            f.first(r, c) += 0.2f * normal(rng);
    f.early = f.first;
    for (Eigen::Index r = 0; r < f.early.rows(); ++r)
        for (Eigen::Index c = 0; c < f.early.cols(); ++c)
            f.early(r, c) += 0.2f * normal(rng);
    f.test = p.test;
    for (const RowMatrixF* phi : {&f.early, &f.first, &f.second}) {
        PathSegment s;
        s.trainFeatures = phi;
        for (Eigen::Index i = 0; i < phi->rows(); ++i)
            s.trainLoss.push_back(loss(rng));
        // Feature scale c = 2: mean ‖φ‖² over the first 10 rows is twice the "true" gradient norm.
        s.gradientSqNormMean = 0.5 * static_cast<double>(phi->topRows(10).rowwise().squaredNorm().mean());
        s.gradientNormSamples = 10;
        f.segments.push_back(std::move(s));
    }
    f.segments[0].epochs = 2;
    f.segments[1].epochs = 3;
    f.segments[2].epochs = 5;
    return f;
}

/// μ_max of a checkpoint's loss Gauss–Newton curvature, mean over its rows of p/(1 − p) φφᵀ, in
/// double from explicit matrices: the exact figure behind path-match's stability number.
double topGaussNewtonEigenvalue(const PathSegment& seg)
{
    const Eigen::MatrixXd phi = seg.trainFeatures->cast<double>();
    Eigen::VectorXd w(phi.rows());
    for (Eigen::Index i = 0; i < phi.rows(); ++i) {
        const double l = seg.trainLoss[static_cast<size_t>(i)];
        w[i] = std::exp(-l) / -std::expm1(-l) / static_cast<double>(phi.rows());
    }
    const Eigen::MatrixXd h = phi.transpose() * w.asDiagonal() * phi;
    return Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(h).eigenvalues().maxCoeff();
}

// The closed-form segments against plain gradient descent: the derivative of the test features'
// change after training with each training point's linear term upweighted, run step by step
// (rate η/c, the subset model's steps per segment, curvature and features held per segment).
TEST(LambdaSelector, UnrolledPathScoresEqualStepByStepGradientDescent)
{
    Problem p = makeProblem(100, 6, 6, 11);
    PathFixture f = makePath(p, 12);
    SelectorInputs in = inputsFor(p, quickRecipe(8));
    in.recipe.lr = 0.004;
    in.recipe.batchSize = 5; // 50 points per subset: 10 steps per epoch
    in.recipe.weightDecay = 0.01;
    in.path = f.segments;
    in.pathTestFeatures = &f.test;
    NullProgress progress;
    CancelToken cancel;
    const Eigen::MatrixXf scores = unrolledPathScores(in, SelectorOptions(), 6, progress, cancel);
    ASSERT_EQ(scores.rows(), 6);
    ASSERT_EQ(scores.cols(), 100);

    const double c = 2.0, rate = in.recipe.lr / c;
    Eigen::MatrixXd x = Eigen::MatrixXd::Zero(6, 100); // d(parameters)/d(weight of point i), k × n
    for (size_t s = 0; s < f.segments.size(); ++s) {
        const RowMatrixF& phi = *f.segments[s].trainFeatures;
        Eigen::MatrixXd h = Eigen::MatrixXd::Identity(6, 6) * (c * in.recipe.weightDecay);
        for (Eigen::Index i = 0; i < phi.rows(); ++i) {
            const double l = f.segments[s].trainLoss[static_cast<size_t>(i)];
            const double w = std::exp(-l) / -std::expm1(-l);
            const Eigen::VectorXd g = phi.row(i).transpose().cast<double>();
            h += w * g * g.transpose() / 100.0;
        }
        const Eigen::MatrixXd linear = phi.transpose().cast<double>();
        for (int step = 0; step < 10 * static_cast<int>(f.segments[s].epochs); ++step)
            x -= rate * (h * x + linear);
    }
    const Eigen::MatrixXd expected = -(f.test.cast<double>() * x); // test loss falls: positive influence
    const double error = (scores.cast<double>() - expected).norm() / expected.norm();
    EXPECT_LT(error, 0.01) << "relative error " << error;
}

// The attribution method `unrolled` uses the recorded run's own steps (α = 1): the same closed
// form against gradient descent with every point, 20 steps per epoch; any subset of test rows
// scores as those rows of the whole; and the inputs it cannot use are clear errors.
TEST(UnrolledPath, FullRunEqualsStepByStepGradientDescent)
{
    Problem p = makeProblem(100, 6, 6, 21);
    PathFixture f = makePath(p, 22);
    TrainRecipe recipe = quickRecipe(10);
    recipe.lr = 0.002;
    recipe.batchSize = 5; // 100 points: 20 steps per epoch
    recipe.momentum = 0.5;
    recipe.weightDecay = 0.02;
    NullProgress progress;
    CancelToken cancel;
    const UnrolledPath path = UnrolledPath::build(f.segments, 6, recipe, 1.0, progress, cancel);
    EXPECT_EQ(path.stepsPerEpoch(), 20.0);
    EXPECT_DOUBLE_EQ(path.effectiveLr(), 0.004);
    EXPECT_NEAR(path.finalScale(), 2.0, 1e-6);
    const Eigen::MatrixXf scores = path.scores(f.test.cast<double>(), cancel);
    ASSERT_EQ(scores.rows(), 6);
    ASSERT_EQ(scores.cols(), 100);

    const double c = 2.0, rate = path.effectiveLr() / c;
    Eigen::MatrixXd x = Eigen::MatrixXd::Zero(6, 100);
    double stability = 0.0;
    for (size_t s = 0; s < f.segments.size(); ++s) {
        const RowMatrixF& phi = *f.segments[s].trainFeatures;
        Eigen::MatrixXd h = Eigen::MatrixXd::Identity(6, 6) * (c * recipe.weightDecay);
        for (Eigen::Index i = 0; i < phi.rows(); ++i) {
            const double l = f.segments[s].trainLoss[static_cast<size_t>(i)];
            const double w = std::exp(-l) / -std::expm1(-l);
            const Eigen::VectorXd g = phi.row(i).transpose().cast<double>();
            h += w * g * g.transpose() / 100.0;
        }
        const double top = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(h).eigenvalues().maxCoeff();
        stability = std::max(stability, recipe.lr * top / c / (2.0 * (1.0 + recipe.momentum)));
        const Eigen::MatrixXd linear = phi.transpose().cast<double>();
        for (int step = 0; step < 20 * static_cast<int>(f.segments[s].epochs); ++step)
            x -= rate * (h * x + linear);
    }
    const Eigen::MatrixXd expected = -(f.test.cast<double>() * x);
    const double error = (scores.cast<double>() - expected).norm() / expected.norm();
    EXPECT_LT(error, 0.01) << "relative error " << error;
    EXPECT_NEAR(path.stability(), stability, 1e-4 * stability);

    const Eigen::MatrixXf two = path.scores(f.test.middleRows(2, 2).cast<double>(), cancel);
    EXPECT_LT((two - scores.middleRows(2, 2)).norm(), 1e-5f * scores.middleRows(2, 2).norm());

    EXPECT_THROW(UnrolledPath::build(f.segments, 6, recipe, 0.0, progress, cancel), ConfigError);
    EXPECT_THROW(UnrolledPath::build(f.segments, 6, recipe, 1.5, progress, cancel), ConfigError);
    EXPECT_THROW(UnrolledPath::build(f.segments, 7, recipe, 1.0, progress, cancel), ConfigError);
    EXPECT_THROW(UnrolledPath::build({}, 6, recipe, 1.0, progress, cancel), ConfigError);
    std::vector<PathSegment> noEpochs = f.segments;
    noEpochs[1].epochs = 0.0;
    EXPECT_THROW(UnrolledPath::build(noEpochs, 6, recipe, 1.0, progress, cancel), ConfigError);
    EXPECT_THROW(path.scores(f.test.leftCols(5).cast<double>(), cancel), ConfigError);
}

// The match curve is the mean over test points of the centred cosine between the unrolled scores
// and the method's scores, computed here from the explicit score matrices.
TEST(LambdaSelector, PathMatchPicksTheBestMatchingGridLambda)
{
    Problem p = makeProblem(120, 8, 6, 13);
    PathFixture f = makePath(p, 14);
    SelectorInputs in = inputsFor(p, quickRecipe(8));
    in.path = f.segments;
    in.pathTestFeatures = &f.test;
    SelectorOptions o;
    o.rule = SelectorRule::PathMatch;
    NullProgress progress;
    CancelToken cancel;
    const LambdaRecommendation rec = recommendLambda(in, p.grid, o, progress, cancel);
    const Eigen::MatrixXf unrolled = unrolledPathScores(in, o, 8, progress, cancel);
    ASSERT_EQ(rec.meanXi.size(), static_cast<Eigen::Index>(p.grid.size()));
    Eigen::Index best = 0;
    for (size_t g = 0; g < p.grid.size(); ++g) {
        const RowMatrixF method = p.cache->scoreMatrix({}, p.grid[g]);
        double sum = 0;
        for (Eigen::Index t = 0; t < 8; ++t) {
            const Eigen::ArrayXd a = unrolled.row(t).cast<double>().array() - unrolled.row(t).cast<double>().mean();
            const Eigen::ArrayXd b = method.row(t).cast<double>().array() - method.row(t).cast<double>().mean();
            sum += (a * b).sum() / std::sqrt((a * a).sum() * (b * b).sum());
        }
        EXPECT_NEAR(rec.meanXi[static_cast<Eigen::Index>(g)], sum / 8.0, 1e-4) << "grid point " << g;
        if (rec.meanXi[static_cast<Eigen::Index>(g)] > rec.meanXi[best])
            best = static_cast<Eigen::Index>(g);
    }
    EXPECT_EQ(rec.gridIndex, best);
    EXPECT_DOUBLE_EQ(rec.lambda, p.grid[static_cast<size_t>(best)]);
    EXPECT_NE(rec.inputs.find("unrolled along 3 checkpoints"), std::string::npos) << rec.inputs;
    // The stability diagnostic: max over segments of lr·μ_max(H_s)/c_s ÷ 2(1 + β), c_s = 2 here.
    double expected = 0.0;
    for (const PathSegment& seg : f.segments)
        expected = std::max(expected,
                            in.recipe.lr * topGaussNewtonEigenvalue(seg) / 2.0 / (2.0 * (1.0 + in.recipe.momentum)));
    EXPECT_NEAR(rec.pathStability, expected, 1e-4 * expected);
    EXPECT_NE(rec.inputs.find("stability limit"), std::string::npos) << rec.inputs;
    // Adam's steps are preconditioned: no such limit is claimed.
    SelectorInputs adam = in;
    adam.recipe.optimizer = "adam";
    EXPECT_TRUE(std::isnan(recommendLambda(adam, p.grid, o, progress, cancel).pathStability));

    // path-or-prior: path-match's λ on this stable path; the dynamics prior's without a path, on
    // a path stepped beyond the stability limit, and for adam.
    ASSERT_LT(rec.pathStability, 1.0);
    SelectorOptions either = o;
    either.rule = SelectorRule::PathOrPrior;
    SelectorOptions prior = o;
    prior.rule = SelectorRule::DynamicsPrior;
    const LambdaRecommendation onPath = recommendLambda(in, p.grid, either, progress, cancel);
    EXPECT_EQ(onPath.rule, SelectorRule::PathOrPrior);
    EXPECT_DOUBLE_EQ(onPath.lambda, rec.lambda);
    EXPECT_EQ(onPath.meanXi, rec.meanXi);
    EXPECT_EQ(onPath.inputs.rfind("path-match: ", 0), 0u) << onPath.inputs;
    EXPECT_FALSE(onPath.pathFallback.has_value());
    EXPECT_TRUE(rec.pathUsed);
    EXPECT_TRUE(onPath.pathUsed);
    SelectorInputs unstable = in;
    unstable.recipe.lr *= 1.01 / rec.pathStability; // just past the limit
    const LambdaRecommendation past = recommendLambda(unstable, p.grid, either, progress, cancel);
    EXPECT_GT(past.pathStability, 1.0);
    EXPECT_DOUBLE_EQ(past.lambda, recommendLambda(unstable, p.grid, prior, progress, cancel).lambda);
    EXPECT_NE(past.inputs.find("beyond gradient descent's stability limit"), std::string::npos) << past.inputs;
    // The reason comes typed too, and its description is the text in the inputs line.
    ASSERT_TRUE(past.pathFallback.has_value());
    EXPECT_EQ(past.pathFallback->reason, PathFallback::Reason::Unstable);
    EXPECT_DOUBLE_EQ(past.pathFallback->stability, past.pathStability);
    EXPECT_EQ(past.inputs.rfind("dynamics-prior (" + past.pathFallback->describe() + "): ", 0), 0u) << past.inputs;
    EXPECT_FALSE(past.pathUsed);
    // Far past the limit, a lower bound from power iteration decides before any eigendecomposition;
    // it never exceeds the exact figure.
    SelectorInputs farPast = in;
    farPast.recipe.lr *= 3.0 / rec.pathStability;
    const LambdaRecommendation bounded = recommendLambda(farPast, p.grid, either, progress, cancel);
    const double exact = recommendLambda(farPast, p.grid, o, progress, cancel).pathStability;
    EXPECT_GT(bounded.pathStability, 1.0);
    EXPECT_LE(bounded.pathStability, exact * (1 + 1e-6));
    EXPECT_GT(bounded.pathStability, 0.9 * exact); // a block of 8 spans all 6 dimensions
    EXPECT_NE(bounded.inputs.find("(at least "), std::string::npos) << bounded.inputs;
    ASSERT_TRUE(bounded.pathFallback.has_value());
    EXPECT_TRUE(bounded.pathFallback->stabilityIsLowerBound);
    EXPECT_DOUBLE_EQ(bounded.lambda, recommendLambda(farPast, p.grid, prior, progress, cancel).lambda);
    EXPECT_DOUBLE_EQ(recommendLambda(adam, p.grid, either, progress, cancel).lambda,
                     recommendLambda(adam, p.grid, prior, progress, cancel).lambda);
    SelectorInputs none = in;
    none.path.clear();
    none.pathTestFeatures = nullptr;
    const LambdaRecommendation without = recommendLambda(none, p.grid, either, progress, cancel);
    EXPECT_DOUBLE_EQ(without.lambda, recommendLambda(none, p.grid, prior, progress, cancel).lambda);
    EXPECT_EQ(without.inputs.rfind("dynamics-prior (no recorded training path): ", 0), 0u) << without.inputs;
    ASSERT_TRUE(without.pathFallback.has_value());
    EXPECT_EQ(without.pathFallback->reason, PathFallback::Reason::NoPath);
    SelectorInputs single = in;
    single.path.erase(single.path.begin(), single.path.end() - 1); // the final checkpoint alone
    const LambdaRecommendation frozen = recommendLambda(single, p.grid, either, progress, cancel);
    EXPECT_DOUBLE_EQ(frozen.lambda, recommendLambda(single, p.grid, prior, progress, cancel).lambda);
    EXPECT_NE(frozen.inputs.find("one checkpoint is no training path"), std::string::npos) << frozen.inputs;
    ASSERT_TRUE(frozen.pathFallback.has_value());
    EXPECT_EQ(frozen.pathFallback->reason, PathFallback::Reason::OneCheckpoint);
    EXPECT_EQ(parseSelectorRule("path-or-prior"), SelectorRule::PathOrPrior);
    EXPECT_EQ(parseSelectorRule("path-match"), SelectorRule::PathMatch);
    const std::vector<SelectorRule> compared = allSelectorRules();
    EXPECT_EQ(std::count(compared.begin(), compared.end(), SelectorRule::PathMatch), 0);
}

// A run stepped past the stability limit on one checkpoint only is seen by the power-iteration
// bound, wherever that checkpoint lies on the path, in a dimension larger than its block (32
// against 8): the bound decides ("at least"), passes the limit, and stays under the exact figure.
// A checkpoint with non-finite features is a clear error for path-match and the prior's case
// for path-or-prior.
TEST(LambdaSelector, PathOrPriorFindsTheOneUnstableOrBrokenCheckpoint)
{
    Problem p = makeProblem(300, 8, 32, 41);
    PathFixture f = makePath(p, 42);
    // The exact figure of each checkpoint per unit of learning rate (momentum 0, c = 2).
    auto figurePerRate = [](const PathSegment& seg) { return topGaussNewtonEigenvalue(seg) / 2.0 / 2.0; };
    NullProgress progress;
    CancelToken cancel;
    SelectorOptions either, prior;
    either.rule = SelectorRule::PathOrPrior;
    either.pathBudget = std::numeric_limits<double>::infinity();
    prior.rule = SelectorRule::DynamicsPrior;
    for (size_t unstable : {size_t{2}, size_t{0}}) {
        SCOPED_TRACE("unstable checkpoint " + std::to_string(unstable));
        std::vector<PathSegment> path = f.segments;
        for (float& l : path[unstable].trainLoss)
            l *= 0.05f; // near-zero losses: Gauss-Newton weights p/(1 - p) twenty times larger
        std::vector<double> perRate;
        for (const PathSegment& seg : path)
            perRate.push_back(figurePerRate(seg));
        const double exact = *std::max_element(perRate.begin(), perRate.end());
        ASSERT_EQ(exact, perRate[unstable]);
        SelectorInputs in = inputsFor(p, quickRecipe(8));
        in.path = path;
        in.pathTestFeatures = &f.test;
        in.recipe.lr = 1.5 / exact; // the unstable checkpoint at 1.5 × the limit
        for (size_t s = 0; s < path.size(); ++s) {
            if (s != unstable) {
                ASSERT_LT(in.recipe.lr * perRate[s], 0.5) << "checkpoint " << s;
            }
        }
        const LambdaRecommendation rec = recommendLambda(in, p.grid, either, progress, cancel);
        EXPECT_NE(rec.inputs.find("(at least "), std::string::npos) << rec.inputs;
        EXPECT_GT(rec.pathStability, 1.0);
        EXPECT_LE(rec.pathStability, 1.5 * (1 + 1e-6));
        EXPECT_FALSE(rec.pathUsed);
        EXPECT_DOUBLE_EQ(rec.lambda, recommendLambda(in, p.grid, prior, progress, cancel).lambda);
    }
    // A checkpoint whose features hold a NaN (a run that diverged there, or a damaged file) has
    // no curvature: path-match says which, and path-or-prior takes the prior, saying why, for sgd
    // (seen by the bound) and for adam (which has no bound: seen while unrolling). The bound orders
    // the checkpoints by a trace estimated from their first rows; a NaN there or further down is
    // named alike.
    for (const Eigen::Index row : {Eigen::Index{5}, Eigen::Index{200}}) {
        SCOPED_TRACE("NaN in row " + std::to_string(row));
        RowMatrixF broken = *f.segments[1].trainFeatures;
        broken(row, 3) = std::numeric_limits<float>::quiet_NaN();
        SelectorInputs in = inputsFor(p, quickRecipe(8));
        in.path = f.segments;
        in.path[1].trainFeatures = &broken;
        in.pathTestFeatures = &f.test;
        SelectorOptions match;
        match.rule = SelectorRule::PathMatch;
        try {
            recommendLambda(in, p.grid, match, progress, cancel);
            ADD_FAILURE() << "path-match used a checkpoint with a NaN feature";
        } catch (const FormatError& e) {
            EXPECT_NE(std::string(e.what()).find("the features of checkpoint 1 hold NaN or Inf"), std::string::npos)
                << e.what();
        }
        for (const char* optimizer : {"sgd", "adam"}) {
            SCOPED_TRACE(optimizer);
            in.recipe.optimizer = optimizer;
            const LambdaRecommendation rec = recommendLambda(in, p.grid, either, progress, cancel);
            const std::string named = "dynamics-prior (training path: the features of checkpoint 1 hold NaN or Inf";
            EXPECT_EQ(rec.inputs.rfind(named, 0), 0u) << rec.inputs;
            ASSERT_TRUE(rec.pathFallback.has_value());
            EXPECT_EQ(rec.pathFallback->reason, PathFallback::Reason::BrokenCheckpoint);
            EXPECT_FALSE(rec.pathUsed);
            EXPECT_DOUBLE_EQ(rec.lambda, recommendLambda(in, p.grid, prior, progress, cancel).lambda);
        }
    }
}

// path-or-prior, the default rule, spends at most its budget (a share of the estimated retraining)
// on the path: past it, the dynamics prior, saying why.
TEST(LambdaSelector, PathOrPriorKeepsToItsBudget)
{
    EXPECT_EQ(SelectorOptions{}.rule, SelectorRule::PathOrPrior);
    EXPECT_EQ(allSelectorRules().front(), SelectorRule::PathOrPrior);
    EXPECT_DOUBLE_EQ(SelectorOptions{}.pathBudget, 0.04);
    // 50 models on half the points, two at a time, one thread each: 50 × 0.5 × 2 s × √T / 2 from a
    // training on T threads.
    EXPECT_DOUBLE_EQ(estimatedRetrainSeconds(2.0, 1), 25.0);
    EXPECT_DOUBLE_EQ(estimatedRetrainSeconds(2.0, 4), 50.0);
    EXPECT_DOUBLE_EQ(estimatedRetrainSeconds(2.0, 0),
                     25.0 * std::sqrt(std::max(1.0, static_cast<double>(std::thread::hardware_concurrency()))));
    EXPECT_TRUE(std::isnan(estimatedRetrainSeconds(0.0, 2)));
    EXPECT_TRUE(std::isnan(estimatedRetrainSeconds(std::nan(""), 2)));

    Problem p = makeProblem(120, 8, 6, 13);
    PathFixture f = makePath(p, 14);
    SelectorInputs in = inputsFor(p, quickRecipe(8));
    in.path = f.segments;
    in.pathTestFeatures = &f.test;
    NullProgress progress;
    CancelToken cancel;
    SelectorOptions match, either, prior;
    match.rule = SelectorRule::PathMatch;
    prior.rule = SelectorRule::DynamicsPrior;
    const LambdaRecommendation matched = recommendLambda(in, p.grid, match, progress, cancel);
    const double priorLambda = recommendLambda(in, p.grid, prior, progress, cancel).lambda;
    ASSERT_NE(matched.lambda, priorLambda); // else the decisions below could not be told apart
    ASSERT_LT(matched.pathStability, 1.0);

    // Unknown retraining time: no limit.
    const LambdaRecommendation unlimited = recommendLambda(in, p.grid, either, progress, cancel);
    EXPECT_TRUE(unlimited.pathUsed);
    EXPECT_DOUBLE_EQ(unlimited.lambda, matched.lambda);
    EXPECT_TRUE(std::isnan(unlimited.pathBudgetSeconds));
    EXPECT_EQ(unlimited.retrainEstimate, "unknown");
    // Estimated on demand (selectorInputs times the model's steps), only where there is a path to
    // budget for, and inside the recommendation's time.
    int asked = 0;
    SelectorInputs estimated = in;
    estimated.estimateRetrainSeconds = [&asked](const CancelToken&, std::string* how) {
        ++asked;
        *how = "probed";
        return 1e-12;
    };
    const LambdaRecommendation probed = recommendLambda(estimated, p.grid, either, progress, cancel);
    EXPECT_EQ(asked, 1);
    EXPECT_FALSE(probed.pathUsed);
    EXPECT_DOUBLE_EQ(probed.retrainSeconds, 1e-12);
    EXPECT_EQ(probed.retrainEstimate, "probed");
    EXPECT_NE(probed.inputs.find("50 models (probed)"), std::string::npos) << probed.inputs;
    recommendLambda(estimated, p.grid, prior, progress, cancel);
    SelectorInputs pathless = estimated;
    pathless.path.clear();
    pathless.pathTestFeatures = nullptr;
    recommendLambda(pathless, p.grid, either, progress, cancel);
    EXPECT_EQ(asked, 1); // not for another rule, nor without a path
    // A budget the path fits in: 4% of 1000 s.
    in.retrainSeconds = 1000.0;
    const LambdaRecommendation within = recommendLambda(in, p.grid, either, progress, cancel);
    EXPECT_TRUE(within.pathUsed);
    EXPECT_DOUBLE_EQ(within.lambda, matched.lambda);
    EXPECT_DOUBLE_EQ(within.pathBudgetSeconds, 40.0);
    // One it cannot fit in: it stops after an eighth of the first Gram matrix and takes the prior.
    in.retrainSeconds = 1e-12;
    const LambdaRecommendation over = recommendLambda(in, p.grid, either, progress, cancel);
    EXPECT_FALSE(over.pathUsed);
    EXPECT_EQ(over.rule, SelectorRule::PathOrPrior);
    EXPECT_DOUBLE_EQ(over.lambda, priorLambda);
    // It stopped before timing any eigendecomposition, so its projection is a lower bound.
    EXPECT_EQ(over.inputs.rfind("dynamics-prior (unrolling the training path would take more than ", 0), 0u)
        << over.inputs;
    EXPECT_NE(over.inputs.find("of the estimated 1e-12 s of retraining 50 models (given); --path-budget sets it"),
              std::string::npos)
        << over.inputs;
    // The share the path would need: its projection over the retraining, rounded up to two digits.
    {
        const std::string lead = "would take more than ", share = "(this path projects to more than ";
        const size_t a = over.inputs.find(lead), b = over.inputs.find(share);
        ASSERT_NE(a, std::string::npos) << over.inputs;
        ASSERT_NE(b, std::string::npos) << over.inputs;
        const double projected = std::stod(over.inputs.substr(a + lead.size()));
        const double need = std::stod(over.inputs.substr(b + share.size()));
        EXPECT_GE(need, 0.99 * projected / 1e-12) << over.inputs; // the projection is printed to 3 digits
        EXPECT_LE(need, 1.11 * projected / 1e-12) << over.inputs;
        EXPECT_NE(over.inputs.find(" of the retraining)"), std::string::npos) << over.inputs;
    }
    EXPECT_TRUE(std::isnan(over.pathStability)); // not measured: the path was not unrolled
    ASSERT_TRUE(over.pathFallback.has_value());
    EXPECT_EQ(over.pathFallback->reason, PathFallback::Reason::OverBudget);
    EXPECT_TRUE(over.pathFallback->projectedIsLowerBound);
    EXPECT_DOUBLE_EQ(over.pathFallback->retrainSeconds, 1e-12);
    EXPECT_EQ(over.pathFallback->retrainEstimate, "given");
    // A budget of 0 never unrolls; an infinite one never stops.
    SelectorOptions never = either, always = either;
    never.pathBudget = 0.0;
    always.pathBudget = std::numeric_limits<double>::infinity();
    in.retrainSeconds = 1000.0;
    const LambdaRecommendation none = recommendLambda(in, p.grid, never, progress, cancel);
    EXPECT_FALSE(none.pathUsed);
    EXPECT_DOUBLE_EQ(none.lambda, priorLambda);
    EXPECT_NE(none.inputs.find("the path budget is 0"), std::string::npos) << none.inputs;
    ASSERT_TRUE(none.pathFallback.has_value());
    EXPECT_EQ(none.pathFallback->reason, PathFallback::Reason::ZeroBudget);
    SelectorInputs unknown = in;
    unknown.retrainSeconds = std::nan("");
    EXPECT_FALSE(recommendLambda(unknown, p.grid, never, progress, cancel).pathUsed); // 0 of anything
    in.retrainSeconds = 1e-12;
    EXPECT_TRUE(recommendLambda(in, p.grid, always, progress, cancel).pathUsed);

    // The limit in UnrolledPath itself: build and scores stop with PathBudgetExceeded.
    PathTimeLimit spent;
    spent.seconds = 0.0;
    try {
        UnrolledPath::build(f.segments, p.cache->dimension(), in.recipe, 0.5, progress, cancel, spent);
        FAIL() << "no budget error";
    } catch (const PathBudgetExceeded& e) {
        EXPECT_GT(e.projectedSeconds(), 0.0);
        EXPECT_EQ(e.limitSeconds(), 0.0);
        EXPECT_TRUE(e.lowerBound()); // within the first Gram matrix
        EXPECT_NE(std::string(e.what()).find("would take more than "), std::string::npos) << e.what();
    }
    const UnrolledPath path = UnrolledPath::build(f.segments, p.cache->dimension(), in.recipe, 0.5, progress, cancel);
    try {
        path.scores(f.test.cast<double>(), cancel, spent);
        FAIL() << "no budget error";
    } catch (const PathBudgetExceeded& e) {
        EXPECT_FALSE(e.lowerBound()); // every phase before it timed
        EXPECT_NE(std::string(e.what()).find("would take about "), std::string::npos) << e.what();
    }
    // The work projected after each phase counts: a generous limit, an immense work after.
    ASSERT_GE(f.segments.size(), 3u); // scores() projects from its second segment on
    PathTimeLimit ahead;
    ahead.seconds = 3600.0;
    ahead.afterBuild = 1e30;
    EXPECT_THROW(UnrolledPath::build(f.segments, p.cache->dimension(), in.recipe, 0.5, progress, cancel, ahead),
                 PathBudgetExceeded);
    EXPECT_NO_THROW(path.scores(f.test.cast<double>(), cancel, ahead)); // afterBuild is not scores'
    ahead.afterScores = 1e30;
    EXPECT_THROW(path.scores(f.test.cast<double>(), cancel, ahead), PathBudgetExceeded);
    ahead.afterBuild = ahead.afterScores = 0.0;
    EXPECT_NO_THROW(UnrolledPath::build(f.segments, p.cache->dimension(), in.recipe, 0.5, progress, cancel, ahead));

    SelectorOptions bad;
    bad.pathBudget = -0.01;
    EXPECT_THROW(bad.validate(), ConfigError);
    bad.pathBudget = std::nan("");
    EXPECT_THROW(bad.validate(), ConfigError);
}

TEST(PathTimeLimit, ProjectsAPhaseOverItsUnitsAfterWhatCameBefore)
{
    PathTimeLimit limit;
    limit.start = std::chrono::steady_clock::now() - std::chrono::seconds(2);
    limit.seconds = 5.0;
    // A phase begun at 1 s, 1 of its 4 units done by now (2 s): 1 s per unit, 4 s for the phase,
    // half of that again after it: 1 + 4 × 1.5 = 7 s.
    const double projected = limit.project(1.0, 1.0, 4.0, 0.5);
    EXPECT_NEAR(projected, 7.0, 0.3);
    EXPECT_NEAR(limit.project(1.0, 2.0, 4.0, 0.0), 3.0, 0.3); // 0.5 s per unit, nothing after
    EXPECT_NEAR(limit.project(1.0, 0.0, 4.0, 0.5), limit.elapsed(), 0.3); // nothing done: the time so far
    EXPECT_NO_THROW(limit.check(4.9));
    try {
        limit.check(projected);
        FAIL() << "no budget error";
    } catch (const PathBudgetExceeded& e) {
        EXPECT_DOUBLE_EQ(e.projectedSeconds(), projected);
        EXPECT_DOUBLE_EQ(e.limitSeconds(), 5.0);
        EXPECT_NE(std::string(e.what()).find("over its 5 s budget"), std::string::npos) << e.what();
    }
}

TEST(LambdaSelector, PathMatchWithoutAPathIsAClearError)
{
    Problem p = makeProblem(60, 4, 4, 15);
    SelectorOptions o;
    o.rule = SelectorRule::PathMatch;
    NullProgress progress;
    CancelToken cancel;
    try {
        recommendLambda(inputsFor(p, quickRecipe(2)), p.grid, o, progress, cancel);
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("--checkpoints"), std::string::npos) << e.what();
    }
    // A checkpoint with the wrong number of training rows, or no epochs.
    PathFixture f = makePath(p, 16);
    RowMatrixF shorter = f.first.topRows(30);
    SelectorInputs in = inputsFor(p, quickRecipe(2));
    in.path = f.segments;
    in.pathTestFeatures = &f.test;
    in.path[0].trainFeatures = &shorter;
    EXPECT_THROW(recommendLambda(in, p.grid, o, progress, cancel), ConfigError);
    in.path = f.segments;
    in.path[1].epochs = 0;
    EXPECT_THROW(recommendLambda(in, p.grid, o, progress, cancel), ConfigError);
}

TEST(LambdaSelector, BadInputIsAClearError)
{
    Problem p = makeProblem(50, 5, 4, 5);
    NullProgress progress;
    CancelToken cancel;
    SelectorOptions o;
    EXPECT_THROW(recommendLambda(inputsFor(p, quickRecipe(1)), {}, o, progress, cancel), ConfigError);
    EXPECT_THROW(recommendLambda(inputsFor(p, quickRecipe(1)), {0.0}, o, progress, cancel), ConfigError);
    o.alpha = 1.0;
    EXPECT_THROW(recommendLambda(inputsFor(p, quickRecipe(1)), p.grid, o, progress, cancel), ConfigError);
    o = SelectorOptions();
    RowMatrixF wrong(3, 4);
    SelectorInputs in = inputsFor(p, quickRecipe(1));
    in.trainFeatures = &wrong;
    EXPECT_THROW(recommendLambda(in, p.grid, o, progress, cancel), ConfigError);
    EXPECT_THROW(parseSelectorRule("oracle"), ConfigError);
    CancelToken cancelled;
    cancelled.cancel();
    o.rule = SelectorRule::SimulatedSgd;
    EXPECT_THROW(recommendLambda(inputsFor(p, quickRecipe(1)), p.grid, o, progress, cancelled), Cancelled);
}

} // namespace
} // namespace attri
