// Tests of the Torch-free projection generator, the Kronecker coordinate layout and the
// feature options.

#include "common/error.h"
#include "features/feature_options.h"
#include "features/projection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>
#include <vector>

namespace attri {
namespace {

std::vector<float> block(ProjectionKind kind, uint64_t seed, uint64_t stream, int64_t r0, int64_t r1,
                         int64_t c0, int64_t c1)
{
    std::vector<float> out(static_cast<size_t>((r1 - r0) * (c1 - c0)));
    fillProjectionBlock(kind, seed, stream, r0, r1, c0, c1, out.data());
    return out;
}

TEST(ProjectionTest, BlocksEqualEntriesWhateverTheirBoundaries)
{
    for (ProjectionKind kind : {ProjectionKind::Gaussian, ProjectionKind::Rademacher}) {
        const auto big = block(kind, 7, 3, 0, 9, 0, 150);
        // Odd and unaligned starts: column pairs (Gaussian) and 64-column words (Rademacher) split.
        const auto sub = block(kind, 7, 3, 2, 7, 63, 131);
        for (int64_t r = 2; r < 7; ++r) {
            for (int64_t c = 63; c < 131; ++c) {
                const float expected = big[static_cast<size_t>(r * 150 + c)];
                ASSERT_EQ(sub[static_cast<size_t>((r - 2) * 68 + (c - 63))], expected) << r << "," << c;
                ASSERT_EQ(projectionEntry(kind, 7, 3, r, c), expected);
            }
        }
    }
}

TEST(ProjectionTest, EntriesDependOnSeedStreamRowAndColumn)
{
    const float g = gaussianEntry(1, 2, 3, 4);
    EXPECT_EQ(gaussianEntry(1, 2, 3, 4), g);
    EXPECT_NE(gaussianEntry(2, 2, 3, 4), g);
    EXPECT_NE(gaussianEntry(1, 3, 3, 4), g);
    EXPECT_NE(gaussianEntry(1, 2, 4, 4), g);
    EXPECT_NE(gaussianEntry(1, 2, 3, 5), g);
    // Rademacher rows of 256 columns differ between seeds and streams.
    EXPECT_NE(block(ProjectionKind::Rademacher, 1, 0, 0, 1, 0, 256),
              block(ProjectionKind::Rademacher, 2, 0, 0, 1, 0, 256));
    EXPECT_NE(block(ProjectionKind::Rademacher, 1, 0, 0, 1, 0, 256),
              block(ProjectionKind::Rademacher, 1, 1, 0, 1, 0, 256));
    EXPECT_NE(projectionHash(0, 0, 0, 1), projectionHash(0, 0, 1, 0));
    EXPECT_NE(projectionHash(0, 1, 0, 0), projectionHash(1, 0, 0, 0));
}

TEST(ProjectionTest, GaussianEntriesAreStandardNormal)
{
    const int64_t rows = 200, cols = 1000;
    const auto v = block(ProjectionKind::Gaussian, 11, 0, 0, rows, 0, cols);
    double sum = 0, sq = 0, fourth = 0, adjacent = 0, beyond3 = 0;
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
            const double x = v[static_cast<size_t>(r * cols + c)];
            sum += x;
            sq += x * x;
            fourth += x * x * x * x;
            beyond3 += std::abs(x) > 3.0 ? 1.0 : 0.0;
            if (c % 2 == 0) // the cosine and sine of one Box–Muller pair
                adjacent += x * v[static_cast<size_t>(r * cols + c + 1)];
        }
    }
    const double n = double(rows * cols);
    EXPECT_NEAR(sum / n, 0.0, 0.01);
    EXPECT_NEAR(sq / n, 1.0, 0.015);
    EXPECT_NEAR(fourth / n, 3.0, 0.1);           // normal kurtosis
    EXPECT_NEAR(beyond3 / n, 0.0027, 0.0006);    // P(|x| > 3)
    EXPECT_NEAR(adjacent / (n / 2), 0.0, 0.015); // pair members uncorrelated
}

TEST(ProjectionTest, RademacherEntriesAreBalancedSigns)
{
    const auto v = block(ProjectionKind::Rademacher, 5, 9, 0, 100, 0, 1000);
    double sum = 0, lag = 0;
    for (size_t i = 0; i < v.size(); ++i) {
        ASSERT_TRUE(v[i] == 1.0f || v[i] == -1.0f);
        sum += v[i];
        if (i + 1 < v.size())
            lag += v[i] * v[i + 1];
    }
    EXPECT_NEAR(sum / double(v.size()), 0.0, 0.015);
    EXPECT_NEAR(lag / double(v.size()), 0.0, 0.015);
}

TEST(ProjectionTest, NoneHasNoMatrixAndRangesAreChecked)
{
    float x = 0;
    EXPECT_THROW(projectionEntry(ProjectionKind::None, 0, 0, 0, 0), ConfigError);
    EXPECT_THROW(fillProjectionBlock(ProjectionKind::None, 0, 0, 0, 1, 0, 1, &x), ConfigError);
    EXPECT_THROW(fillProjectionBlock(ProjectionKind::Gaussian, 0, 0, 2, 1, 0, 1, &x), ConfigError);
    // Kronecker factors are Gaussian.
    EXPECT_EQ(projectionEntry(ProjectionKind::Kronecker, 3, 4, 5, 6), gaussianEntry(3, 4, 5, 6));
}

TEST(ProjectionTest, StreamsAreDistinct)
{
    std::set<uint64_t> streams{kDenseProjectionStream};
    for (size_t l = 0; l < 50; ++l) {
        EXPECT_TRUE(streams.insert(kroneckerStream(l, false)).second);
        EXPECT_TRUE(streams.insert(kroneckerStream(l, true)).second);
    }
}

