// K-FAC and EK-FAC tests. References are independent of the factor code: per-sample gradients
// from the per-sample autograd loop, dense Fishers and solves written here, closed-form logistic
// regression gradients, and a PyTorch/NumPy fixture (tests/fixtures/make_kfac_reference.py).

#include "attribution/attribution_session.h"
#include "attribution/explicit_curvature.h"
#include "attribution/kronecker_curvature.h"
#include "attribution/methods.h"
#include "attribution/spectral_cache.h"
#include "common/error.h"
#include "data/data_loader.h"
#include "data/image_set.h"
#include "features/featurizer.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "store/attribution_store.h"
#include "store/experiment_file.h"
#include "store/h5_file.h"
#include "support/test_support.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

using namespace attri;

namespace {

/// Per-sample loss gradients of the selected layers by one autograd call per sample (the
/// featurizer's generic path, which never uses the layers' inputs and output gradients).
RowMatrixF loopGradients(const Model& model, const ImageSet& set, const std::string& layers)
{
    FeatureOptions o;
    o.projection = ProjectionKind::None;
    o.layers = layers;
    o.perSampleLoop = true;
    NullProgress progress;
    return featurizeToMatrix(model, set, o, nullptr, nullptr, progress, CancelToken());
}

Eigen::MatrixXd empiricalFisher(const RowMatrixF& g)
{
    const Eigen::MatrixXd gd = g.cast<double>();
    return gd.transpose() * gd / static_cast<double>(g.rows());
}

double relativeError(const Eigen::MatrixXd& actual, const Eigen::MatrixXd& expected)
{
    return (actual - expected).cwiseAbs().maxCoeff() / std::max(1e-300, expected.cwiseAbs().maxCoeff());
}

/// Q_G ⊗ Q_A of every layer, block-diagonal, with rows in the features' order (weight row-major,
/// then bias) and columns in the rotated order (o·in + i per layer).
Eigen::MatrixXd kroneckerBasis(const KroneckerCurvature& c)
{
    const int64_t p = c.dimension();
    Eigen::MatrixXd q = Eigen::MatrixXd::Zero(p, p);
    int64_t offset = 0;
    for (const KroneckerLayer& l : c.layers()) {
        const int64_t iw = l.bias ? l.in - 1 : l.in;
        for (int64_t o = 0; o < l.out; ++o)
            for (int64_t i = 0; i < l.in; ++i) {
                const int64_t row = offset + (i < iw ? o * iw + i : l.out * iw + o);
                for (int64_t o2 = 0; o2 < l.out; ++o2)
                    for (int64_t i2 = 0; i2 < l.in; ++i2)
                        q(row, offset + o2 * l.in + i2) =
                            l.gradientEigenvectors(o, o2) * l.activationEigenvectors(i, i2);
            }
        offset += l.out * l.in;
    }
    return q;
}

std::shared_ptr<const KroneckerCurvature> fitEmpirical(const Model& model, const ImageSet& train,
                                                      const std::string& layers, bool corrected,
                                                      int64_t batch = 250)
{
    KroneckerOptions o;
    o.layers = layers;
    o.fisher = FisherKind::Empirical;
    o.batchSize = batch;
    NullProgress progress;
    return KroneckerCurvature::fit(model, train, o, corrected, progress, CancelToken());
}

struct KfacReference {
    int64_t n = 0, m = 0, c = 0, h = 0, w = 0, k = 0;
    ImageSet train, test;
    std::vector<int64_t> sampled;
    uint64_t labelSeed = 0;
    /// (variant, fisher, λ) → scores (m × n); and the mean eigenvalue
    std::map<std::tuple<std::string, std::string, double>, std::pair<Eigen::MatrixXd, double>> scores;
};

ImageSet readSet(std::istream& in, int64_t count, int64_t c, int64_t h, int64_t w)
{
    ImageSet set;
    set.count = count;
    set.channels = c;
    set.height = h;
    set.width = w;
    set.images.resize(static_cast<size_t>(count * c * h * w));
    for (auto& v : set.images)
        in >> v;
    return set;
}

KfacReference loadKfacReference()
{
    std::ifstream in(test::fixture("kfac_reference.txt"));
    if (!in)
        throw std::runtime_error("missing fixture kfac_reference.txt (run tests/fixtures/make_kfac_reference.py)");
    KfacReference ref;
    std::string word;
    while (in >> word) {
        if (word[0] == '#') {
            std::getline(in, word);
        } else if (word == "sizes") {
            in >> ref.n >> ref.m >> ref.c >> ref.h >> ref.w >> ref.k;
        } else if (word == "train_x") {
            ref.train = readSet(in, ref.n, ref.c, ref.h, ref.w);
        } else if (word == "test_x") {
            ref.test = readSet(in, ref.m, ref.c, ref.h, ref.w);
        } else if (word == "train_y" || word == "test_y") {
            ImageSet& set = word == "train_y" ? ref.train : ref.test;
            set.labels.resize(static_cast<size_t>(set.count));
            for (auto& y : set.labels)
                in >> y;
        } else if (word == "sampled_y") {
            in >> ref.labelSeed;
            ref.sampled.resize(static_cast<size_t>(ref.n));
            for (auto& y : ref.sampled)
                in >> y;
        } else if (word == "scores") {
            std::string variant, fisher;
            double lambda = 0, mean = 0;
            in >> variant >> fisher >> lambda >> mean;
            Eigen::MatrixXd s(ref.m, ref.n);
            for (int64_t r = 0; r < ref.m; ++r)
                for (int64_t c = 0; c < ref.n; ++c)
                    in >> s(r, c);
            ref.scores[{variant, fisher, lambda}] = {s, mean};
        } else {
            throw std::runtime_error("unexpected word in kfac_reference.txt: " + word);
        }
    }
    return ref;
}

Model referenceModel(const KfacReference& ref)
{
    Model model = Model::importTorchScript(test::fixture("kfac_ref.pt"));
    model.checkCompatible(InputShape{ref.c, ref.h, ref.w}, static_cast<int>(ref.k));
    return model;
}

ImageSet tinyImages(int64_t n, uint64_t seed)
{
    return test::syntheticImages(n, InputShape{1, 2, 3}, 3, seed, test::Pixels::Gaussian);
}

} // namespace

