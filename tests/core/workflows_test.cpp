// The workflows (core/workflows) that the CLI and the GUI both call: what each stores and returns,
// on a small demo run.

#include "attribution/attribution_session.h"
#include "common/error.h"
#include "common/row_matrix.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "store/attribution_store.h"
#include "store/experiment_file.h"
#include "store/h5_file.h"
#include "workflows/demo.h"
#include "workflows/lds_tables.h"
#include "workflows/recommend.h"
#include "workflows/top_k_overlap.h"
#include "tuning/top_k.h"

#include "support/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <set>

using namespace attri;

namespace {

DemoOptions smallDemo(const std::string& path)
{
    DemoOptions o;
    o.path = path;
    o.trainSize = 300;
    o.testSize = 30;
    o.ks = {16, 32};
    o.sensitivityTests = 10;
    return o;
}

} // namespace

// The demo trains, attributes with TRAK at every k and stores the default rule's recommendation at
// the largest k; recommending again on the file gives the same λ. Ground truth then adds its
// tables and the recommendation's evidence, and a later LDS run without options reads the stored
// ground truth back instead of retraining with the defaults.
TEST(Workflows, DemoThenGroundTruthThenRecommendationWithEvidence)
{
    test::TempDir dir;
    const std::string path = dir.file("sub/demo.h5"); // the demo creates the folder
    NullProgress progress;
    CancelToken cancel;
    const DemoResult demo = runDemo(smallDemo(path), progress, cancel);
    EXPECT_EQ(demo.attribution.method, Method::Trak);
    ASSERT_EQ(demo.attribution.spectra.size() % 2, 0u); // every checkpoint at k = 16 and 32
    const std::optional<StoredMethod> stored = storedMethod(path, "trak");
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->ks, (std::vector<int64_t>{16, 32}));
    const RecommendationRecord& record = demo.recommendation.record;
    EXPECT_EQ(record.method, "trak");
    EXPECT_EQ(record.k, 32);
    EXPECT_EQ(record.rule, "path-or-prior");
    EXPECT_GT(record.lambda, 0.0);
    EXPECT_FALSE(demo.recommendation.evidence.has_value()); // no ground truth yet
    {
        H5File file(path, H5File::Mode::ReadOnly);
        const auto recs = listRecommendations(file);
        ASSERT_EQ(recs.size(), 1u);
        EXPECT_EQ(recs[0].lambda, record.lambda);
    }

    RecommendRequest again;
    again.method = "trak";
    again.k = 32;
    const RecommendResult second = recommendWithEvidence(path, again, progress, cancel);
    EXPECT_EQ(second.recommendation.lambda, record.lambda);

    LdsTablesRequest lds;
    lds.subsets = 4;
    const LdsTablesResult first = computeLdsTables(path, lds, progress, cancel);
    ASSERT_TRUE(first.truth.has_value());
    EXPECT_EQ(first.truth->subsets, 4);
    ASSERT_EQ(first.tables.size(), 1u);
    EXPECT_EQ(first.tables[0].method, "trak");
    EXPECT_EQ(first.tables[0].quantity, "lds");
    EXPECT_EQ(first.tables[0].ks, (std::vector<int64_t>{16, 32}));
    const LdsBest best = bestOfColumn(first.tables[0], 1);
    EXPECT_GE(best.row, 0);
    EXPECT_TRUE(best.hasLambda);
    EXPECT_EQ(best.k, 32);

    const LdsTablesResult reread = computeLdsTables(path, LdsTablesRequest{}, progress, cancel);
    EXPECT_EQ(reread.options.subsets, 4); // the stored ground truth's, not the default 50
    EXPECT_EQ(reread.truth->seconds, first.truth->seconds); // read back, not retrained
    EXPECT_TRUE(reread.truth->testLoss.isApprox(first.truth->testLoss, 0.0));

    const RecommendResult withEvidence = recommendWithEvidence(path, again, progress, cancel);
    ASSERT_TRUE(withEvidence.evidence.has_value());
    ASSERT_TRUE(withEvidence.truth.has_value());
    EXPECT_EQ(withEvidence.truth->subsets, 4);
    EXPECT_EQ(withEvidence.recommendation.lambda, record.lambda);
    EXPECT_EQ(withEvidence.record.ldsAtRecommended, withEvidence.evidence->atLambda.mean);
    EXPECT_LE(withEvidence.evidence->atLambda.mean, withEvidence.evidence->bestLds + 1e-12);
}

