#include "common/error.h"
#include "common/runtime.h"
#include "common/shard.h"
#include "data/data_loader.h"
#include "eval/ground_truth.h"
#include "eval/lds.h"
#include "eval/removal_checks.h"
#include "eval/subset_sampler.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "model/trainer.h"
#include "store/experiment_file.h"
#include "store/h5_file.h"
#include "support/test_support.h"
#include "eval/rank_stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>
#include <set>

#include <sys/resource.h>

namespace attri {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Two Gaussian blobs of 1×4×4 images (class means ±0.5 on a fixed pattern).
ImageSet blobs(int64_t count, uint64_t seed)
{
    ImageSet set;
    set.count = count;
    set.channels = 1;
    set.height = 4;
    set.width = 4;
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    for (int64_t i = 0; i < count; ++i) {
        const int64_t label = i % 2;
        set.labels.push_back(label);
        for (int64_t p = 0; p < 16; ++p) {
            const float pattern = (p % 3 == 0) ? 1.0f : -0.5f;
            set.images.push_back((label ? 0.5f : -0.5f) * pattern + noise(rng));
        }
    }
    return set;
}

TrainRecipe smallRecipe()
{
    TrainRecipe r;
    r.optimizer = "sgd";
    r.lr = 0.1;
    r.momentum = 0.5;
    r.batchSize = 10;
    r.epochs = 3;
    r.seed = 3;
    return r;
}

Model smallModel(uint64_t seed = 3)
{
    return Model::create(Architecture::LogisticRegression, {1, 4, 4}, 2, seed);
}

/// Writes a minimal experiment file (data + model record) that ground truth can be added to.
void makeExperiment(const std::string& path, const ImageSet& train, const ImageSet& test,
                    const TrainRecipe& recipe)
{
    DataBundle data;
    data.spec = "synthetic";
    data.name = "blobs";
    data.train = train;
    data.test = test;
    data.trainIndices.resize(static_cast<size_t>(train.count));
    std::iota(data.trainIndices.begin(), data.trainIndices.end(), 0);
    data.testIndices.resize(static_cast<size_t>(test.count));
    std::iota(data.testIndices.begin(), data.testIndices.end(), 0);
    data.numClasses = 2;
    data.classNames = {"a", "b"};
    data.contentHash = "0123abcd";
    DataOptions options;
    options.spec = "synthetic";
    options.trainSize = train.count;
    options.testSize = test.count;
    ModelRecord model;
    model.architecture = Architecture::LogisticRegression;
    model.input = {1, 4, 4};
    model.numClasses = 2;
    model.recipe = recipe;
    createExperimentFile(path, data, options, model);
}

/// Counts the advance() calls of the current stage; can cancel a token when `cancelAt` is reached.
class CountingSink final : public ProgressSink {
public:
    explicit CountingSink(const CancelToken* token = nullptr, int64_t cancelAt = -1)
        : m_token(token), m_cancelAt(cancelAt)
    {
    }
    void begin(const std::string& stage, int64_t total) override
    {
        stages.push_back(stage);
        this->total = total;
    }
    void advance(int64_t done) override
    {
        ++advances;
        last = done;
        if (m_token && m_cancelAt >= 0 && done >= m_cancelAt)
            m_token->cancel();
    }
    void message(const std::string& text) override { messages.push_back(text); }

    std::vector<std::string> stages;
    std::vector<std::string> messages;
    int64_t total = 0;
    int64_t advances = 0;
    int64_t last = 0;

private:
    const CancelToken* m_token;
    int64_t m_cancelAt;
};

LdsOptions gtOptions(int workers = 1)
{
    LdsOptions o;
    o.subsets = 6;
    o.alpha = 0.5;
    o.seed = 11;
    o.workers = workers;
    o.threadsPerWorker = 1;
    return o;
}

struct GtFixture : ::testing::Test {
    ImageSet train = blobs(60, 1);
    ImageSet test = blobs(12, 2);
    TrainRecipe recipe = smallRecipe();
    Model model = smallModel();
    test::TempDir dir;