TEST(Kfac, SingleSampleEqualsTheLayersFisher)
{
    // One training point: A = a aᵀ and G = δ δᵀ, so G ⊗ A = g gᵀ exactly, and EK-FAC's one
    // nonzero corrected eigenvalue is ‖g‖² along g.
    const Model lr = Model::create(Architecture::LogisticRegression, InputShape{1, 2, 3}, 3, 4);
    const KfacReference ref = loadKfacReference();
    const Model cnn = referenceModel(ref);
    struct Case {
        const Model* model;
        ImageSet set;
        std::string layers;
    };
    for (const Case& c : {Case{&lr, tinyImages(1, 11), "all"}, Case{&cnn, ref.train.select({5}), "3"}}) {
        const RowMatrixF g = loopGradients(*c.model, c.set, c.layers);
        const Eigen::MatrixXd fisher = empiricalFisher(g);
        ASSERT_GT(fisher.norm(), 0.0);
        const auto curvature = fitEmpirical(*c.model, c.set, c.layers, true);
        ASSERT_EQ(curvature->dimension(), g.cols());
        EXPECT_LT(relativeError(curvature->dense(false), fisher), 1e-5) << c.layers;
        EXPECT_LT(relativeError(curvature->dense(true), fisher), 1e-5) << c.layers;
    }
}

