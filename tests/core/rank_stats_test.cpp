// Rank statistics (eval/rank_stats) against hand-computed values and a simple sort.

#include "common/error.h"
#include "eval/rank_stats.h"

#include "support/test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace attri;
using attri::test::randomMatrix;

TEST(RankStats, AverageRanksWithTies)
{
    const std::vector<float> v = {3, 1, 4, 1, 5, 9, 2, 6};
    const std::vector<double> want = {4, 1.5, 5, 1.5, 6, 8, 3, 7};
    EXPECT_EQ(averageRanks(v.data(), 8), want);
    EXPECT_EQ(averageRanks(std::vector<double>{3, 1, 4, 1, 5, 9, 2, 6}), want);
    const std::vector<float> same = {2, 2, 2};
    EXPECT_EQ(averageRanks(same.data(), 3), (std::vector<double>{2, 2, 2}));
    // −0 and +0 tie.
    const std::vector<float> zeros = {0.0f, -0.0f, -1.0f};
    EXPECT_EQ(averageRanks(zeros.data(), 3), (std::vector<double>{2.5, 2.5, 1}));
    EXPECT_EQ(averageRanks(std::vector<double>{0.0, -0.0, -1.0}), (std::vector<double>{2.5, 2.5, 1}));
}

TEST(RankStats, LargeInputsRankLikeTheSimpleSort)
{
    // ≥ 256 values take the radix-sort path; compare with the comparison sort on doubles.
    std::mt19937 rng(9);
    std::uniform_int_distribution<int> coarse(-40, 40); // many ties, negative and positive
    std::vector<float> v(3000);
    std::vector<double> vd(3000);
    for (size_t i = 0; i < v.size(); ++i) {
        v[i] =
            i % 7 == 0 ? 1e-30f * static_cast<float>(coarse(rng)) : 0.25f * static_cast<float>(coarse(rng));
        vd[i] = v[i];
    }
    v[5] = -0.0f;
    vd[5] = 0.0;
    vd[6] = vd[6] == 0.0 ? -0.0 : vd[6]; // a −0 among the doubles' zeros too
    EXPECT_EQ(averageRanks(v.data(), 3000), averageRanks(vd));
    EXPECT_EQ(topIndices(v.data(), 3000, 50).size(), 50u);
}

TEST(RankStats, SpearmanHandComputed)
{
    // a = (1, 2, 2, 3) has ranks (1, 2.5, 2.5, 4); b ranks (1, 2, 3, 4).
    // Centred: (−1.5, 0, 0, 1.5) · (−1.5, −0.5, 0.5, 1.5) = 4.5; norms² 4.5 and 5 → √0.9.
    const std::vector<double> a = {1, 2, 2, 3};
    const std::vector<double> b = {10, 20, 30, 40};
    EXPECT_NEAR(spearman(a, b), std::sqrt(0.9), 1e-12);
    const std::vector<float> af = {1, 2, 2, 3}, bf = {10, 20, 30, 40};
    EXPECT_NEAR(spearman(af.data(), bf.data(), 4), std::sqrt(0.9), 1e-12);
    // Monotone transforms give 1, reversal −1.
    const std::vector<double> x = {0.3, -1.0, 2.5, 0.1, 7.0};
    std::vector<double> cubed, negated;
    for (double v : x) {
        cubed.push_back(v * v * v);
        negated.push_back(-v);
    }
    EXPECT_NEAR(spearman(x, cubed), 1.0, 1e-12);
    EXPECT_NEAR(spearman(x, negated), -1.0, 1e-12);
    // (1,2,3,4,5) vs (2,1,4,3,5): d² = 1+1+1+1+0 = 4 → 1 − 6·4/(5·24) = 0.8.
    EXPECT_NEAR(spearman(std::vector<double>{1, 2, 3, 4, 5}, std::vector<double>{2, 1, 4, 3, 5}), 0.8, 1e-12);
    // A constant side is undefined: NaN, callers skip it.
    EXPECT_TRUE(std::isnan(spearman(x, std::vector<double>(5, 1.0))));
    EXPECT_TRUE(std::isnan(spearman(std::vector<double>{1.0}, std::vector<double>{2.0})));
    EXPECT_THROW(spearman(x, std::vector<double>{1, 2}), ConfigError);
}

TEST(RankStats, PearsonHandComputed)
{
    // x = (1,2,3), y = (2,4,7): centred (−1,0,1)·(−2.33..,−0.33..,2.66..) = 5; ‖x‖²=2, ‖y‖²=12.666…
    EXPECT_NEAR(pearson({1, 2, 3}, {2, 4, 7}), 5.0 / std::sqrt(2.0 * 38.0 / 3.0), 1e-12);
    EXPECT_TRUE(std::isnan(pearson({1, 2, 3}, {4, 4, 4})));
}

TEST(RankStats, NormalizedRanksGiveSpearmanAsDotProduct)
{
    const RowMatrixF a = randomMatrix(1, 200, 1);
    RowMatrixF b = a + 0.7f * randomMatrix(1, 200, 2);
    b(0, 5) = b(0, 6); // a tie
    std::vector<float> ra(200), rb(200);
    std::vector<uint64_t> scratch;
    ASSERT_TRUE(normalizedRanks(a.data(), 200, ra.data(), scratch));
    ASSERT_TRUE(normalizedRanks(b.data(), 200, rb.data(), scratch));
    double dot = 0;
    for (int i = 0; i < 200; ++i)
        dot += double(ra[i]) * rb[i];
    EXPECT_NEAR(dot, spearman(a.data(), b.data(), 200), 1e-6);
    const std::vector<float> constant(10, 3.0f);
    std::vector<float> out(10, 1.0f);
    EXPECT_FALSE(normalizedRanks(constant.data(), 10, out.data(), scratch));
    EXPECT_EQ(out, std::vector<float>(10, 0.0f));
}

TEST(RankStats, TopIndicesAndJaccard)
{
    const std::vector<float> a = {5, 4, 3, 2, 1};
    const std::vector<float> b = {1, 4, 3, 5, 2};
    EXPECT_EQ(topIndices(a.data(), 5, 3), (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(topIndices(b.data(), 5, 3), (std::vector<int64_t>{3, 1, 2}));
    // {0,1,2} vs {1,2,3}: 2 common of 4.
    EXPECT_DOUBLE_EQ(topKJaccard(a.data(), b.data(), 5, 3), 0.5);
    EXPECT_DOUBLE_EQ(topKJaccard(a.data(), a.data(), 5, 3), 1.0);
    EXPECT_DOUBLE_EQ(topKJaccard(a.data(), b.data(), 5, 5), 1.0);
    EXPECT_DOUBLE_EQ(topKJaccard(a.data(), b.data(), 5, 1), 0.0); // {0} vs {3}
    EXPECT_DOUBLE_EQ(jaccard({1, 2, 2, 3}, {3, 4}), 0.25);
    EXPECT_DOUBLE_EQ(jaccard({}, {}), 1.0);
    // Ties at the boundary: the smaller index wins.
    const std::vector<float> tied = {1, 2, 2, 2, 0};
    EXPECT_EQ(topIndices(tied.data(), 5, 2), (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(topIndices(tied.data(), 5, 10).size(), 5u);
}