    std::string experiment(const std::string& name)
    {
        const std::string path = dir.file(name);
        makeExperiment(path, train, test, recipe);
        return path;
    }
};

// ---------------------------------------------------------------------------------------------
// Subset sampler

TEST(SubsetSampler, ExactSizeSortedDistinctInRange)
{
    LdsOptions o;
    o.subsets = 7;
    o.alpha = 0.5;
    o.seed = 42;
    const int64_t n = 101;
    const auto subsets = sampleSubsets(n, o);
    ASSERT_EQ(subsets.size(), 7u);
    for (const auto& s : subsets) {
        EXPECT_EQ(s.size(), 50u); // ⌊0.5·101⌋
        EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
        EXPECT_EQ(std::set<int64_t>(s.begin(), s.end()).size(), s.size());
        EXPECT_GE(s.front(), 0);
        EXPECT_LT(s.back(), n);
    }
    // Masks hold the same subsets.
    const auto masks = sampleSubsetMasks(n, o);
    ASSERT_EQ(masks.size(), static_cast<size_t>(7 * n));
    for (size_t j = 0; j < subsets.size(); ++j) {
        std::vector<int64_t> fromMask;
        for (int64_t i = 0; i < n; ++i)
            if (masks[j * n + i])
                fromMask.push_back(i);
        EXPECT_EQ(fromMask, subsets[j]);
    }
    // α = 0.3 on n = 10: exactly 3.
    o.alpha = 0.3;
    EXPECT_EQ(sampleSubsets(10, o)[0].size(), 3u);
}

TEST(SubsetSampler, DeterministicSeededPerSubsetAndDistinct)
{
    LdsOptions o;
    o.subsets = 5;
    o.seed = 9;
    const auto a = sampleSubsets(200, o);
    EXPECT_EQ(a, sampleSubsets(200, o));
    // Subset j depends on seed + j only: independent of M, and shifting the seed shifts subsets.
    LdsOptions fewer = o;
    fewer.subsets = 3;
    const auto b = sampleSubsets(200, fewer);
    for (size_t j = 0; j < 3; ++j)
        EXPECT_EQ(b[j], a[j]);
    LdsOptions shifted = o;
    shifted.seed = 10;
    EXPECT_EQ(sampleSubsets(200, shifted)[0], a[1]);
    EXPECT_EQ(a[2], sampleSubset(200, 100, 11));
    std::set<std::vector<int64_t>> distinct(a.begin(), a.end());
    EXPECT_EQ(distinct.size(), a.size());
}

TEST(SubsetSampler, UniformInclusion)
{
    // Every point is in a subset with probability α: check frequencies over many subsets.
    LdsOptions o;
    o.subsets = 4000;
    o.alpha = 0.5;
    const int64_t n = 10;
    const auto masks = sampleSubsetMasks(n, o);
    for (int64_t i = 0; i < n; ++i) {
        int64_t count = 0;
        for (int64_t j = 0; j < o.subsets; ++j)
            count += masks[j * n + i];
        // Binomial(4000, 0.5) has sd ≈ 31.6: ±5 sd.
        EXPECT_NEAR(static_cast<double>(count), 2000.0, 160.0) << "point " << i;
    }
}

TEST(SubsetSampler, ValidationErrors)
{
    auto expectError = [](LdsOptions o, int64_t n, const std::string& field) {
        try {
            o.validate(n);
            ADD_FAILURE() << "no error for " << field;
        } catch (const ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
        }
    };
    LdsOptions o;
    EXPECT_NO_THROW(o.validate(100));
    LdsOptions bad = o;
    bad.alpha = 0.0;
    expectError(bad, 100, "'alpha'");
    bad.alpha = 1.0;
    expectError(bad, 100, "'alpha'");
    bad.alpha = std::nan("");
    expectError(bad, 100, "'alpha'");
    bad = o;
    bad.subsets = 1;
    expectError(bad, 100, "'subsets'");
    bad = o;
    bad.alpha = 0.1;
    expectError(bad, 5, "floor(alpha * n) >= 1"); // ⌊0.5⌋ = 0
    bad = o;
    bad.workers = 0;
    expectError(bad, 100, "'workers'");
    bad = o;
    bad.threadsPerWorker = 0;
    expectError(bad, 100, "'threadsPerWorker'");
    EXPECT_THROW(sampleSubsets(100,
                               [] {
                                   LdsOptions x;
                                   x.subsets = 1;
                                   return x;
                               }()),
                 ConfigError);
    EXPECT_THROW(sampleSubset(5, 6, 0), ConfigError);
}

// ---------------------------------------------------------------------------------------------
// Rank statistics and LDS

/// n = 4 training points, M = 4 subsets of 2: {0,1}, {0,2}, {1,3}, {2,3}.
GroundTruth handTruth(const std::vector<std::vector<double>>& lossPerTest)
{
    GroundTruth t;
    t.subsets = 4;
    t.trainCount = 4;
    t.testCount = static_cast<int64_t>(lossPerTest.size());
    t.options.subsets = 4;
    t.masks = {1, 1, 0, 0, //
               1, 0, 1, 0, //
               0, 1, 0, 1, //
               0, 0, 1, 1};
    t.testLoss.resize(4, t.testCount);
    for (int64_t c = 0; c < t.testCount; ++c)
        for (int64_t j = 0; j < 4; ++j)
            t.testLoss(j, c) = lossPerTest[static_cast<size_t>(c)][static_cast<size_t>(j)];
    return t;
}

TEST(Lds, HandBuiltCase)
{
    // Scores τ = (1, 2, 4, 8) give subset sums (3, 5, 10, 12); τ = (1, 1, 2, 2) give (2, 3, 3, 4).
    RowMatrixF scores(5, 4);
    scores << 1, 2, 4, 8, //
        1, 2, 4, 8,       //
        1, 2, 4, 8,       //
        1, 1, 2, 2,       //
        1, 1, 2, 2;
    const GroundTruth truth = handTruth({
        {-3, -5, -10, -12}, // y = sums: monotone → 1
        {0, 1, 4, 9},       // y decreasing in the sums → −1
        {2, 2, 2, 2},       // constant y: undefined, skipped
        {-1, -2, -2, -5},   // ties on both sides in the same places → 1
        {-1, -2, -3, -4},   // ties only in the sums → 0.9486832980505138 (scipy)
    });
    const LdsResult r = computeLds(scores, truth);
    ASSERT_EQ(r.perTest.size(), 5u);
    EXPECT_NEAR(r.perTest[0], 1.0, 1e-12);
    EXPECT_NEAR(r.perTest[1], -1.0, 1e-12);
    EXPECT_TRUE(std::isnan(r.perTest[2]));
    EXPECT_NEAR(r.perTest[3], 1.0, 1e-12);
    EXPECT_NEAR(r.perTest[4], 0.9486832980505138, 1e-12);
    EXPECT_EQ(r.usedTests, 4);
    const double values[] = {1.0, -1.0, 1.0, 0.9486832980505138};
    const double mean = (values[0] + values[1] + values[2] + values[3]) / 4.0;
    double ss = 0.0;
    for (double v : values)
        ss += (v - mean) * (v - mean);
    EXPECT_NEAR(r.mean, mean, 1e-12);
    EXPECT_NEAR(r.standardError, std::sqrt(ss / 3.0) / 2.0, 1e-12);

    // The row-callback path gives the same, whatever the block size.
    CancelToken cancel;
    for (int64_t block : {1, 2, 256}) {
        const LdsResult c = computeLds(
            [&](int64_t t, float* row) {
                for (int64_t i = 0; i < 4; ++i)
                    row[i] = scores(t, i);
            },
            truth, cancel, block);
        for (size_t t = 0; t < 5; ++t) {
            if (std::isnan(r.perTest[t]))
                EXPECT_TRUE(std::isnan(c.perTest[t]));
            else
                EXPECT_DOUBLE_EQ(c.perTest[t], r.perTest[t]);
        }
    }
    // Shape mismatch.
    EXPECT_THROW(computeLds(RowMatrixF::Zero(5, 3), truth), ConfigError);
    EXPECT_THROW(computeLds(RowMatrixF::Zero(4, 4), truth), ConfigError);
    cancel.cancel();
    EXPECT_THROW(computeLds([](int64_t, float*) {}, truth, cancel), Cancelled);
}

TEST(Lds, AllUndefinedGivesNaN)
{
    RowMatrixF scores = RowMatrixF::Ones(1, 4); // every subset sum is 2
    const LdsResult r = computeLds(scores, handTruth({{1, 2, 3, 4}}));
    EXPECT_EQ(r.usedTests, 0);
    EXPECT_TRUE(std::isnan(r.mean));
    EXPECT_TRUE(std::isnan(r.standardError));
}

TEST(Lds, MatchesBruteForceOnRandomData)
{
    // Subset sums computed by brute force loops, Spearman from the definition with average ranks.
    std::mt19937_64 rng(5);
    std::normal_distribution<float> normal;
    GroundTruth t;
    t.subsets = 9;
    t.trainCount = 30;
    t.testCount = 7;
    LdsOptions o;
    o.subsets = 9;
    t.masks = sampleSubsetMasks(30, o);
    t.testLoss.resize(9, 7);
    for (int64_t j = 0; j < 9; ++j)
        for (int64_t c = 0; c < 7; ++c)
            t.testLoss(j, c) = std::round(normal(rng) * 2.0) / 2.0; // coarse: creates ties
    RowMatrixF scores(7, 30);
    for (int64_t c = 0; c < 7; ++c)
        for (int64_t i = 0; i < 30; ++i)
            scores(c, i) = normal(rng);
    const LdsResult r = computeLds(scores, t);
    for (int64_t c = 0; c < 7; ++c) {
        std::vector<double> y(9), s(9, 0.0);
        for (int64_t j = 0; j < 9; ++j) {
            y[j] = -t.testLoss(j, c);
            for (int64_t i = 0; i < 30; ++i)
                if (t.masks[j * 30 + i])
                    s[j] += scores(c, i);
        }
        // Ranks by counting (O(M²)): rank = #less + (#equal + 1) / 2.
        auto ranks = [](const std::vector<double>& v) {
            std::vector<double> out(v.size());
            for (size_t a = 0; a < v.size(); ++a) {
                double less = 0, equal = 0;
                for (size_t b = 0; b < v.size(); ++b) {
                    less += v[b] < v[a];
                    equal += v[b] == v[a];
                }
                out[a] = less + (equal + 1) / 2;
            }
            return out;
        };
        const auto ry = ranks(y), rs = ranks(s);
        const double my = std::accumulate(ry.begin(), ry.end(), 0.0) / 9,
                     ms = std::accumulate(rs.begin(), rs.end(), 0.0) / 9;
        double sys = 0, syy = 0, sss = 0;
        for (size_t j = 0; j < 9; ++j) {
            sys += (ry[j] - my) * (rs[j] - ms);
            syy += (ry[j] - my) * (ry[j] - my);
            sss += (rs[j] - ms) * (rs[j] - ms);
        }
        if (syy == 0 || sss == 0)
            EXPECT_TRUE(std::isnan(r.perTest[c]));
        else
            EXPECT_NEAR(r.perTest[c], sys / std::sqrt(syy * sss), 1e-5) << "test " << c;
    }
}

/// Ground truth from a linear datamodel: −loss of test t under subset j = Σ_{i∈S_j} β(t, i) + noise.
struct LinearTruth {
    GroundTruth truth;
    RowMatrixF beta;
};
LinearTruth linearTruth(int64_t n, int64_t m, int64_t M, double noise, uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal;
    LinearTruth lt;
    lt.beta.resize(m, n);
    for (int64_t t = 0; t < m; ++t)
        for (int64_t i = 0; i < n; ++i)
            lt.beta(t, i) = normal(rng);
    GroundTruth& g = lt.truth;
    g.subsets = M;
    g.trainCount = n;
    g.testCount = m;
    g.options.subsets = M;
    LdsOptions o;
    o.subsets = M;
    o.seed = seed;
    g.masks = sampleSubsetMasks(n, o);
    g.testLoss.resize(M, m);
    for (int64_t j = 0; j < M; ++j)
        for (int64_t t = 0; t < m; ++t) {
            double y = noise * normal(rng);
            for (int64_t i = 0; i < n; ++i)
                if (g.inSubset(j, i))
                    y += lt.beta(t, i);
            g.testLoss(j, t) = -y;
        }
    return lt;
}

RowMatrixF noisyScores(const RowMatrixF& beta, float noise, uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal;
    RowMatrixF s = beta;
    for (int64_t t = 0; t < s.rows(); ++t)
        for (int64_t i = 0; i < s.cols(); ++i)
            s(t, i) += noise * normal(rng);
    return s;
}

TEST(Lds, SubsetSumsPathEqualsComputeLds)
{
    const LinearTruth lt = linearTruth(40, 6, 12, 1.0, 3);
    const RowMatrixF scores = noisyScores(lt.beta, 2.0f, 4);
    const LdsResult direct = computeLds(scores, lt.truth);
    const RowMatrixF sums = ldsSubsetSums(scores, lt.truth);
    ASSERT_EQ(sums.rows(), 6);
    ASSERT_EQ(sums.cols(), 12);
    const LdsResult viaSums = ldsFromSubsetSums(sums, lt.truth);
    EXPECT_DOUBLE_EQ(viaSums.mean, direct.mean);
    EXPECT_EQ(viaSums.perTest, direct.perTest);
    EXPECT_THROW(ldsFromSubsetSums(RowMatrixF::Zero(6, 11), lt.truth), ConfigError);

    // Targets ranked once give the same values, test by test, including undefined tests: a NaN
    // loss (test 1), a NaN sum (test 4) and constant sums (test 5).
    GroundTruth truth = lt.truth;
    truth.testLoss(3, 1) = std::numeric_limits<double>::quiet_NaN();
    RowMatrixF odd = sums;
    const RowMatrixF& plain = sums;
    odd(4, 7) = std::numeric_limits<float>::quiet_NaN();
    odd.row(5).setConstant(2.0f);
    const LdsTargets targets(truth);
    EXPECT_TRUE(targets.ranks(1).empty());
    EXPECT_EQ(targets.ranks(0).size(), 12u);
    for (const RowMatrixF* s : {&plain, static_cast<const RowMatrixF*>(&odd)}) {
        const LdsResult once = ldsFromSubsetSums(*s, targets);
        const LdsResult each = ldsFromSubsetSums(*s, truth);
        ASSERT_EQ(once.perTest.size(), 6u);
        for (size_t t = 0; t < 6; ++t) {
            EXPECT_EQ(std::isnan(once.perTest[t]), std::isnan(each.perTest[t])) << t;
            if (!std::isnan(each.perTest[t])) {
                EXPECT_EQ(once.perTest[t], each.perTest[t]) << t;
            }
        }
        EXPECT_TRUE(std::isnan(once.perTest[1]));
        EXPECT_EQ(once.usedTests, each.usedTests);
        EXPECT_DOUBLE_EQ(once.mean, each.mean);
    }
    EXPECT_EQ(ldsFromSubsetSums(odd, targets).usedTests, 3);
    EXPECT_THROW(ldsFromSubsetSums(RowMatrixF::Zero(6, 11), targets), ConfigError);
}

TEST(Lds, BootstrapRatioInterval)
{
    const LinearTruth lt = linearTruth(60, 40, 30, 2.0, 7);
    const GroundTruth& truth = lt.truth;
    CancelToken cancel;
    const RowMatrixF exact = ldsSubsetSums(lt.beta, truth);
    const RowMatrixF close = ldsSubsetSums(noisyScores(lt.beta, 0.1f, 8), truth);
    const RowMatrixF poor = ldsSubsetSums(noisyScores(lt.beta, 3.0f, 9), truth);
    auto ratioOf = [&](const RowMatrixF& a, const RowMatrixF& b) {
        return ldsFromSubsetSums(a, truth).mean / ldsFromSubsetSums(b, truth).mean;
    };

    // A candidate against itself: every resample's ratio is exactly 1.
    const LdsRatioInterval one = bootstrapLdsRatio(poor, poor, truth, cancel, 50);
    EXPECT_EQ(one.resamples, 50);
    EXPECT_DOUBLE_EQ(one.low, 1.0);
    EXPECT_DOUBLE_EQ(one.high, 1.0);
    EXPECT_DOUBLE_EQ(one.shareAbove, 1.0);

    // A much noisier candidate than the exact datamodel: far below 0.95 in every resample, and the
    // interval holds the ratio on all the data.
    const LdsRatioInterval bad = bootstrapLdsRatio(poor, exact, truth, cancel, 100);
    const double pointBad = ratioOf(poor, exact);
    EXPECT_LT(bad.high, 0.95);
    EXPECT_EQ(bad.shareAbove, 0.0);
    EXPECT_LT(bad.low, pointBad);
    EXPECT_GT(bad.high, pointBad);

    // A candidate close to the exact one: the interval holds its ratio, close to 1, and most
    // resamples pass 0.95.
    const LdsRatioInterval good = bootstrapLdsRatio(close, exact, truth, cancel, 100);
    const double pointGood = ratioOf(close, exact);
    EXPECT_GT(pointGood, 0.95);
    EXPECT_LE(good.low, pointGood);
    EXPECT_GE(good.high, pointGood);
    EXPECT_GT(good.low, 0.9);
    EXPECT_GT(good.shareAbove, 0.5);

    // Deterministic for a seed; another seed draws other resamples.
    const LdsRatioInterval again = bootstrapLdsRatio(poor, exact, truth, cancel, 100);
    EXPECT_EQ(again.low, bad.low);
    EXPECT_EQ(again.high, bad.high);
    const LdsRatioInterval other = bootstrapLdsRatio(poor, exact, truth, cancel, 100, 0.9, 0.95, 2);
    EXPECT_NE(other.low, bad.low);

    // A higher level gives a wider interval.
    const LdsRatioInterval wide = bootstrapLdsRatio(poor, exact, truth, cancel, 100, 0.99);
    EXPECT_LE(wide.low, bad.low);
    EXPECT_GE(wide.high, bad.high);

    EXPECT_THROW(bootstrapLdsRatio(poor, exact, truth, cancel, 5), ConfigError);
    EXPECT_THROW(bootstrapLdsRatio(poor, exact, truth, cancel, 50, 1.0), ConfigError);
    EXPECT_THROW(bootstrapLdsRatio(RowMatrixF::Zero(40, 29), exact, truth, cancel), ConfigError);
    EXPECT_THROW(bootstrapLdsRatio(poor, RowMatrixF::Zero(39, 30), truth, cancel), ConfigError);
    cancel.cancel();
    EXPECT_THROW(bootstrapLdsRatio(poor, exact, truth, cancel), Cancelled);
}

TEST(Lds, BootstrapEqualsSpearmanOfEveryResample)
{
    // The bootstrap ranks a resample from each test's values sorted once. Reference: the same
    // resamples (the same draws from the same seed) each ranked from scratch by rank_stats'
    // Spearman, with ties in the data (rounded losses and sums), subsets drawn more than once,
    // a NaN loss and a NaN sum in subsets some resamples draw, and a constant test.
    const LinearTruth lt = linearTruth(50, 12, 25, 2.0, 11);
    GroundTruth truth = lt.truth;
    for (int64_t j = 0; j < truth.subsets; ++j)
        for (int64_t t = 0; t < truth.testCount; ++t)
            truth.testLoss(j, t) = std::round(truth.testLoss(j, t)); // ties
    for (int64_t j = 0; j < truth.subsets; ++j)
        truth.testLoss(j, 5) = 1.0; // constant: no Spearman
    truth.testLoss(3, 2) = std::nan("");
    RowMatrixF a = ldsSubsetSums(noisyScores(lt.beta, 1.0f, 12), truth);
    RowMatrixF b = ldsSubsetSums(lt.beta, truth);
    for (int64_t t = 0; t < a.rows(); ++t)
        for (int64_t j = 0; j < a.cols(); ++j)
            a(t, j) = std::round(a(t, j) * 2.0f) / 2.0f; // ties
    b(7, 4) = std::nanf("");

    const int resamples = 60;
    const uint64_t seed = 5;
    const LdsRatioInterval fast = bootstrapLdsRatio(a, b, truth, CancelToken(), resamples, 0.9, 0.95, seed);

    const int64_t M = truth.subsets, m = truth.testCount;
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int64_t> drawSubset(0, M - 1), drawTest(0, m - 1);
    std::vector<double> ratios;
    for (int r = 0; r < resamples; ++r) {
        std::vector<int64_t> subsets(static_cast<size_t>(M)), weight(static_cast<size_t>(m), 0);
        for (auto& j : subsets)
            j = drawSubset(rng);
        for (int64_t d = 0; d < m; ++d)
            ++weight[static_cast<size_t>(drawTest(rng))];
        double sum[2] = {0, 0}, used[2] = {0, 0};
        for (int64_t t = 0; t < m; ++t) {
            if (weight[static_cast<size_t>(t)] == 0)
                continue;
            std::vector<double> y, s[2];
            for (int64_t j : subsets) {
                y.push_back(-truth.testLoss(j, t));
                s[0].push_back(a(t, j));
                s[1].push_back(b(t, j));
            }
            if (std::any_of(y.begin(), y.end(), [](double v) { return std::isnan(v); })
                || std::all_of(y.begin(), y.end(), [&](double v) { return v == y[0]; }))
                continue;
            for (int k = 0; k < 2; ++k) {
                if (std::any_of(s[k].begin(), s[k].end(), [](double v) { return std::isnan(v); })
                    || std::all_of(s[k].begin(), s[k].end(), [&](double v) { return v == s[k][0]; }))
                    continue;
                sum[k] += static_cast<double>(weight[static_cast<size_t>(t)]) * spearman(y, s[k]);
                used[k] += static_cast<double>(weight[static_cast<size_t>(t)]);
            }
        }
        if (used[0] > 0 && used[1] > 0 && sum[1] / used[1] > 0)
            ratios.push_back(sum[0] / used[0] / (sum[1] / used[1]));
    }
    ASSERT_EQ(fast.resamples, static_cast<int>(ratios.size()));
    ASSERT_GT(fast.resamples, 40);
    std::sort(ratios.begin(), ratios.end());
    auto percentile = [&](double q) {
        const double pos = q * static_cast<double>(ratios.size() - 1);
        const size_t lo = static_cast<size_t>(std::floor(pos)), hi = std::min(ratios.size() - 1, lo + 1);
        return ratios[lo] + (pos - static_cast<double>(lo)) * (ratios[hi] - ratios[lo]);
    };
    EXPECT_NEAR(fast.low, percentile(0.05), 1e-12);
    EXPECT_NEAR(fast.high, percentile(0.95), 1e-12);
    const double above =
        static_cast<double>(std::count_if(ratios.begin(), ratios.end(), [](double x) { return x >= 0.95; }));
    EXPECT_DOUBLE_EQ(fast.shareAbove, above / static_cast<double>(ratios.size()));
}

// ---------------------------------------------------------------------------------------------
// Ground truth

TEST_F(GtFixture, RetrainingStartIsTheFullModelsInitialization)
{
    NullProgress quiet;
    Model trained = trainModel(model, recipe, train, quiet, CancelToken()).model;
    const Model start = retrainingStart(trained, recipe);
    const auto expected = smallModel(recipe.seed).parameters();
    const auto got = start.parameters();
    ASSERT_EQ(got.size(), expected.size());
    for (size_t k = 0; k < got.size(); ++k)
        EXPECT_EQ(got[k].values, expected[k].values);
    // The trained model passed in is untouched (start is an independent clone).
    EXPECT_NE(trained.parameters()[0].values, expected[0].values);
    EXPECT_THROW(retrainingStart(model, std::nullopt), ConfigError);
}

// The retraining estimate path-or-prior's budget is a share of (the bench compares it with a
// measured retraining: docs/benchmarks.md). Its timing is not asserted here, only what it promises
// regardless: a positive finite time, the caller's threads restored, the model untouched, clear
// errors and cancel.
TEST_F(GtFixture, ProbeRetrainSecondsTimesTheModelsSteps)
{
    const int threadsBefore = torchThreads();
    const auto before = model.parameters();
    CancelToken cancel;
    const double estimate = probeRetrainSeconds(model, recipe, 20, 50, RetrainPool{}, cancel);
    EXPECT_GT(estimate, 0.0);
    EXPECT_TRUE(std::isfinite(estimate));
    EXPECT_EQ(torchThreads(), threadsBefore);
    const auto after = model.parameters();
    ASSERT_EQ(after.size(), before.size());
    for (size_t k = 0; k < after.size(); ++k)
        EXPECT_EQ(after[k].values, before[k].values);
    EXPECT_THROW(probeRetrainSeconds(model, recipe, 0, 50, RetrainPool{}, cancel), ConfigError);
    EXPECT_THROW(probeRetrainSeconds(model, recipe, 20, 0, RetrainPool{}, cancel), ConfigError);
    EXPECT_THROW(probeRetrainSeconds(model, recipe, 20, 50, RetrainPool{0, 1}, cancel), ConfigError);
    TrainRecipe bad = recipe;
    bad.batchSize = 0;
    EXPECT_THROW(probeRetrainSeconds(model, bad, 20, 50, RetrainPool{}, cancel), ConfigError);
    cancel.cancel();
    EXPECT_THROW(probeRetrainSeconds(model, recipe, 20, 50, RetrainPool{}, cancel), Cancelled);
    EXPECT_EQ(torchThreads(), threadsBefore);
}

TEST_F(GtFixture, WorkersDoNotChangeTheResultAndFileHoldsIt)
{
    const int threadsBefore = torchThreads();
    const std::string a = experiment("a.h5"), b = experiment("b.h5");
    const auto paramsBefore = model.parameters();
    NullProgress quiet;
    const GroundTruth one =
        computeGroundTruth(a, model, recipe, train, test, gtOptions(1), quiet, CancelToken());
    const GroundTruth two =
        computeGroundTruth(b, model, recipe, train, test, gtOptions(2), quiet, CancelToken());
    EXPECT_EQ(torchThreads(), threadsBefore); // restored
    EXPECT_EQ(model.parameters()[0].values, paramsBefore[0].values);

    ASSERT_EQ(one.testLoss.rows(), 6);
    ASSERT_EQ(one.testLoss.cols(), 12);
    EXPECT_EQ(one.masks, two.masks);
    EXPECT_EQ(one.masks, sampleSubsetMasks(60, gtOptions()));
    for (int64_t j = 0; j < 6; ++j)
        for (int64_t t = 0; t < 12; ++t)
            EXPECT_EQ(one.testLoss(j, t), two.testLoss(j, t)) << j << "," << t; // bitwise
    EXPECT_EQ(one.inputHash, two.inputHash);

    // Row j is the model trained on subset j from the recipe's initialization.
    const auto subsets = sampleSubsets(60, gtOptions());
    for (int64_t j : {0, 5}) {
        NullProgress np;
        const Model m =
            trainModel(retrainingStart(model, recipe), recipe, train.select(subsets[j]), np, CancelToken())
                .model;
        const auto loss = perSampleLoss(m, test);
        for (int64_t t = 0; t < 12; ++t)
            EXPECT_EQ(one.testLoss(j, t), loss[t]);
    }
    // Different subsets give different models.
    EXPECT_GT((one.testLoss.row(0) - one.testLoss.row(1)).cwiseAbs().maxCoeff(), 1e-6);

    // Stored in the file, side file gone.
    EXPECT_FALSE(fs::exists(groundTruthPartialPath(a)));
    H5File f(a, H5File::Mode::ReadOnly);
    EXPECT_EQ(f.info("/ground_truth/masks").shape, (std::vector<int64_t>{6, 60}));
    EXPECT_EQ(f.info("/ground_truth/test_loss").shape, (std::vector<int64_t>{6, 12}));
    EXPECT_EQ(f.attrInt("/ground_truth", "subsets"), 6);
    EXPECT_EQ(f.attrDouble("/ground_truth", "alpha"), 0.5);
    EXPECT_EQ(f.attrInt("/ground_truth", "seed"), 11);
    EXPECT_EQ(f.attrString("/ground_truth", "data_content_hash"), "0123abcd");
    EXPECT_NE(f.attrString("/ground_truth", "recipe").find("lr=0.1"), std::string::npos);
    EXPECT_GT(f.attrDouble("/ground_truth", "seconds"), 0.0);
    EXPECT_TRUE(f.exists("/model")); // the rest of the experiment is kept
    const auto stored = readGroundTruth(f);
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->masks, one.masks);
    EXPECT_EQ(stored->testLoss, one.testLoss);
    EXPECT_EQ(stored->trainCount, 60);
    EXPECT_EQ(stored->testCount, 12);
    EXPECT_EQ(stored->inputHash, one.inputHash);
}