TEST(Kfac, EkfacDiagonalInItsEigenbasisIsTheFishersDiagonal)
{
    // Linear and Conv2d layers, twelve points: K-FAC is only an approximation here, but EK-FAC's
    // eigenvalues are by definition the Fisher's diagonal in the Kronecker eigenbasis.
    const KfacReference ref = loadKfacReference();
    const Model model = referenceModel(ref);
    const RowMatrixF g = loopGradients(model, ref.train, "all");
    const auto curvature = fitEmpirical(model, ref.train, "all", true, 5);
    ASSERT_EQ(curvature->layers().size(), 2u);
    EXPECT_EQ(curvature->layers()[0].kind, "Conv2d");
    EXPECT_EQ(curvature->layers()[1].kind, "Linear");
    const Eigen::MatrixXd q = kroneckerBasis(*curvature);
    EXPECT_LT((q.transpose() * q - Eigen::MatrixXd::Identity(q.rows(), q.cols())).cwiseAbs().maxCoeff(), 1e-9);
    const Eigen::VectorXd fisherDiagonal = (q.transpose() * empiricalFisher(g) * q).diagonal();
    const Eigen::VectorXd mu = curvature->eigenvalues(true);
    EXPECT_LT((mu - fisherDiagonal).cwiseAbs().maxCoeff(), 1e-5 * fisherDiagonal.cwiseAbs().maxCoeff());
    // The dense EK-FAC matrix is diagonal in that basis, with exactly those values.
    const Eigen::MatrixXd inBasis = q.transpose() * curvature->dense(true) * q;
    EXPECT_LT(relativeError(inBasis, Eigen::MatrixXd(fisherDiagonal.asDiagonal())), 1e-6);
    // K-FAC's eigenvalues in the same basis are the products of the factors' eigenvalues, and the
    // factors' traces multiply to the K-FAC trace of each layer.
    const Eigen::MatrixXd kfacInBasis = q.transpose() * curvature->dense(false) * q;
    EXPECT_LT(relativeError(kfacInBasis, Eigen::MatrixXd(curvature->eigenvalues(false).asDiagonal())), 1e-6);
}

TEST(Kfac, LargeLambdaScoresApproachGradientDotProducts)
{
    const KfacReference ref = loadKfacReference();
    const Model model = referenceModel(ref);
    const RowMatrixF train = loopGradients(model, ref.train, "all");
    const RowMatrixF test = loopGradients(model, ref.test, "all");
    const RowMatrixF dot = gradDotScores(train, test);
    const auto curvature = fitEmpirical(model, ref.train, "all", true);
    for (bool corrected : {false, true}) {
        const auto cache = kroneckerCache(*curvature, corrected, train, test, KroneckerDamping::Global);
        const double lambda = 1e7 * cache->meanEigenvalue();
        const RowMatrixF scaled = cache->scoreMatrix({}, lambda) * static_cast<float>(lambda);
        EXPECT_LT(relativeError(scaled.cast<double>(), dot.cast<double>()), 1e-4) << "corrected " << corrected;
    }
    // Per-module damping (λ_m = c · mean μ of layer m): c · τ → Σ_m g'_m · g_m / mean μ_m.
    const auto cache = kroneckerCache(*curvature, true, train, test, KroneckerDamping::PerModule);
    EXPECT_NEAR(cache->meanEigenvalue(), 1.0, 1e-9);
    const std::vector<int64_t> offsets = curvature->offsets();
    const Eigen::VectorXd mu = curvature->eigenvalues(true);
    Eigen::MatrixXd expected = Eigen::MatrixXd::Zero(test.rows(), train.rows());
    // Layer blocks are the same column ranges in the features' and the rotated order.
    for (size_t l = 0; l + 1 < offsets.size(); ++l) {
        const int64_t b = offsets[l], d = offsets[l + 1] - offsets[l];
        expected += test.middleCols(b, d).cast<double>() * train.middleCols(b, d).cast<double>().transpose()
                    / mu.segment(b, d).mean();
    }
    const double c = 1e7;
    const RowMatrixF scaled = cache->scoreMatrix({}, c) * static_cast<float>(c);
    EXPECT_LT(relativeError(scaled.cast<double>(), expected), 1e-4);
}