/// All coordinates sorted by (shell, layer, a, b): the definition, by brute force.
std::vector<KronCoordinate> bruteForceOrder(const std::vector<KronLayerDims>& dims)
{
    std::vector<std::tuple<int64_t, int32_t, int64_t, int64_t>> all;
    for (size_t l = 0; l < dims.size(); ++l) {
        for (int64_t a = 0; a < dims[l].out; ++a) {
            for (int64_t b = 0; b < dims[l].in; ++b)
                all.emplace_back(std::max(a, b), static_cast<int32_t>(l), a, b);
        }
    }
    std::sort(all.begin(), all.end());
    std::vector<KronCoordinate> out;
    for (const auto& [s, l, a, b] : all)
        out.push_back({l, a, b});
    return out;
}

TEST(ProjectionTest, KroneckerLayoutOrdersByShellLayerAndIndex)
{
    const std::vector<std::vector<KronLayerDims>> cases = {
        {{10, 65}},
        {{128, 785}, {64, 129}, {10, 65}},
        {{3, 1}, {1, 7}, {5, 5}},
        {{16, 10}, {32, 145}, {64, 289}, {2, 65}},
    };
    for (const auto& dims : cases) {
        const auto expected = bruteForceOrder(dims);
        const int64_t capacity = kroneckerCapacity(dims);
        ASSERT_EQ(capacity, static_cast<int64_t>(expected.size()));
        for (int64_t k : {int64_t(0), int64_t(1), int64_t(7), std::min<int64_t>(capacity, 200), capacity}) {
            const KroneckerLayout layout = kroneckerLayout(dims, k);
            ASSERT_EQ(static_cast<int64_t>(layout.coordinates.size()), k);
            std::vector<int64_t> outRows(dims.size(), 0), inRows(dims.size(), 0);
            for (int64_t j = 0; j < k; ++j) {
                const auto& got = layout.coordinates[static_cast<size_t>(j)];
                const auto& want = expected[static_cast<size_t>(j)];
                ASSERT_EQ(got.layer, want.layer) << "k=" << k << " j=" << j;
                ASSERT_EQ(got.a, want.a) << "k=" << k << " j=" << j;
                ASSERT_EQ(got.b, want.b) << "k=" << k << " j=" << j;
                outRows[static_cast<size_t>(got.layer)] =
                    std::max(outRows[static_cast<size_t>(got.layer)], got.a + 1);
                inRows[static_cast<size_t>(got.layer)] =
                    std::max(inRows[static_cast<size_t>(got.layer)], got.b + 1);
            }
            EXPECT_EQ(layout.outRows, outRows);
            EXPECT_EQ(layout.inRows, inRows);
        }
    }
}

TEST(ProjectionTest, KroneckerPrefixesAreClippedSubBlocks)
{
    const std::vector<KronLayerDims> dims = {{4, 9}, {6, 3}, {2, 2}};
    const auto all = kroneckerLayout(dims, kroneckerCapacity(dims)).coordinates;
    for (int64_t s = 0; s <= 9; ++s) {
        int64_t size = 0;
        std::set<std::tuple<int32_t, int64_t, int64_t>> expected;
        for (size_t l = 0; l < dims.size(); ++l) {
            size += std::min(s, dims[l].out) * std::min(s, dims[l].in);
            for (int64_t a = 0; a < std::min(s, dims[l].out); ++a)
                for (int64_t b = 0; b < std::min(s, dims[l].in); ++b)
                    expected.insert({static_cast<int32_t>(l), a, b});
        }
        std::set<std::tuple<int32_t, int64_t, int64_t>> got;
        for (int64_t j = 0; j < size; ++j)
            got.insert({all[j].layer, all[j].a, all[j].b});
        EXPECT_EQ(got, expected) << "s=" << s;
    }
}

TEST(ProjectionTest, KroneckerLayoutRefusesTooLargeK)
{
    const std::vector<KronLayerDims> dims = {{3, 5}, {2, 4}};
    EXPECT_NO_THROW(kroneckerLayout(dims, 23));
    try {
        kroneckerLayout(dims, 24);
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("k=24"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("23"), std::string::npos) << e.what();
    }
    EXPECT_THROW(kroneckerLayout(dims, -1), ConfigError);
}

TEST(FeatureOptionsTest, NamesRoundTripAndUnknownNamesAreListed)
{
    for (ProjectionKind p : {ProjectionKind::None, ProjectionKind::Gaussian, ProjectionKind::Rademacher,
                             ProjectionKind::Kronecker})
        EXPECT_EQ(parseProjectionKind(toString(p)), p);
    EXPECT_EQ(parseProjectionKind("Kronecker"), ProjectionKind::Kronecker);
    for (FeatureTarget t : {FeatureTarget::Loss, FeatureTarget::Margin})
        EXPECT_EQ(parseFeatureTarget(toString(t)), t);
    try {
        parseProjectionKind("sparse");
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("sparse"), std::string::npos);
        EXPECT_NE(what.find("rademacher"), std::string::npos);
    }
    EXPECT_THROW(parseFeatureTarget("logit"), ConfigError);
}

TEST(FeatureOptionsTest, ValidateNamesTheField)
{
    FeatureOptions ok;
    EXPECT_NO_THROW(ok.validate());
    const auto message = [](const FeatureOptions& o) {
        try {
            o.validate();
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    FeatureOptions o = ok;
    o.kMax = 0;
    EXPECT_NE(message(o).find("kMax"), std::string::npos);
    o = ok;
    o.batchSize = 0;
    EXPECT_NE(message(o).find("batchSize"), std::string::npos);
    o = ok;
    o.layers = " , ";
    EXPECT_NE(message(o).find("layers"), std::string::npos);
}

} // namespace
} // namespace attri