TEST_F(GtFixture, CancelledRunResumesWithOnlyTheMissingSubsets)
{
    const std::string clean = experiment("clean.h5"), resumed = experiment("resumed.h5");
    NullProgress quiet;
    const GroundTruth reference =
        computeGroundTruth(clean, model, recipe, train, test, gtOptions(1), quiet, CancelToken());

    CancelToken cancel;
    CountingSink cancelling(&cancel, 2);
    EXPECT_THROW(computeGroundTruth(resumed, model, recipe, train, test, gtOptions(1), cancelling, cancel),
                 Cancelled);
    EXPECT_EQ(cancelling.advances, 2);
    const std::string side = groundTruthPartialPath(resumed);
    ASSERT_TRUE(fs::exists(side));
    EXPECT_EQ(side, dir.file("resumed.gt-partial.h5"));
    {
        H5File f(resumed, H5File::Mode::ReadOnly);
        EXPECT_FALSE(readGroundTruth(f)); // nothing final yet
        H5File s(side, H5File::Mode::ReadOnly);
        const auto done = s.readUInt8("/done");
        EXPECT_EQ(std::accumulate(done.begin(), done.end(), 0), 2);
    }

    CountingSink counting;
    const GroundTruth rest =
        computeGroundTruth(resumed, model, recipe, train, test, gtOptions(2), counting, CancelToken());
    EXPECT_EQ(counting.advances, 4); // only the 4 missing subsets were trained
    EXPECT_EQ(counting.last, 6);
    EXPECT_EQ(counting.total, 6);
    EXPECT_EQ(rest.masks, reference.masks);
    EXPECT_EQ(rest.testLoss, reference.testLoss);
    EXPECT_FALSE(fs::exists(side));
    H5File f(resumed, H5File::Mode::ReadOnly);
    ASSERT_TRUE(readGroundTruth(f));
    EXPECT_EQ(readGroundTruth(f)->testLoss, reference.testLoss);
}