TEST(Kfac, SharedInputLogisticRegressionEqualsExplicitEmpiricalFisherInfluence)
{
    // Every training point has the same image x: then A = x̃ x̃ᵀ for every sample and the empirical
    // Fisher (1/n) Σ δ_i δ_iᵀ ⊗ x̃ x̃ᵀ is exactly G ⊗ A, so K-FAC and EK-FAC influence equal explicit
    // IF with the empirical Fisher (SpectralCache on closed-form gradients) at every λ.
    const Model model = Model::create(Architecture::LogisticRegression, InputShape{1, 2, 3}, 3, 8);
    ImageSet one = tinyImages(1, 21);
    ImageSet train = one.select({0, 0, 0, 0, 0, 0, 0});
    train.labels = {0, 1, 2, 1, 1, 0, 2};
    const ImageSet test = tinyImages(3, 22);
    const RowMatrixF g = logisticRegressionGradients(model, train);
    const RowMatrixF gTest = logisticRegressionGradients(model, test);
    const auto exact = SpectralCache::fromFeatures(g, gTest, CurvatureConvention::Mean);
    const auto curvature = fitEmpirical(model, train, "all", true, 3);
    for (bool corrected : {false, true}) {
        const auto cache = kroneckerCache(*curvature, corrected, g, gTest, KroneckerDamping::Global);
        EXPECT_NEAR(cache->meanEigenvalue(), exact->meanEigenvalue(), 1e-6 * exact->meanEigenvalue());
        for (double relative : {1e-3, 1e-1, 10.0}) {
            const double lambda = relative * exact->meanEigenvalue();
            const Eigen::MatrixXd want = exact->scoreMatrix({}, lambda).cast<double>();
            EXPECT_LT(relativeError(cache->scoreMatrix({}, lambda).cast<double>(), want), 2e-4)
                << "corrected " << corrected << " relative λ " << relative;
        }
    }
}

TEST(Kfac, MatchesPyTorchReference)
{
    const KfacReference ref = loadKfacReference();
    ASSERT_EQ(ref.scores.size(), 8u);
    const Model model = referenceModel(ref);
    FeatureOptions o;
    o.projection = ProjectionKind::None;
    NullProgress progress;
    // The batched path (layer inputs and output gradients), as `attribute` featurizes.
    const RowMatrixF train = featurizeToMatrix(model, ref.train, o, nullptr, nullptr, progress, CancelToken());
    const RowMatrixF test = featurizeToMatrix(model, ref.test, o, nullptr, nullptr, progress, CancelToken());
    for (FisherKind fisher : {FisherKind::Empirical, FisherKind::True}) {
        KroneckerOptions k;
        k.fisher = fisher;
        k.seed = ref.labelSeed;
        k.batchSize = 5; // labels depend on (seed, index), not on the batches
        const auto curvature = KroneckerCurvature::fit(model, ref.train, k, true, progress, CancelToken());
        for (bool corrected : {false, true}) {
            const auto cache = kroneckerCache(*curvature, corrected, train, test, KroneckerDamping::Global);
            int checked = 0;
            for (const auto& [key, value] : ref.scores) {
                const auto& [variant, fisherName, lambda] = key;
                if (variant != (corrected ? "ekfac" : "kfac") || fisherName != toString(fisher))
                    continue;
                ++checked;
                EXPECT_NEAR(cache->meanEigenvalue(), value.second, 1e-5 * value.second) << variant << " " << fisherName;
                const Eigen::MatrixXd got = cache->scoreMatrix({}, lambda).cast<double>();
                EXPECT_LT(relativeError(got, value.first), 1e-4) << variant << " " << fisherName << " λ " << lambda;
            }
            EXPECT_EQ(checked, 2);
        }
    }
}

TEST(Kfac, TrueFisherLabelsDoNotDependOnTheBatchSize)
{
    const KfacReference ref = loadKfacReference();
    const Model model = referenceModel(ref);
    KroneckerOptions k;
    k.seed = 9;
    NullProgress progress;
    k.batchSize = 12;
    const auto whole = KroneckerCurvature::fit(model, ref.train, k, true, progress, CancelToken());
    k.batchSize = 5;
    const auto pieces = KroneckerCurvature::fit(model, ref.train, k, true, progress, CancelToken());
    for (size_t l = 0; l < whole->layers().size(); ++l) {
        EXPECT_LT(relativeError(pieces->layers()[l].gradientCovariance, whole->layers()[l].gradientCovariance), 1e-6);
        EXPECT_LT(relativeError(pieces->layers()[l].correctedEigenvalues, whole->layers()[l].correctedEigenvalues),
                  1e-6);
    }
    // Another seed draws other labels: the gradient factor changes.
    k.seed = 10;
    const auto other = KroneckerCurvature::fit(model, ref.train, k, false, progress, CancelToken());
    EXPECT_GT(relativeError(other->layers()[1].gradientCovariance, whole->layers()[1].gradientCovariance), 1e-3);
}