// Ground truth retrained elsewhere (e.g. by PyTorch) is imported instead of retrained: the same
// masks and losses give the same LDS tables as the app's own, later runs read it back, it cannot
// be extended here, and a file that does not fit the experiment is refused naming the file and
// what is wrong.
TEST(Workflows, ImportedGroundTruthScoresLikeTheAppsOwn)
{
    test::TempDir dir;
    const std::string own = dir.file("own.h5"), imported = dir.file("imported.h5");
    NullProgress progress;
    CancelToken cancel;
    runDemo(smallDemo(own), progress, cancel);
    std::filesystem::copy_file(own, imported);
    LdsTablesRequest lds;
    lds.subsets = 4;
    const LdsTablesResult reference = computeLdsTables(own, lds, progress, cancel);
    const GroundTruth& truth = *reference.truth;

    // The external file as a PyTorch script writes it: int masks, float losses, labels, attributes.
    std::vector<int64_t> labels; // the demo's, in its order, as the experiment reloads them
    {
        H5File f(own, H5File::Mode::ReadOnly);
        labels = reloadData(readDataRecord(f)).train.labels;
    }
    auto writeExternal = [&](const std::string& path, const std::function<void(H5File&)>& spoil) {
        H5File f(path, H5File::Mode::Truncate);
        std::vector<int64_t> masks(truth.masks.begin(), truth.masks.end());
        f.writeInt64("/masks", {truth.subsets, truth.trainCount}, masks.data());
        const RowMatrixD loss(truth.testLoss);
        f.writeDoubles("/test_loss", {truth.subsets, truth.testCount}, loss.data());
        f.writeInt64("/train_labels", {static_cast<int64_t>(labels.size())}, labels.data());
        f.setAttr("/", "recipe", "PyTorch: sgd lr 0.05");
        f.setAttr("/", "seconds", 12.5);
        if (spoil)
            spoil(f);
    };
    const std::string external = dir.file("gt.h5");
    writeExternal(external, {});

    LdsTablesRequest fromFile;
    fromFile.importFrom = external;
    const LdsTablesResult result = computeLdsTables(imported, fromFile, progress, cancel);
    ASSERT_TRUE(result.truth.has_value());
    EXPECT_FALSE(result.truth->importedFrom.empty());
    EXPECT_EQ(result.truth->recipeSummary, "PyTorch: sgd lr 0.05");
    EXPECT_EQ(result.truth->seconds, 12.5);
    EXPECT_EQ(result.truth->options.subsets, 4);
    EXPECT_NEAR(result.truth->options.alpha, 0.5, 0.01); // from the masks: no alpha attribute
    ASSERT_EQ(result.tables.size(), reference.tables.size());
    for (size_t t = 0; t < result.tables.size(); ++t) {
        const Eigen::ArrayXXd a = result.tables[t].values.array(), b = reference.tables[t].values.array();
        ASSERT_EQ(a.rows(), b.rows());
        ASSERT_EQ(a.cols(), b.cols());
        EXPECT_TRUE((a == b || (a.isNaN() && b.isNaN())).all()) << result.tables[t].method;
        EXPECT_GT((a == b).count(), 0);
    }

    // Read back without options; more subsets are refused (its models cannot be retrained here).
    const LdsTablesResult reread = computeLdsTables(imported, LdsTablesRequest{}, progress, cancel);
    EXPECT_EQ(reread.truth->importedFrom, result.truth->importedFrom);
    EXPECT_TRUE(reread.truth->testLoss.isApprox(truth.testLoss, 0.0));
    LdsTablesRequest more;
    more.subsets = 8;
    try {
        computeLdsTables(imported, more, progress, cancel);
        ADD_FAILURE() << "extending imported ground truth was not refused";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("imported from"), std::string::npos) << e.what();
    }
    // A second import keeps the first unless replaced.
    EXPECT_THROW(computeLdsTables(imported, fromFile, progress, cancel), ConfigError);
    fromFile.replace = true;
    EXPECT_NO_THROW(computeLdsTables(imported, fromFile, progress, cancel));
    // Import options that do not apply are refused before any work.
    LdsTablesRequest mixed = fromFile;
    mixed.subsets = 4;
    EXPECT_THROW(computeLdsTables(imported, mixed, progress, cancel), ConfigError);

    auto expectRefused = [&](const std::string& name, const std::function<void(H5File&)>& spoil,
                             const std::string& says) {
        const std::string path = dir.file(name);
        writeExternal(path, spoil);
        LdsTablesRequest r;
        r.importFrom = path;
        r.replace = true;
        try {
            computeLdsTables(imported, r, progress, cancel);
            ADD_FAILURE() << name << ": not refused";
        } catch (const FormatError& e) {
            const std::string msg = e.what();
            EXPECT_NE(msg.find(path), std::string::npos) << msg;
            EXPECT_NE(msg.find(says), std::string::npos) << msg;
        }
    };
    expectRefused("two.h5", [&](H5File& f) {
        std::vector<int64_t> masks(truth.masks.begin(), truth.masks.end());
        masks[3] = 2;
        f.writeInt64("/masks", {truth.subsets, truth.trainCount}, masks.data());
    }, "masks[0, 3] is 2");
    expectRefused("short.h5", [&](H5File& f) {
        std::vector<int64_t> masks(static_cast<size_t>(truth.subsets * (truth.trainCount - 1)), 1);
        f.writeInt64("/masks", {truth.subsets, truth.trainCount - 1}, masks.data());
    }, "training points");
    expectRefused("nan.h5", [&](H5File& f) {
        RowMatrixD loss(truth.testLoss);
        loss(1, 2) = std::nan("");
        f.writeDoubles("/test_loss", {truth.subsets, truth.testCount}, loss.data());
    }, "test_loss[1, 2]");
    expectRefused("labels.h5", [&](H5File& f) {
        std::vector<int64_t> other = labels;
        std::swap(other[0], other[std::find_if(other.begin(), other.end(), [&](int64_t v) { return v != other[0]; })
                                    - other.begin()]);
        f.writeInt64("/train_labels", {static_cast<int64_t>(other.size())}, other.data());
    }, "train_labels[0]");
}