TEST_F(GtFixture, StoredGroundTruthIsReusedOrProtected)
{
    const std::string path = experiment("e.h5");
    NullProgress quiet;
    const GroundTruth first =
        computeGroundTruth(path, model, recipe, train, test, gtOptions(1), quiet, CancelToken());

    // Same options: returned from the file, nothing trained.
    CountingSink again;
    const GroundTruth second =
        computeGroundTruth(path, model, recipe, train, test, gtOptions(2), again, CancelToken());
    EXPECT_EQ(again.advances, 0);
    EXPECT_EQ(second.testLoss, first.testLoss);

    // Other options: refused with an explanation, unless replace.
    LdsOptions other = gtOptions(1);
    other.seed = 12;
    try {
        computeGroundTruth(path, model, recipe, train, test, other, quiet, CancelToken());
        ADD_FAILURE() << "no error";
    } catch (const ConfigError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("seed=11"), std::string::npos) << msg;
        EXPECT_NE(msg.find("--force"), std::string::npos) << msg;
    }
    // Other recipe: the stored result is stale, also refused.
    TrainRecipe otherRecipe = recipe;
    otherRecipe.epochs = 2;
    EXPECT_THROW(
        computeGroundTruth(path, model, otherRecipe, train, test, gtOptions(1), quiet, CancelToken()),
        ConfigError);
    other.replace = true;
    CountingSink replacing;
    const GroundTruth replaced =
        computeGroundTruth(path, model, recipe, train, test, other, replacing, CancelToken());
    EXPECT_EQ(replacing.advances, 6);
    H5File f(path, H5File::Mode::ReadOnly);
    EXPECT_EQ(f.attrInt("/ground_truth", "seed"), 12);
    EXPECT_NE(readGroundTruth(f)->masks, first.masks);
}