TEST(Kfac, ClearErrors)
{
    const KfacReference ref = loadKfacReference();
    const Model model = referenceModel(ref);
    NullProgress progress;
    KroneckerOptions k;
    k.layers = "nosuchlayer";
    EXPECT_THROW(KroneckerCurvature::fit(model, ref.train, k, true, progress, CancelToken()), ConfigError);
    k.layers = "all";
    ImageSet empty = ref.train.select({});
    try {
        KroneckerCurvature::fit(model, empty, k, true, progress, CancelToken());
        ADD_FAILURE() << "an empty set was accepted";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
    }
    // A TorchScript model with its own forward has no traced layers: its parameter groups are
    // named in the error.
    Model custom = Model::importTorchScript(test::fixture("ts_custom.pt"));
    custom.checkCompatible(InputShape{1, 28, 28}, 10);
    const ImageSet images = test::syntheticImages(2, InputShape{1, 28, 28}, 10, 1, test::Pixels::Uniform);
    try {
        KroneckerCurvature::fit(custom, images, k, true, progress, CancelToken());
        ADD_FAILURE() << "untraced layers were accepted";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("is not a Linear or Conv2d layer"), std::string::npos) << e.what();
    }
    EXPECT_THROW(parseFisherKind("fisher"), ConfigError);
    EXPECT_THROW(parseKroneckerDamping("local"), ConfigError);
    EXPECT_EQ(parseKroneckerDamping("Per-Module"), KroneckerDamping::PerModule);
    // Cancelled while streaming.
    CancelToken cancel;
    cancel.cancel();
    EXPECT_THROW(KroneckerCurvature::fit(model, ref.train, KroneckerOptions{}, true, progress, cancel), Cancelled);
}