// A request is checked before any work: a method without λ, a bad bootstrap count, --path-from with
// a rule that reads no path.
TEST(Workflows, RecommendRequestsAreCheckedBeforeAnyWork)
{
    NullProgress progress;
    CancelToken cancel;
    RecommendRequest r;
    r.method = "tracin";
    EXPECT_THROW(recommendWithEvidence("/nonexistent/x.h5", r, progress, cancel), ConfigError);
    r.method = "if";
    r.bootstrapResamples = 5;
    EXPECT_THROW(r.validate(), ConfigError);
    r.bootstrapResamples = 200;
    r.pathFrom = "other.h5";
    r.selector.rule = SelectorRule::DynamicsPrior;
    EXPECT_THROW(r.validate(), ConfigError);
    r.selector.rule = SelectorRule::PathMatch;
    EXPECT_NO_THROW(r.validate());
    DemoOptions d;
    d.ks.clear();
    EXPECT_THROW(d.validate(), ConfigError);
}

// The top-N overlap: the reference cell overlaps fully; every cell is the share of the reference
// set found in that cell's own top N (recomputed here from the session's scores); each
// proponent's count of cells agrees with the cells; and bad requests name what is wrong.
TEST(Workflows, TopKOverlapComparesEachSettingWithTheReference)
{
    test::TempDir dir;
    const std::string path = dir.file("demo.h5");
    NullProgress progress;
    CancelToken cancel;
    runDemo(smallDemo(path), progress, cancel);
    TopKOverlapRequest request;
    request.test = 4;
    request.count = 6;
    request.grid = LambdaGrid::parse("1e-3,0.1,10", true);
    request.referenceRelativeLambda = 0.1;
    request.referenceK = 32;
    const TopKOverlap o = topKOverlap(path, "trak", request, progress, cancel);
    ASSERT_EQ(o.ks, (std::vector<int64_t>{16, 32}));
    ASSERT_EQ(o.overlap.rows(), 3);
    ASSERT_EQ(o.overlap.cols(), 2);
    ASSERT_EQ(o.reference.size(), 6u);
    EXPECT_EQ(o.overlap(1, 1), 1.0);

    std::set<int64_t> reference;
    for (const RankedPoint& p : o.reference)
        reference.insert(p.index);
    std::vector<int64_t> kept(o.reference.size(), 0);
    double total = 0.0;
    for (Eigen::Index c = 0; c < 2; ++c) {
        auto session = AttributionSession::open(path, "trak", o.ks[static_cast<size_t>(c)], progress, cancel);
        for (Eigen::Index r = 0; r < 3; ++r) {
            const double lambda = o.relativeLambdas[static_cast<size_t>(r)] * session->meanEigenvalue();
            const TopK top = topK(session->scoresFor(request.test, lambda), request.count);
            int64_t shared = 0;
            for (const RankedPoint& p : top.proponents) {
                if (!reference.count(p.index))
                    continue;
                ++shared;
                for (size_t i = 0; i < o.reference.size(); ++i)
                    kept[i] += o.reference[i].index == p.index;
            }
            EXPECT_EQ(o.overlap(r, c), static_cast<double>(shared) / 6.0) << "row " << r << " k " << o.ks[c];
            total += o.overlap(r, c);
        }
    }
    EXPECT_EQ(o.cellsKept, kept);
    int64_t keptTotal = 0;
    for (int64_t v : o.cellsKept)
        keptTotal += v;
    EXPECT_DOUBLE_EQ(static_cast<double>(keptTotal), total * 6.0);

    TopKOverlapRequest bad = request;
    bad.referenceK = 24;
    EXPECT_THROW(topKOverlap(path, "trak", bad, progress, cancel), ConfigError);
    bad = request;
    bad.test = 30; // the small demo has 30 test points
    EXPECT_THROW(topKOverlap(path, "trak", bad, progress, cancel), ConfigError);
    bad = request;
    bad.count = 0;
    EXPECT_THROW(topKOverlap(path, "trak", bad, progress, cancel), ConfigError);
    bad = request;
    bad.grid.relative = false;
    EXPECT_THROW(topKOverlap(path, "trak", bad, progress, cancel), ConfigError);
}