TEST_F(GtFixture, MoreSubsetsExtendTheStoredGroundTruth)
{
    const std::string clean = experiment("clean.h5"), grown = experiment("grown.h5");
    NullProgress quiet;
    const GroundTruth reference =
        computeGroundTruth(clean, model, recipe, train, test, gtOptions(2), quiet, CancelToken());
    LdsOptions fewer = gtOptions(1);
    fewer.subsets = 3;
    const GroundTruth first = computeGroundTruth(grown, model, recipe, train, test, fewer, quiet, CancelToken());

    // Six subsets where three are stored: only the three new ones are trained, and the result is
    // what six from scratch give (subsets are seeded one by one, retraining is deterministic).
    CountingSink counting;
    const GroundTruth extended =
        computeGroundTruth(grown, model, recipe, train, test, gtOptions(2), counting, CancelToken());
    EXPECT_EQ(counting.advances, 3);
    EXPECT_EQ(counting.last, 6);
    EXPECT_EQ(extended.masks, reference.masks);
    EXPECT_EQ(extended.testLoss, reference.testLoss);
    EXPECT_GE(extended.seconds, first.seconds);
    ASSERT_FALSE(counting.messages.empty());
    EXPECT_NE(counting.messages.front().find("extending the stored ground truth from 3 to 6"), std::string::npos)
        << counting.messages.front();
    {
        H5File f(grown, H5File::Mode::ReadOnly);
        EXPECT_EQ(f.attrInt("/ground_truth", "subsets"), 6);
        EXPECT_EQ(readGroundTruth(f)->testLoss, reference.testLoss);
    }
    EXPECT_FALSE(fs::exists(groundTruthPartialPath(grown)));

    // An extension killed part-way resumes without retraining the stored subsets or counting
    // their time twice.
    const std::string again = experiment("again.h5");
    const GroundTruth three = computeGroundTruth(again, model, recipe, train, test, fewer, quiet, CancelToken());
    CancelToken cancel;
    CountingSink cancelling(&cancel, 1);
    EXPECT_THROW(computeGroundTruth(again, model, recipe, train, test, gtOptions(1), cancelling, cancel), Cancelled);
    CountingSink rest;
    const GroundTruth resumed = computeGroundTruth(again, model, recipe, train, test, gtOptions(1), rest, CancelToken());
    EXPECT_EQ(rest.advances, 2);
    EXPECT_EQ(resumed.testLoss, reference.testLoss);
    EXPECT_GE(resumed.seconds, three.seconds);

    // Shards extend it too: between them they train only the three new subsets.
    const std::string sharded = experiment("sharded.h5");
    const GroundTruth storedThree = computeGroundTruth(sharded, model, recipe, train, test, fewer, quiet, CancelToken());
    int64_t trained = 0;
    for (int64_t rank : {0, 1})
        trained += computeGroundTruthShard(sharded, model, recipe, train, test, gtOptions(1), Shard{rank, 2}, quiet,
                                           CancelToken());
    EXPECT_EQ(trained, 3);
    CountingSink merging;
    const GroundTruth merged =
        computeGroundTruth(sharded, model, recipe, train, test, gtOptions(1), merging, CancelToken());
    EXPECT_EQ(merging.advances, 0);
    EXPECT_EQ(merged.testLoss, reference.testLoss);
    EXPECT_GE(merged.seconds, storedThree.seconds); // the stored subsets' time is kept

    // Fewer subsets than stored, or more with another seed, are still refused.
    LdsOptions otherSeed = gtOptions(1);
    otherSeed.subsets = 8;
    otherSeed.seed = 12;
    EXPECT_THROW(computeGroundTruth(grown, model, recipe, train, test, otherSeed, quiet, CancelToken()), ConfigError);
    EXPECT_THROW(computeGroundTruth(grown, model, recipe, train, test, fewer, quiet, CancelToken()), ConfigError);
}