// `attribute --method kfac|ekfac` through the CLI: what it stores is reopened as a session whose
// scores equal the factors fitted here on the same model and data, at any λ; `scores` writes them;
// the λ sweep tables have one column (k = p).
TEST(KfacCli, AttributeStoresScoresAtAnyLambda)
{
    test::TempDir dir;
    const std::string exp = dir.file("e.h5");
    const std::string cli = ATTRI_CLI_PATH;
    std::string out;
    ASSERT_EQ(test::runCommand(cli + " train --data demo --model lr --train-size 200 --test-size 20 --epochs 2 --out " + exp,
                               &out),
              0)
        << out;
    ASSERT_EQ(test::runCommand(cli + " attribute " + exp
                                   + " --method ekfac --fisher empirical --batch-size 64 --sensitivity-tests 5",
                               &out),
              0)
        << out;
    EXPECT_NE(out.find("method ekfac"), std::string::npos) << out;
    NullProgress progress;
    const auto session = AttributionSession::open(exp, "ekfac", 0, progress, CancelToken());
    ASSERT_EQ(session->method(), Method::Ekfac);
    EXPECT_TRUE(session->usesLambda());
    const int64_t p = 10 * (784 + 1);
    EXPECT_EQ(session->k(), p);
    EXPECT_EQ(session->availableKs(), std::vector<int64_t>{p});

    // The same factors fitted here from the stored model and data.
    H5File file(exp, H5File::Mode::ReadOnly);
    const Model model = rebuildModel(readModelRecord(file));
    const DataBundle data = reloadData(readDataRecord(file));
    KroneckerOptions k;
    k.fisher = FisherKind::Empirical;
    k.batchSize = 50;
    const auto curvature = KroneckerCurvature::fit(model, data.train, k, true, progress, CancelToken());
    const auto cache = kroneckerCache(*curvature, true, logisticRegressionGradients(model, data.train),
                                      logisticRegressionGradients(model, data.test), KroneckerDamping::Global);
    EXPECT_NEAR(session->meanEigenvalue(), cache->meanEigenvalue(), 1e-5 * cache->meanEigenvalue());
    for (double relative : {1e-4, 1e-2, 1.0}) {
        const double lambda = relative * cache->meanEigenvalue();
        EXPECT_LT(relativeError(session->scores({}, lambda).cast<double>(), cache->scoreMatrix({}, lambda).cast<double>()),
                  1e-3)
            << "relative λ " << relative;
    }
    const auto tables = listSweepTables(file, "ekfac");
    ASSERT_FALSE(tables.empty());
    for (const auto& t : tables) {
        EXPECT_EQ(t.ks, std::vector<int64_t>{p}) << t.quantity;
        EXPECT_EQ(t.values.rows(), 24) << t.quantity; // between neighbours of the 25-λ default grid
    }
    EXPECT_EQ(file.attrString("/attribution/ekfac/kronecker", "fisher"), "empirical");

    const std::string csv = dir.file("s.csv");
    ASSERT_EQ(test::runCommand(cli + " scores " + exp + " --method ekfac --test 3 --lambda 0.1 --relative --csv " + csv,
                               &out),
              0)
        << out;
    std::istringstream lines(test::readFile(csv));
    std::string header, row;
    std::getline(lines, header);
    std::getline(lines, row);
    std::istringstream cells(row);
    std::string cell;
    std::getline(cells, cell, ',');
    EXPECT_EQ(cell, "3");
    const Eigen::VectorXf want = session->scoresFor(3, 0.1 * session->meanEigenvalue());
    for (int64_t i = 0; i < want.size(); ++i) {
        ASSERT_TRUE(std::getline(cells, cell, ','));
        EXPECT_NEAR(std::stod(cell), want(i), 1e-6 * std::max(1.0f, want.cwiseAbs().maxCoeff()));
    }

    // Per-module damping: each layer in its own units, so the stored mean eigenvalue is 1.
    ASSERT_EQ(test::runCommand(cli + " attribute " + exp + " --method kfac --damping per-module --sensitivity-tests 5",
                               &out),
              0)
        << out;
    const auto perModule = AttributionSession::open(exp, "kfac", 0, progress, CancelToken());
    EXPECT_NEAR(perModule->meanEigenvalue(), 1.0, 1e-9);
    ASSERT_EQ(test::runCommand(cli + " topk " + exp + " --method kfac --test 0 --lambda 0.1 --n 3", &out), 0) << out;
    // An unknown Fisher is named in the error.
    EXPECT_NE(test::runCommand(cli + " attribute " + exp + " --method kfac --fisher expected", &out), 0);
    EXPECT_NE(out.find("expected true or empirical"), std::string::npos) << out;
}

TEST(Kfac, RotatedGradientsFromLayerFactorsEqualRotatedFullGradients)
{
    const KfacReference ref = loadKfacReference();
    const Model model = referenceModel(ref);
    KroneckerOptions k;
    k.batchSize = 5;
    NullProgress progress;
    const auto curvature = KroneckerCurvature::fit(model, ref.train, k, true, progress, CancelToken());
    for (const ImageSet* set : {&ref.train, &ref.test}) {
        const Eigen::MatrixXd want = curvature->rotate(loopGradients(model, *set, "all")).cast<double>();
        const Eigen::MatrixXd got = curvature->rotatedGradients(model, *set, progress, CancelToken()).cast<double>();
        EXPECT_LT(relativeError(got, want), 1e-5);
    }
}

TEST(Kfac, MethodNamesAndProperties)
{
    for (Method m : {Method::Kfac, Method::Ekfac}) {
        EXPECT_EQ(parseMethod(toString(m)), m);
        EXPECT_TRUE(usesLambda(m));
        EXPECT_TRUE(usesFullGradients(m));
        EXPECT_TRUE(isKronecker(m));
        EXPECT_EQ(curvatureConvention(m), CurvatureConvention::Mean);
    }
    EXPECT_EQ(parseMethod("EKFAC"), Method::Ekfac);
    EXPECT_FALSE(isKronecker(Method::InfluenceExplicit));
    EXPECT_TRUE(usesFullGradients(Method::InfluenceExplicit));
    EXPECT_FALSE(usesFullGradients(Method::InfluenceProjected));
}