TEST_F(GtFixture, SideFileOfOtherOptionsIsDiscarded)
{
    const std::string path = experiment("e.h5");
    CancelToken cancel;
    CountingSink cancelling(&cancel, 1);
    LdsOptions other = gtOptions(1);
    other.alpha = 0.4;
    EXPECT_THROW(computeGroundTruth(path, model, recipe, train, test, other, cancelling, cancel), Cancelled);
    ASSERT_TRUE(fs::exists(groundTruthPartialPath(path)));
    CountingSink counting;
    computeGroundTruth(path, model, recipe, train, test, gtOptions(1), counting, CancelToken());
    EXPECT_EQ(counting.advances, 6);
    ASSERT_FALSE(counting.messages.empty());
    EXPECT_NE(counting.messages.front().find("alpha=0.4"), std::string::npos) << counting.messages.front();
}

TEST_F(GtFixture, Errors)
{
    NullProgress quiet;
    // No experiment file.
    EXPECT_THROW(computeGroundTruth(dir.file("missing.h5"), model, recipe, train, test, gtOptions(), quiet,
                                    CancelToken()),
                 IoError);
    const std::string path = experiment("e.h5");
    // Bad options are reported before any work.
    LdsOptions bad = gtOptions();
    bad.subsets = 1;
    EXPECT_THROW(computeGroundTruth(path, model, recipe, train, test, bad, quiet, CancelToken()),
                 ConfigError);
    // A zoo model without a recipe.
    EXPECT_THROW(
        computeGroundTruth(path, model, std::nullopt, train, test, gtOptions(), quiet, CancelToken()),
        ConfigError);
    // Cancelled before start.
    CancelToken cancel;
    cancel.cancel();
    EXPECT_THROW(computeGroundTruth(path, model, recipe, train, test, gtOptions(2), quiet, cancel),
                 Cancelled);
    // A failing job (diverging training) surfaces as its own error after the workers stopped.
    TrainRecipe diverging = recipe;
    diverging.lr = 1e38;
    EXPECT_THROW(computeGroundTruth(path, model, diverging, train, test, gtOptions(2), quiet, CancelToken()),
                 Error);
}

TEST_F(GtFixture, ImportedModelWithoutRecipeIsRefused)
{
    const std::string ts = test::fixture("ts_mlp.pt");
    if (!fs::exists(ts))
        GTEST_SKIP() << "fixture " << ts << " is absent";
    const Model imported = Model::importTorchScript(ts);
    const std::string path = experiment("e.h5");
    NullProgress quiet;
    try {
        computeGroundTruth(path, imported, std::nullopt, train, test, gtOptions(), quiet, CancelToken());
        ADD_FAILURE() << "no error";
    } catch (const ConfigError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("imported model"), std::string::npos) << msg;
        EXPECT_NE(msg.find(ts), std::string::npos) << msg;
        EXPECT_NE(msg.find("re-import with --optimizer"), std::string::npos) << msg;
    }

    // With a recipe it retrains from the documented re-initialization, never from the imported
    // weights, and leaves the imported model alone.
    Model tsModel = Model::importTorchScript(ts);
    tsModel.checkCompatible({1, 28, 28}, 10);
    ImageSet big;
    big.count = 24;
    big.channels = 1;
    big.height = 28;
    big.width = 28;
    for (int64_t i = 0; i < big.count; ++i) {
        big.labels.push_back(i % 10);
        for (int64_t p = 0; p < 784; ++p)
            big.images.push_back(static_cast<float>((p * 7 + i * 13) % 17) / 17.0f);
    }
    const auto before = tsModel.parameters();
    TrainRecipe r = recipe;
    r.epochs = 1;
    const Model start = retrainingStart(tsModel, r);
    Model expected = tsModel.clone();
    expected.reinitialize(r.seed);
    EXPECT_EQ(start.parameters()[0].values, expected.parameters()[0].values);
    EXPECT_NE(start.parameters()[0].values, before[0].values);
    LdsOptions o = gtOptions(2);
    o.subsets = 2;
    const std::string tsPath = dir.file("ts.h5");
    makeExperiment(tsPath, big, big, r);
    const GroundTruth gt = computeGroundTruth(tsPath, tsModel, r, big, big, o, quiet, CancelToken());
    EXPECT_EQ(gt.testLoss.rows(), 2);
    EXPECT_EQ(gt.testLoss.cols(), 24);
    EXPECT_TRUE(gt.testLoss.allFinite());
    EXPECT_EQ(tsModel.parameters()[0].values, before[0].values);
}

TEST(GroundTruthFromRecord, UsesTheRecordedRecipeAndData)
{
    DataOptions dataOptions;
    dataOptions.spec = "demo";
    dataOptions.trainSize = 40;
    dataOptions.testSize = 8;
    const DataBundle data = loadData(dataOptions);
    TrainRecipe recipe = TrainRecipe::standardFor(Architecture::LogisticRegression);
    recipe.epochs = 2;
    recipe.batchSize = 8;
    recipe.seed = 5;
    const InputShape shape{data.train.channels, data.train.height, data.train.width};
    NullProgress quiet;
    const TrainResult trained =
        trainModel(Model::create(Architecture::LogisticRegression, shape, data.numClasses, recipe.seed),
                   recipe, data.train, quiet, CancelToken());
    ModelRecord record;
    record.architecture = Architecture::LogisticRegression;
    record.input = shape;
    record.numClasses = data.numClasses;
    record.recipe = recipe;
    record.checkpoints = trained.checkpoints;
    test::TempDir dir;
    const std::string path = dir.file("demo.h5");
    createExperimentFile(path, data, dataOptions, record);

    LdsOptions o;
    o.subsets = 3;
    o.workers = 2;
    const GroundTruth fromRecord = computeGroundTruth(path, o, quiet, CancelToken());
    EXPECT_EQ(fromRecord.dataContentHash, data.contentHash);
    EXPECT_EQ(fromRecord.recipeSummary, recipeSummary(recipe));
    // The same as passing everything explicitly (with the trained model: only its architecture counts).
    const std::string copy = dir.file("copy.h5");
    createExperimentFile(copy, data, dataOptions, record);
    const GroundTruth explicitly =
        computeGroundTruth(copy, trained.model, recipe, data.train, data.test, o, quiet, CancelToken());
    EXPECT_EQ(fromRecord.testLoss, explicitly.testLoss);
    EXPECT_EQ(fromRecord.inputHash, explicitly.inputHash);
}

// ---------------------------------------------------------------------------------------------
// Removal checks

TEST_F(GtFixture, LeaveOneOutMeasuresActualChanges)
{
    train = blobs(30, 4);
    RowMatrixF scores = RowMatrixF::Random(12, 30);
    LooOptions o;
    o.removed = {0, 7, 13, 21, 29};
    CountingSink progress;
    const LooResult r = leaveOneOutCheck(model, recipe, train, test, scores, o, progress, CancelToken());
    EXPECT_EQ(progress.advances, 6);
    ASSERT_EQ(r.lossChange.rows(), 5);
    ASSERT_EQ(r.lossChange.cols(), 12);
    // Independently: the baseline and one left-out model.
    NullProgress np;
    const Model start = retrainingStart(model, recipe);
    const auto base = perSampleLoss(trainModel(start, recipe, train, np, CancelToken()).model, test);
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < 30; ++i)
        if (i != 13)
            keep.push_back(i);
    const auto without =
        perSampleLoss(trainModel(start, recipe, train.select(keep), np, CancelToken()).model, test);
    for (int64_t t = 0; t < 12; ++t) {
        EXPECT_EQ(r.baselineLoss[t], base[t]);
        EXPECT_EQ(r.lossChange(2, t), without[t] - base[t]);
    }
    // Oracle scores (the actual changes) correlate perfectly.
    RowMatrixF oracle = RowMatrixF::Zero(12, 30);
    for (int64_t t = 0; t < 12; ++t)
        for (int64_t k = 0; k < 5; ++k)
            oracle(t, o.removed[k]) = static_cast<float>(r.lossChange(k, t));
    const LooResult perfect = leaveOneOutCheck(model, recipe, train, test, oracle, o, np, CancelToken());
    EXPECT_NEAR(perfect.meanPearson, 1.0, 1e-5);
    EXPECT_NEAR(perfect.meanSpearman, 1.0, 1e-12);
    EXPECT_NEAR(perfect.pooledPearson, 1.0, 1e-5);

    o.removed = {3, 3};
    EXPECT_THROW(leaveOneOutCheck(model, recipe, train, test, scores, o, np, CancelToken()), ConfigError);
    o.removed = {30};
    EXPECT_THROW(leaveOneOutCheck(model, recipe, train, test, scores, o, np, CancelToken()), ConfigError);
}

TEST_F(GtFixture, TopKRemovalRemovesTheStrongestProponents)
{
    RowMatrixF scores = RowMatrixF::Random(12, 60);
    scores(1, 7) = 5.0f; // the strongest proponent of test 1
    TopKRemovalOptions o;
    o.k = 4;
    o.tests = {1, 5};
    CountingSink progress;
    const TopKRemovalResult r =
        topKRemovalCheck(model, recipe, train, test, scores, o, progress, CancelToken());
    EXPECT_EQ(progress.advances, 5);
    ASSERT_EQ(r.topK.size(), 2u);
    EXPECT_EQ(r.topK[0][0], 7);
    for (size_t c = 0; c < 2; ++c) {
        std::vector<int64_t> order(60);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t a, int64_t b) { return scores(o.tests[c], a) > scores(o.tests[c], b); });
        EXPECT_EQ(r.topK[c], std::vector<int64_t>(order.begin(), order.begin() + 4));
        EXPECT_EQ(r.random[c], sampleSubset(60, 4, o.seed + static_cast<uint64_t>(o.tests[c])));
    }
    // Independently: removing test 5's top-k.
    NullProgress np;
    const Model start = retrainingStart(model, recipe);
    const auto base = perSampleLoss(trainModel(start, recipe, train, np, CancelToken()).model, test);
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < 60; ++i)
        if (std::find(r.topK[1].begin(), r.topK[1].end(), i) == r.topK[1].end())
            keep.push_back(i);
    const auto without =
        perSampleLoss(trainModel(start, recipe, train.select(keep), np, CancelToken()).model, test);
    EXPECT_EQ(r.baselineLoss[1], base[5]);
    EXPECT_EQ(r.topKIncrease[1], without[5] - base[5]);
    EXPECT_DOUBLE_EQ(r.meanTopKIncrease, (r.topKIncrease[0] + r.topKIncrease[1]) / 2);
    EXPECT_DOUBLE_EQ(r.meanRandomIncrease, (r.randomIncrease[0] + r.randomIncrease[1]) / 2);

    // Repeats: every loss is the mean over seeds recipe.seed + r, each from its own start.
    TopKRemovalOptions twice = o;
    twice.repeats = 2;
    CountingSink repeatedProgress;
    const TopKRemovalResult r2 =
        topKRemovalCheck(model, recipe, train, test, scores, twice, repeatedProgress, CancelToken());
    EXPECT_EQ(repeatedProgress.advances, 10);
    TrainRecipe next = recipe;
    next.seed = recipe.seed + 1;
    const Model nextStart = retrainingStart(model, next);
    const auto nextBase = perSampleLoss(trainModel(nextStart, next, train, np, CancelToken()).model, test);
    const auto nextWithout =
        perSampleLoss(trainModel(nextStart, next, train.select(keep), np, CancelToken()).model, test);
    EXPECT_NE(nextBase[5], base[5]); // another seed is another model
    EXPECT_DOUBLE_EQ(r2.baselineLoss[1], (base[5] + nextBase[5]) / 2);
    EXPECT_NEAR(r2.topKIncrease[1], ((without[5] - base[5]) + (nextWithout[5] - nextBase[5])) / 2, 1e-12);
    EXPECT_EQ(r2.topK, r.topK);
    EXPECT_EQ(r2.random, r.random);

    o.k = 60;
    EXPECT_THROW(topKRemovalCheck(model, recipe, train, test, scores, o, np, CancelToken()), ConfigError);
    o.k = 3;
    o.tests = {12};
    EXPECT_THROW(topKRemovalCheck(model, recipe, train, test, scores, o, np, CancelToken()), ConfigError);
    o.tests = {1};
    o.repeats = 0;
    EXPECT_THROW(topKRemovalCheck(model, recipe, train, test, scores, o, np, CancelToken()), ConfigError);
}

// ---------------------------------------------------------------------------------------------
// Throughput measurement (run by hand: --gtest_also_run_disabled_tests). Settings of the
// attribution notes §4 (LR and MLP) on 2500-point subsets of synthetic 28×28 data.

double cpuSeconds()
{
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec)
           + 1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

/// Models per wall second, and CPU seconds per model (the latter shows parallel overhead even
/// when other processes share the cores).
std::pair<double, double> throughput(const Model& model, const TrainRecipe& recipe, const ImageSet& train,
                                     const ImageSet& test, int models, int workers, int threads)
{
    std::vector<std::vector<int64_t>> keep;
    for (int j = 0; j < models; ++j)
        keep.push_back(sampleSubset(train.count, 2500, static_cast<uint64_t>(j)));
    const Model start = retrainingStart(model, recipe);
    const double cpu0 = cpuSeconds();
    const auto wall0 = std::chrono::steady_clock::now();
    retrainEach(
        start, recipe, train, test, keep, {workers, threads}, [](size_t, std::vector<double>&&) {},
        CancelToken());
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    return {models / wall, (cpuSeconds() - cpu0) / models};
}

TEST(GroundTruthBench, DISABLED_ParallelThroughput)
{
    const int models = std::getenv("ATTRI_BENCH_MODELS") ? std::atoi(std::getenv("ATTRI_BENCH_MODELS")) : 4;
    ImageSet train, test;
    for (ImageSet* set : {&train, &test}) {
        set->count = set == &train ? 5000 : 500;
        set->channels = 1;
        set->height = 28;
        set->width = 28;
        std::mt19937_64 rng(set == &train ? 1 : 2);
        std::uniform_real_distribution<float> u(0.0f, 1.0f);
        for (int64_t i = 0; i < set->count; ++i) {
            set->labels.push_back(static_cast<int64_t>(i % 10));
            for (int64_t p = 0; p < 784; ++p)
                set->images.push_back(u(rng) * 0.5f + (p % 10 == i % 10 ? 0.5f : 0.0f));
        }
    }
    for (Architecture arch : {Architecture::LogisticRegression, Architecture::Mlp}) {
        const Model model = Model::create(arch, {1, 28, 28}, 10, 0);
        const TrainRecipe recipe = TrainRecipe::standardFor(arch);
        const auto single = throughput(model, recipe, train, test, models, 1, 1);
        const auto parallel = throughput(model, recipe, train, test, models, 2, 1);
        const auto threaded = throughput(model, recipe, train, test, models, 1, 2);
        std::printf("%s: models/s (CPU s/model): 1w×1t %.3f (%.2f), 2w×1t %.3f (%.2f), 1w×2t %.3f (%.2f); "
                    "2w×1t / (2 × 1w×1t) = %.0f%%, 2w×1t / 1w×2t = %.2f\n",
                    toString(arch).c_str(), single.first, single.second, parallel.first, parallel.second,
                    threaded.first, threaded.second, 100.0 * parallel.first / (2.0 * single.first),
                    parallel.first / threaded.first);
    }
}

} // namespace
} // namespace attri
