// Tests of the featurization stage: per-sample gradients (batched against a per-sample autograd
// loop and against hand-derived formulas), dense and Kronecker projections (against explicitly
// built matrices), nesting, seeds, layer selection, errors, cancellation and streaming.

#include "common/error.h"
#include "common/runtime.h"
#include "data/image_set.h"
#include "features/feature_journal.h"
#include "features/featurizer.h"
#include "features/internal/per_sample_grads.h"
#include "features/internal/projectors.h"
#include "features/projection.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "model/internal/net.h"
#include "model/train_recipe.h"
#include "model/trainer.h"
#include "support/test_support.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <filesystem>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace attri {
namespace {

class FeaturesTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { initRuntime(); }
};

ImageSet gaussianSet(int64_t n, InputShape shape, int classes, uint64_t seed)
{
    return test::syntheticImages(n, shape, classes, seed, test::Pixels::Gaussian);
}

RowMatrixF features(const Model& model, const ImageSet& set, const FeatureOptions& options,
                    FeatureInfo* info = nullptr, SampleStats* stats = nullptr)
{
    NullProgress progress;
    CancelToken cancel;
    return featurizeToMatrix(model, set, options, info, stats, progress, cancel);
}

FeatureOptions options(ProjectionKind kind, int64_t kMax = 64, FeatureTarget target = FeatureTarget::Loss)
{
    FeatureOptions o;
    o.projection = kind;
    o.kMax = kMax;
    o.target = target;
    o.batchSize = 16;
    return o;
}

/// ‖a − b‖ / ‖b‖ (Frobenius), after checking the shapes.
double relativeError(const RowMatrixF& a, const RowMatrixF& b)
{
    EXPECT_EQ(a.rows(), b.rows());
    EXPECT_EQ(a.cols(), b.cols());
    if (a.rows() != b.rows() || a.cols() != b.cols())
        return std::numeric_limits<double>::infinity();
    const double denom = b.cast<double>().norm();
    return (a.cast<double>() - b.cast<double>()).norm() / std::max(denom, 1e-30);
}

bool bitwiseEqual(const RowMatrixF& a, const RowMatrixF& b)
{
    if (a.rows() != b.rows() || a.cols() != b.cols())
        return false;
    for (int64_t r = 0; r < a.rows(); ++r)
        for (int64_t c = 0; c < a.cols(); ++c)
            if (a(r, c) != b(r, c)) // NOLINT: exact comparison intended
                return false;
    return true;
}

std::string errorOf(const std::function<void()>& f)
{
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return {};
}

struct Case {
    const char* name;
    Architecture arch;
    InputShape shape;
    int classes;
};

const Case kCases[] = {
    {"lr", Architecture::LogisticRegression, {1, 8, 8}, 3},
    {"mlp", Architecture::Mlp, {1, 8, 8}, 4},
    {"cnn", Architecture::Cnn, {1, 12, 12}, 3},
};

// --- per-sample gradients -------------------------------------------------------------------

TEST_F(FeaturesTest, BatchedGradientsEqualPerSampleLoop)
{
    for (const Case& c : kCases) {
        const Model model = Model::create(c.arch, c.shape, c.classes, 3);
        const ImageSet set = gaussianSet(21, c.shape, c.classes, 5);
        for (FeatureTarget target : {FeatureTarget::Loss, FeatureTarget::Margin}) {
            FeatureOptions o = options(ProjectionKind::None, 1, target);
            o.batchSize = 8; // a partial last batch
            FeatureInfo batchedInfo, loopInfo;
            const RowMatrixF batched = features(model, set, o, &batchedInfo);
            o.perSampleLoop = true;
            const RowMatrixF loop = features(model, set, o, &loopInfo);
            EXPECT_TRUE(batchedInfo.batched) << c.name;
            EXPECT_FALSE(loopInfo.batched) << c.name;
            EXPECT_EQ(batchedInfo.dimension, model.parameterCount()) << c.name;
            EXPECT_EQ(batchedInfo.fullDimension, model.parameterCount()) << c.name;
            EXPECT_GT(loop.norm(), 0.0f);
            EXPECT_LT(relativeError(batched, loop), 1e-5) << c.name << " " << toString(target);
            // Elementwise too: no sample may hide behind the others' norm.
            const float scale = loop.cwiseAbs().maxCoeff();
            EXPECT_LT((batched - loop).cwiseAbs().maxCoeff(), 1e-5f * scale)
                << c.name << " " << toString(target);
        }
    }
}

TEST_F(FeaturesTest, ResNet9BatchedKroneckerEqualsLoop)
{
    const InputShape shape{3, 16, 16};
    const Model model = Model::create(Architecture::ResNet9, shape, 2, 1);
    const ImageSet set = gaussianSet(3, shape, 2, 2);
    FeatureOptions o = options(ProjectionKind::Kronecker, 300, FeatureTarget::Margin);
    FeatureInfo info;
    const RowMatrixF batched = features(model, set, o, &info);
    EXPECT_TRUE(info.batched);
    EXPECT_EQ(info.layers.size(), 9u); // 8 convolutions and the classifier; BatchNorm is not traced
    o.perSampleLoop = true;
    const RowMatrixF loop = features(model, set, o);
    EXPECT_LT(relativeError(batched, loop), 1e-5);
}

/// The model's parameters as plain values, by name.
std::vector<float> parameter(const Model& model, const std::string& name)
{
    for (const ParamTensor& p : model.parameters())
        if (p.name == name)
            return p.values;
    ADD_FAILURE() << "no parameter " << name;
    return {};
}

TEST_F(FeaturesTest, LogisticRegressionGradientMatchesClosedForm)
{
    const InputShape shape{1, 3, 4};
    const int classes = 3;
    const int64_t d = shape.size();
    const Model model = Model::create(Architecture::LogisticRegression, shape, classes, 9);
    const ImageSet set = gaussianSet(10, shape, classes, 4);
    const std::vector<float> w = parameter(model, "fc.weight"), b = parameter(model, "fc.bias");
    for (FeatureTarget target : {FeatureTarget::Loss, FeatureTarget::Margin}) {
        SampleStats stats;
        const RowMatrixF g = features(model, set, options(ProjectionKind::None, 1, target), nullptr, &stats);
        ASSERT_EQ(g.cols(), classes * d + classes);
        for (int64_t i = 0; i < set.count; ++i) {
            const float* x = set.images.data() + i * d;
            const int64_t y = set.labels[static_cast<size_t>(i)];
            std::vector<double> z(classes);
            for (int k = 0; k < classes; ++k) {
                z[k] = b[k];
                for (int64_t j = 0; j < d; ++j)
                    z[k] += double(w[k * d + j]) * x[j];
            }
            // Loss: ∂ℓ/∂z = softmax − onehot. Margin f = z_y − log Σ_{k≠y} e^{z_k}:
            // ∂f/∂z = onehot − softmax over the other classes (0 at y).
            double all = 0, others = 0;
            for (int k = 0; k < classes; ++k) {
                all += std::exp(z[k]);
                others += k == y ? 0.0 : std::exp(z[k]);
            }
            std::vector<double> r(classes);
            for (int k = 0; k < classes; ++k) {
                const double onehot = k == y ? 1.0 : 0.0;
                r[k] = target == FeatureTarget::Loss ? std::exp(z[k]) / all - onehot
                                                     : onehot - (k == y ? 0.0 : std::exp(z[k]) / others);
            }
            for (int k = 0; k < classes; ++k) {
                for (int64_t j = 0; j < d; ++j)
                    ASSERT_NEAR(g(i, k * d + j), r[k] * x[j], 1e-5) << "sample " << i << " class " << k;
                ASSERT_NEAR(g(i, classes * d + k), r[k], 1e-5); // bias after the weight
            }
            ASSERT_NEAR(stats.loss[static_cast<size_t>(i)], std::log(all) - z[y], 1e-5);
            ASSERT_NEAR(stats.trueProb[static_cast<size_t>(i)], std::exp(z[y]) / all, 1e-6);
        }
    }
}

// --- projections ----------------------------------------------------------------------------

TEST_F(FeaturesTest, DenseFeaturesEqualExplicitProjection)
{
    struct Dense {
        Architecture arch;
        InputShape shape;
        int64_t k;
    };
    // The MLP's 16 771 parameters span two column tiles of the generator.
    for (const Dense& c :
         {Dense{Architecture::LogisticRegression, {1, 4, 4}, 20}, Dense{Architecture::Mlp, {1, 8, 8}, 40}}) {
        const Model model = Model::create(c.arch, c.shape, 3, 2);
        const ImageSet set = gaussianSet(6, c.shape, 3, 8);
        const RowMatrixF g = features(model, set, options(ProjectionKind::None));
        const int64_t p = g.cols();
        for (ProjectionKind kind : {ProjectionKind::Gaussian, ProjectionKind::Rademacher}) {
            FeatureOptions o = options(kind, c.k);
            o.seed = 42;
            const RowMatrixF phi = features(model, set, o);
            RowMatrixF projection(c.k, p);
            for (int64_t r = 0; r < c.k; ++r)
                for (int64_t col = 0; col < p; ++col)
                    projection(r, col) = projectionEntry(kind, 42, kDenseProjectionStream, r, col);
            const RowMatrixF expected =
                (g.cast<double>() * projection.cast<double>().transpose()).cast<float>();
            EXPECT_LT(relativeError(phi, expected), 1e-5) << toString(kind) << " p=" << p;
        }
    }
}

/// Kronecker features computed the slow way: the per-sample gradient matrix of each layer
/// (from the unprojected features), the explicit Kronecker product P_out ⊗ P_in applied to its
/// row-major vectorization, and the coordinates picked by kroneckerLayout.
RowMatrixF explicitKronecker(const Model& model, const ImageSet& set, const std::string& layers, int64_t k,
                             uint64_t seed, FeatureTarget target = FeatureTarget::Loss)
{
    FeatureOptions o = options(ProjectionKind::None, 1, target);
    o.layers = layers;
    const RowMatrixF g = features(model, set, o);
    const std::vector<std::string> names = selectLayers(model, layers);
    const std::vector<GradLayer> selected = resolveLayers(model.net(), names);
    std::vector<KronLayerDims> dims;
    for (const GradLayer& l : selected)
        dims.push_back({l.out, l.in});
    const KroneckerLayout layout = kroneckerLayout(dims, k);
    RowMatrixF out(set.count, k);
    int64_t offset = 0;
    for (size_t l = 0; l < selected.size(); ++l) {
        const int64_t o_l = dims[l].out, i_l = dims[l].in;
        const bool bias = selected[l].params.size() > 1;
        const int64_t iw = i_l - (bias ? 1 : 0);
        // Factors with every row the layout uses.
        const int64_t ra = layout.outRows[l], rb = layout.inRows[l];
        Eigen::MatrixXd pOut(ra, o_l), pIn(rb, i_l);
        for (int64_t a = 0; a < ra; ++a)
            for (int64_t j = 0; j < o_l; ++j)
                pOut(a, j) = gaussianEntry(seed, kroneckerStream(l, false), a, j);
        for (int64_t b = 0; b < rb; ++b)
            for (int64_t j = 0; j < i_l; ++j)
                pIn(b, j) = gaussianEntry(seed, kroneckerStream(l, true), b, j);
        // Explicit Kronecker product: row (a·rb + b), column (r·i_l + c) = P_out[a,r] · P_in[b,c].
        Eigen::MatrixXd kron(ra * rb, o_l * i_l);
        for (int64_t a = 0; a < ra; ++a)
            for (int64_t b = 0; b < rb; ++b)
                for (int64_t r = 0; r < o_l; ++r)
                    for (int64_t c = 0; c < i_l; ++c)
                        kron(a * rb + b, r * i_l + c) = pOut(a, r) * pIn(b, c);
        for (int64_t s = 0; s < set.count; ++s) {
            // vec(G) row-major, G = [weight gradient | bias gradient].
            Eigen::VectorXd vecG(o_l * i_l);
            for (int64_t r = 0; r < o_l; ++r) {
                for (int64_t c = 0; c < iw; ++c)
                    vecG(r * i_l + c) = g(s, offset + r * iw + c);
                if (bias)
                    vecG(r * i_l + iw) = g(s, offset + o_l * iw + r);
            }
            const Eigen::VectorXd projected = kron * vecG;
            for (int64_t j = 0; j < k; ++j) {
                const KronCoordinate& c = layout.coordinates[static_cast<size_t>(j)];
                if (static_cast<size_t>(c.layer) == l)
                    out(s, j) = static_cast<float>(projected(c.a * rb + c.b));
            }
        }
        offset += selected[l].numel;
    }
    return out;
}

TEST_F(FeaturesTest, KroneckerFeaturesEqualExplicitKroneckerProduct)
{
    struct Kron {
        Architecture arch;
        InputShape shape;
        const char* layers;
        int64_t k;
    };
    const Kron cases[] = {
        {Architecture::LogisticRegression, {1, 2, 2}, "all", 15}, // the whole 3×5 space
        {Architecture::Cnn, {1, 8, 8}, "conv1", 60},              // a convolution: 16×10
        {Architecture::Cnn, {1, 8, 8}, "conv1,fc2", 150},         // two layers, conv and linear
    };
    for (const Kron& c : cases) {
        const Model model = Model::create(c.arch, c.shape, 3, 6);
        const ImageSet set = gaussianSet(5, c.shape, 3, 3);
        const RowMatrixF expected = explicitKronecker(model, set, c.layers, c.k, 17);
        FeatureOptions o = options(ProjectionKind::Kronecker, c.k);
        o.layers = c.layers;
        o.seed = 17;
        FeatureInfo info;
        const RowMatrixF batched = features(model, set, o, &info);
        EXPECT_TRUE(info.batched);
        EXPECT_EQ(info.dimension, c.k);
        EXPECT_LT(relativeError(batched, expected), 1e-5) << c.layers;
        o.perSampleLoop = true;
        const RowMatrixF loop = features(model, set, o);
        EXPECT_LT(relativeError(loop, expected), 1e-5) << c.layers;
    }
}

TEST_F(FeaturesTest, GaussNewtonTraceIsTheMeanOfWeightedMarginGradientNorms)
{
    // By hand, one sample at a time: p(1 − p)‖∇θ (logit_y − logsumexp of the others)‖² over
    // every parameter, in evaluation mode.
    const Model model = Model::create(Architecture::Cnn, {1, 8, 8}, 3, 5);
    const ImageSet set = gaussianSet(12, {1, 8, 8}, 3, 7);
    Net& net = model.net();
    net.setTraining(false);
    std::vector<torch::Tensor> params;
    for (const auto& item : net.namedParameters())
        params.push_back(item.second);
    std::vector<double> perSample;
    for (int64_t i = 0; i < set.count; ++i) {
        const torch::Tensor logits = net.forward(imagesTensor(set, i, i + 1)).squeeze(0);
        const int64_t y = set.labels[static_cast<size_t>(i)];
        std::vector<torch::Tensor> others;
        for (int64_t c = 0; c < logits.size(0); ++c)
            if (c != y)
                others.push_back(logits[c]);
        const torch::Tensor margin = logits[y] - torch::logsumexp(torch::stack(others), 0);
        double sq = 0;
        for (const auto& g : torch::autograd::grad({margin}, params))
            sq += g.square().sum().item<double>();
        const double p = torch::softmax(logits.detach().to(torch::kDouble), 0)[y].item<double>();
        perSample.push_back(p * (1 - p) * sq);
    }
    CancelToken cancel;
    const double all = meanGaussNewtonTrace(model, set, set.count, cancel);
    const double expected = std::accumulate(perSample.begin(), perSample.end(), 0.0) / 12.0;
    EXPECT_NEAR(all, expected, 1e-4 * expected);
    EXPECT_NEAR(meanGaussNewtonTrace(model, set, 5, cancel),
                std::accumulate(perSample.begin(), perSample.begin() + 5, 0.0) / 5.0, 1e-4 * expected);
    EXPECT_NEAR(meanGaussNewtonTrace(model, set, 100, cancel), all, 1e-12 * all); // at most the set
    EXPECT_TRUE(std::isnan(meanGaussNewtonTrace(model, set, 0, cancel)));
}

TEST_F(FeaturesTest, KroneckerGatherPathEqualsFusedPass)
{
    // Off the CPU, Linear layers take the gather/scatter path instead of the fused CPU pass;
    // on the CPU both must give the same floats.
    const Model model = Model::create(Architecture::Mlp, {1, 8, 8}, 4, 3);
    const ImageSet set = gaussianSet(9, {1, 8, 8}, 4, 5);
    std::vector<GradLayer> layers = resolveLayers(model.net(), {"fc1", "fc2", "fc3"});
    std::vector<KronLayerDims> dims;
    for (const auto& l : layers)
        dims.push_back({l.out, l.in});
    model.net().setTraining(false);
    PerSampleGradients grads(model.net(), layers, FeatureTarget::Loss);
    ASSERT_TRUE(grads.computeBatched(imagesTensor(set, 0, set.count), labelsTensor(set, 0, set.count)));
    KronProjector fused(dims, 300, 11), gathered(dims, 300, 11);
    gathered.setFusedLinear(false);
    const torch::Tensor a = fused.apply(grads), b = gathered.apply(grads);
    EXPECT_TRUE(torch::equal(a, b));
    EXPECT_GT(a.abs().sum().item<double>(), 0.0);
}

TEST_F(FeaturesTest, DenseProjectorKeptAndRegeneratedAgreeBitwise)
{
    // p = 20 000 spans two column blocks and kMax = 1100 five row blocks; the regenerating path
    // makes every tile for every batch, the kept matrix once.
    const int64_t p = 20000, kMax = 1100, batch = 7;
    torch::manual_seed(3);
    const torch::Tensor g = torch::randn({batch, p});
    for (ProjectionKind kind : {ProjectionKind::Gaussian, ProjectionKind::Rademacher}) {
        const DenseProjector kept(kind, 9, p, kMax);
        const DenseProjector regenerated(kind, 9, p, kMax, torch::kCPU, /*cacheBytes=*/0);
        ASSERT_TRUE(kept.cached());
        ASSERT_FALSE(regenerated.cached());
        const torch::Tensor a = kept.apply(g), b = regenerated.apply(g);
        ASSERT_EQ(a.size(1), kMax);
        EXPECT_TRUE(torch::equal(a, b)) << toString(kind);

        // Against the explicit product in double precision.
        RowMatrixF projection(kMax, p);
        fillProjectionBlock(kind, 9, kDenseProjectionStream, 0, kMax, 0, p, projection.data());
        const Eigen::Map<const RowMatrixF> gm(g.data_ptr<float>(), batch, p);
        const RowMatrixF expected = (gm.cast<double>() * projection.cast<double>().transpose()).cast<float>();
        const torch::Tensor ac = a.contiguous();
        const Eigen::Map<const RowMatrixF> am(ac.data_ptr<float>(), batch, kMax);
        EXPECT_LT(relativeError(RowMatrixF(am), expected), 1e-5) << toString(kind);

        // Nested: a projector to k = 100 (one row block) gives the first 100 columns, bitwise.
        const DenseProjector small(kind, 9, p, 100);
        EXPECT_TRUE(torch::equal(small.apply(g), a.narrow(1, 0, 100))) << toString(kind);
    }
}

TEST_F(FeaturesTest, DenseProjectionIsTheSameForAnyThreadCount)
{
    const int64_t p = 20000, kMax = 300;
    torch::manual_seed(4);
    const torch::Tensor g = torch::randn({9, p});
    const int threads = at::get_num_threads();
    for (ProjectionKind kind : {ProjectionKind::Gaussian, ProjectionKind::Rademacher}) {
        std::vector<torch::Tensor> results;
        for (int t : {1, 2}) {
            at::set_num_threads(t);
            const DenseProjector projector(kind, 2, p, kMax); // generated with t threads
            results.push_back(projector.apply(g));
            const DenseProjector regenerated(kind, 2, p, kMax, torch::kCPU, /*cacheBytes=*/0);
            results.push_back(regenerated.apply(g));
        }
        at::set_num_threads(threads);
        for (size_t i = 1; i < results.size(); ++i)
            EXPECT_TRUE(torch::equal(results[0], results[i])) << toString(kind) << " result " << i;
    }
}

TEST_F(FeaturesTest, CudaFeaturesAndTrainingMatchTheCpu)
{
    if (!cudaAvailable())
        GTEST_SKIP() << "no CUDA device (this LibTorch: " << buildInfo() << ")";
    const Model model = Model::create(Architecture::Cnn, {1, 12, 12}, 3, 4);
    const ImageSet set = gaussianSet(40, {1, 12, 12}, 3, 6);
    TrainRecipe recipe;
    recipe.epochs = 2;
    recipe.batchSize = 8;
    recipe.lr = 0.05;
    NullProgress progress;
    CancelToken cancel;
    selectDevice(DeviceChoice::Cpu);
    const TrainResult cpuTrained = trainModel(model, recipe, set, progress, cancel);
    std::vector<RowMatrixF> cpu;
    for (ProjectionKind kind : {ProjectionKind::Kronecker, ProjectionKind::Gaussian})
        cpu.push_back(features(cpuTrained.model, set, options(kind, 128)));
    selectDevice(DeviceChoice::Cuda);
    EXPECT_EQ(deviceName().rfind("cuda", 0), 0u);
    const TrainResult gpuTrained = trainModel(model, recipe, set, progress, cancel);
    std::vector<RowMatrixF> gpu;
    for (ProjectionKind kind : {ProjectionKind::Kronecker, ProjectionKind::Gaussian})
        gpu.push_back(features(cpuTrained.model, set, options(kind, 128)));
    selectDevice(DeviceChoice::Cpu);
    // Same model, features on either device: equal up to float rounding.
    for (size_t i = 0; i < cpu.size(); ++i)
        EXPECT_LT(relativeError(gpu[i], cpu[i]), 1e-4) << i;
    // Training on the GPU returns a CPU model close to the CPU-trained one.
    const ParamSet a = cpuTrained.model.parameters(), b = gpuTrained.model.parameters();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        double diff = 0.0, norm = 0.0;
        for (size_t j = 0; j < a[i].values.size(); ++j) {
            diff += std::pow(a[i].values[j] - b[i].values[j], 2);
            norm += std::pow(a[i].values[j], 2);
        }
        EXPECT_LT(std::sqrt(diff / std::max(norm, 1e-30)), 1e-3) << a[i].name;
    }
}

TEST_F(FeaturesTest, GradientNormsAndTheFeatureScale)
{
    // FeatureInfo's mean ‖g_i‖² (exact, over the first samples) against the unprojected
    // per-sample gradients, on the batched and the loop path; and the feature scale
    // c = mean ‖φ_i‖² / mean ‖g_i‖² it gives against its expectation over the projection,
    // Σ_l k_l E‖g_l‖² / Σ_l E‖g_l‖² (k_l: the layer's share of the Kronecker coordinates), which
    // for a multi-layer Kronecker projection is not k; a dense projection's is k.
    const InputShape shape{1, 12, 12};
    const Model model = Model::create(Architecture::Cnn, shape, 3, 4);
    const ImageSet set = gaussianSet(60, shape, 3, 5);
    const std::vector<std::string> names = selectLayers(model, "all");
    ASSERT_GE(names.size(), 3u);

    const RowMatrixF full = features(model, set, options(ProjectionKind::None));
    const double exact = full.cast<double>().rowwise().squaredNorm().mean();

    std::vector<double> layerMean;
    std::vector<KronLayerDims> dims;
    for (const GradLayer& l : resolveLayers(model.net(), names)) {
        FeatureOptions o = options(ProjectionKind::None);
        o.layers = l.name;
        layerMean.push_back(features(model, set, o).cast<double>().rowwise().squaredNorm().mean());
        dims.push_back({l.out, l.in});
    }
    const int64_t k = 600;
    std::vector<int64_t> share(dims.size(), 0);
    for (const KronCoordinate& c : kroneckerLayout(dims, k).coordinates)
        ++share[static_cast<size_t>(c.layer)];
    double expectedScale = 0;
    for (size_t l = 0; l < dims.size(); ++l)
        expectedScale += static_cast<double>(share[l]) * layerMean[l] / exact;
    EXPECT_LT(expectedScale, 0.8 * static_cast<double>(k)) << "this model's layers should not share k evenly";

    for (bool loop : {false, true}) {
        FeatureOptions o = options(ProjectionKind::Kronecker, k);
        o.perSampleLoop = loop;
        FeatureInfo info;
        const RowMatrixF kron = features(model, set, o, &info);
        EXPECT_EQ(info.gradientNormSamples, 60);
        EXPECT_NEAR(info.gradientSqNormMean / exact, 1.0, 1e-5) << "loop " << loop;
        const double scale = kron.cast<double>().rowwise().squaredNorm().mean() / info.gradientSqNormMean;
        // One projection draw scatters around the expectation (the last layer has only 3 rows of
        // P_out; here 232 against 170), but is nowhere near k = 600.
        EXPECT_GT(scale / expectedScale, 1.0 / 1.6) << "loop " << loop;
        EXPECT_LT(scale / expectedScale, 1.6) << "loop " << loop;
        EXPECT_LT(scale, 0.5 * static_cast<double>(k)) << "loop " << loop;
    }

    FeatureInfo denseInfo;
    const RowMatrixF dense = features(model, set, options(ProjectionKind::Gaussian, 512), &denseInfo);
    EXPECT_NEAR(denseInfo.gradientSqNormMean / exact, 1.0, 1e-5);
    EXPECT_NEAR(dense.cast<double>().rowwise().squaredNorm().mean() / denseInfo.gradientSqNormMean / 512.0, 1.0, 0.15);

    // Only the first kGradientNormSamples samples are measured.
    const ImageSet large = gaussianSet(kGradientNormSamples + 40, shape, 3, 6);
    FeatureInfo largeInfo;
    const RowMatrixF largeFull = features(model, large, options(ProjectionKind::None), &largeInfo);
    EXPECT_EQ(largeInfo.gradientNormSamples, kGradientNormSamples);
    EXPECT_NEAR(largeInfo.gradientSqNormMean
                    / largeFull.topRows(kGradientNormSamples).cast<double>().rowwise().squaredNorm().mean(),
                1.0, 1e-5);
}

// --- resumable featurization ---------------------------------------------------------------

/// Cancels its token once `at` rows are done, like a user pressing Cancel (or a kill) mid-way;
/// keeps the messages.
class CancelAt final : public ProgressSink {
public:
    CancelAt(const CancelToken& token, int64_t at) : m_token(token), m_at(at) {}
    void begin(const std::string&, int64_t) override {}
    void advance(int64_t done) override
    {
        if (m_at > 0 && done >= m_at)
            m_token.cancel();
    }
    void message(const std::string& text) override { messages += text + "\n"; }
    std::string messages;

private:
    CancelToken m_token;
    int64_t m_at;
};

/// Records the stages and the largest step reported in each, to check progress stays in range.
class StageRecorder final : public ProgressSink {
public:
    void begin(const std::string& stage, int64_t total) override { stages.push_back({stage, total, 0}); }
    void advance(int64_t done) override
    {
        if (!stages.empty())
            stages.back().maxDone = std::max(stages.back().maxDone, done);
    }
    void message(const std::string&) override {}
    struct Stage {
        std::string name;
        int64_t total = 0, maxDone = 0;
    };
    std::vector<Stage> stages;
};

TEST_F(FeaturesTest, JournaledFeaturizationReportsOneStageOverTheWholeSet)
{
    // The first block starts at row 0; it must not restart the stage with the block's own size
    // (a regression: "featurize: 333% (2500/750)").
    test::TempDir dir;
    const Model model = Model::create(Architecture::Mlp, {1, 8, 8}, 4, 1);
    const ImageSet set = gaussianSet(1300, {1, 8, 8}, 4, 2);
    FeatureOptions o = options(ProjectionKind::Kronecker, 96);
    o.batchSize = 100;
    StageRecorder progress;
    FeatureJournal journal(featureJournalPath(dir.file("e.h5")), featureInputHash({&model}, set, set, o), progress);
    journal.featurize(model, set, o, 0, 0, nullptr, nullptr, progress, CancelToken());
    std::vector<StageRecorder::Stage> featurize;
    for (const auto& s : progress.stages)
        if (s.name == "featurize")
            featurize.push_back(s);
    ASSERT_EQ(featurize.size(), 1u);
    EXPECT_EQ(featurize[0].total, 1300);
    EXPECT_EQ(featurize[0].maxDone, 1300);
}

TEST_F(FeaturesTest, JournalResumesBitwiseAndDropsDamagedRecords)
{
    test::TempDir dir;
    const std::string path = featureJournalPath(dir.file("e.h5"));
    EXPECT_EQ(path, dir.file("e.features-partial.bin"));
    const Model model = Model::create(Architecture::Mlp, {1, 8, 8}, 4, 1);
    const ImageSet set = gaussianSet(1300, {1, 8, 8}, 4, 2);
    FeatureOptions o = options(ProjectionKind::Kronecker, 96);
    o.batchSize = 100;
    ASSERT_EQ(FeatureJournal::blockRows(o.batchSize), 600); // 3 blocks: 600, 600, 100

    FeatureInfo wholeInfo;
    SampleStats wholeStats;
    const RowMatrixF whole = features(model, set, o, &wholeInfo, &wholeStats);
    const std::string hash = featureInputHash({&model}, set, set, o);

    auto run = [&](int64_t cancelAt, FeatureInfo* info, SampleStats* stats, std::string* messages) {
        CancelToken token;
        CancelAt progress(token, cancelAt);
        FeatureJournal journal(path, hash, progress);
        RowMatrixF out = journal.featurize(model, set, o, 0, 0, info, stats, progress, token);
        *messages = progress.messages;
        return out;
    };
    // Interrupted after the first block (the cancel is noticed at the next batch)...
    std::string messages;
    EXPECT_THROW(run(650, nullptr, nullptr, &messages), Cancelled);
    const auto afterOne = std::filesystem::file_size(path);
    // ... then resumed: the first 600 rows come from the journal, the rest are computed.
    FeatureInfo info;
    SampleStats stats;
    const RowMatrixF resumed = run(0, &info, &stats, &messages);
    EXPECT_NE(messages.find("resuming featurization: checkpoint 0 train: 600 of 1300 rows already done"),
              std::string::npos)
        << messages;
    EXPECT_TRUE(bitwiseEqual(resumed, whole));
    EXPECT_EQ(stats.loss, wholeStats.loss);
    EXPECT_EQ(stats.trueProb, wholeStats.trueProb);
    EXPECT_EQ(info.gradientNormSamples, wholeInfo.gradientNormSamples);
    EXPECT_DOUBLE_EQ(info.gradientSqNormMean, wholeInfo.gradientSqNormMean);
    EXPECT_EQ(info.dimension, 96);
    EXPECT_EQ(info.fullDimension, wholeInfo.fullDimension);
    EXPECT_EQ(info.layers, wholeInfo.layers);

    // A second featurization of the same experiment while the first holds the journal works
    // without one, and leaves the first's journal alone.
    {
        CancelToken token;
        CancelAt first(token, 0), second(token, 0);
        FeatureJournal holder(path, hash, first);
        FeatureJournal other(path, hash, second);
        EXPECT_NE(second.messages.find("another featurization of this experiment is running"), std::string::npos)
            << second.messages;
        EXPECT_TRUE(bitwiseEqual(other.featurize(model, set, o, 0, 0, nullptr, nullptr, second, token), whole));
        other.remove(); // without the lock: a no-op
        EXPECT_TRUE(std::filesystem::exists(path));
    }

    // A record cut short (a crash inside write()) is dropped with everything after it.
    std::filesystem::resize_file(path, afterOne + 1000);
    EXPECT_TRUE(bitwiseEqual(run(0, nullptr, nullptr, &messages), whole));
    EXPECT_NE(messages.find("600 of 1300 rows already done"), std::string::npos) << messages;
    EXPECT_NE(messages.find("dropping 1000 bytes after its last whole block"), std::string::npos) << messages;
    // A flipped byte fails the first record's checksum: nothing is reused.
    {
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(200);
        f.put('\x7f');
    }
    EXPECT_TRUE(bitwiseEqual(run(0, nullptr, nullptr, &messages), whole));
    EXPECT_EQ(messages.find("rows already done"), std::string::npos) << messages;
    // Other inputs (here another seed): the journal is discarded, and says so.
    FeatureOptions other = o;
    other.seed = 5;
    EXPECT_NE(featureInputHash({&model}, set, set, other), hash);
    {
        CancelToken token;
        CancelAt progress(token, 0);
        FeatureJournal journal(path, featureInputHash({&model}, set, set, other), progress);
        EXPECT_NE(progress.messages.find("belongs to other inputs"), std::string::npos) << progress.messages;
        journal.remove();
    }
    EXPECT_FALSE(std::filesystem::exists(path));

    // A symbolic link where the journal goes is refused.
    std::filesystem::create_symlink(dir.file("elsewhere"), path);
    NullProgress quiet;
    EXPECT_THROW(FeatureJournal(path, hash, quiet), IoError);

    // Errors name samples in the whole set's numbering, also in a later block.
    ImageSet bad = set;
    bad.images[650 * 64 + 5] = std::numeric_limits<float>::quiet_NaN();
    const std::string nan = errorOf([&] { featurizeRows(model, bad, 600, 1200, o, nullptr, nullptr, quiet, CancelToken()); });
    EXPECT_NE(nan.find("650"), std::string::npos) << nan;
}

TEST_F(FeaturesTest, ProjectionsAreNestedBitwise)
{
    const Model mlp = Model::create(Architecture::Mlp, {1, 8, 8}, 4, 1);
    const Model cnn = Model::create(Architecture::Cnn, {1, 12, 12}, 3, 1);
    const ImageSet mlpSet = gaussianSet(20, {1, 8, 8}, 4, 7);
    const ImageSet cnnSet = gaussianSet(20, {1, 12, 12}, 3, 7);
    struct Nest {
        const Model* model;
        const ImageSet* set;
        ProjectionKind kind;
        int64_t k, kMax;
        bool loop;
    };
    const Nest cases[] = {
        {&mlp, &mlpSet, ProjectionKind::Gaussian, 32, 64, false},
        {&mlp, &mlpSet, ProjectionKind::Rademacher, 32, 64, false},
        {&mlp, &mlpSet, ProjectionKind::Gaussian, 100, 300, false}, // across row blocks
        {&mlp, &mlpSet, ProjectionKind::Kronecker, 32, 64, false},
        {&mlp, &mlpSet, ProjectionKind::Kronecker, 200, 3000, false},
        {&cnn, &cnnSet, ProjectionKind::Kronecker, 32, 64, false},
        {&cnn, &cnnSet, ProjectionKind::Kronecker, 100, 2500, false},
        {&cnn, &cnnSet, ProjectionKind::Kronecker, 32, 64, true},
    };
    for (const Nest& c : cases) {
        FeatureOptions o = options(c.kind, c.k);
        o.perSampleLoop = c.loop;
        o.seed = 5;
        const RowMatrixF small = features(*c.model, *c.set, o);
        o.kMax = c.kMax;
        const RowMatrixF large = features(*c.model, *c.set, o);
        ASSERT_EQ(large.cols(), c.kMax);
        const RowMatrixF prefix = large.leftCols(c.k);
        EXPECT_TRUE(bitwiseEqual(small, prefix)) << toString(c.kind) << " k=" << c.k << " kMax=" << c.kMax
                                                 << " max diff " << (small - prefix).cwiseAbs().maxCoeff();
    }
}

TEST_F(FeaturesTest, SeedsDetermineFeatures)
{
    const Model model = Model::create(Architecture::Mlp, {1, 8, 8}, 3, 4);
    const ImageSet set = gaussianSet(9, {1, 8, 8}, 3, 1);
    for (ProjectionKind kind :
         {ProjectionKind::Gaussian, ProjectionKind::Rademacher, ProjectionKind::Kronecker}) {
        FeatureOptions o = options(kind, 48);
        o.seed = 10;
        const RowMatrixF a = features(model, set, o);
        const RowMatrixF b = features(model, set, o);
        o.seed = 11;
        const RowMatrixF c = features(model, set, o);
        EXPECT_TRUE(bitwiseEqual(a, b)) << toString(kind);
        EXPECT_GT(relativeError(c, a), 0.1) << toString(kind);
    }
}

// --- selection and errors -------------------------------------------------------------------

TEST_F(FeaturesTest, LayerSelection)
{
    const Model mlp = Model::create(Architecture::Mlp, {1, 8, 8}, 3, 0);
    EXPECT_EQ(selectLayers(mlp, "all"), (std::vector<std::string>{"fc1", "fc2", "fc3"}));
    EXPECT_EQ(selectLayers(mlp, "last"), (std::vector<std::string>{"fc3"}));
    EXPECT_EQ(selectLayers(mlp, " fc3, fc1 "), (std::vector<std::string>{"fc1", "fc3"}));
    const std::string unknown = errorOf([&] { selectLayers(mlp, "fc1,fc9"); });
    EXPECT_NE(unknown.find("'fc9'"), std::string::npos) << unknown;
    EXPECT_NE(unknown.find("fc1, fc2, fc3"), std::string::npos) << unknown;
    EXPECT_THROW(selectLayers(mlp, "fc9"), ConfigError);

    // Selecting the last layer: its features are the last columns of the full gradient.
    const ImageSet set = gaussianSet(5, {1, 8, 8}, 3, 2);
    const RowMatrixF all = features(mlp, set, options(ProjectionKind::None));
    FeatureOptions o = options(ProjectionKind::None);
    o.layers = "last";
    FeatureInfo info;
    const RowMatrixF last = features(mlp, set, o, &info);
    EXPECT_EQ(info.layers, (std::vector<std::string>{"fc3"}));
    EXPECT_EQ(last.cols(), 64 * 3 + 3);
    EXPECT_LT(relativeError(last, all.rightCols(last.cols())), 1e-6);

    const Model cnn = Model::create(Architecture::Cnn, {1, 12, 12}, 3, 0);
    EXPECT_EQ(selectLayers(cnn, "all"), (std::vector<std::string>{"conv1", "conv2", "fc1", "fc2"}));
}

TEST_F(FeaturesTest, ConfigurationErrors)
{
    const Model lr = Model::create(Architecture::LogisticRegression, {1, 2, 2}, 3, 0);
    const ImageSet set = gaussianSet(4, {1, 2, 2}, 3, 0);
    const std::string tooLarge = errorOf([&] { features(lr, set, options(ProjectionKind::Kronecker, 16)); });
    EXPECT_NE(tooLarge.find("k=16 exceeds the feature space"), std::string::npos) << tooLarge;
    EXPECT_NE(tooLarge.find("15"), std::string::npos) << tooLarge;
    EXPECT_THROW(features(lr, set, options(ProjectionKind::Kronecker, 16)), ConfigError);
    FeatureOptions unknown = options(ProjectionKind::Kronecker, 4);
    unknown.layers = "conv7";
    EXPECT_THROW(features(lr, set, unknown), ConfigError);
    EXPECT_THROW(features(lr, set, options(ProjectionKind::Gaussian, 0)), ConfigError);

    // Full gradients of a large model are refused with a hint.
    const Model resnet = Model::create(Architecture::ResNet9, {3, 8, 8}, 2, 0);
    const std::string big = errorOf([&] {
        features(resnet, gaussianSet(1, {3, 8, 8}, 2, 0), options(ProjectionKind::None));
    });
    EXPECT_NE(big.find("projection"), std::string::npos) << big;

    // Images of the wrong shape, labels outside the classes.
    EXPECT_THROW(features(lr, gaussianSet(2, {1, 3, 3}, 3, 0), options(ProjectionKind::None)), ConfigError);
    ImageSet badLabel = set;
    badLabel.labels[2] = 7;
    const std::string label = errorOf([&] { features(lr, badLabel, options(ProjectionKind::None)); });
    EXPECT_NE(label.find("sample 2"), std::string::npos) << label;
}

TEST_F(FeaturesTest, NonFiniteInputNamesTheSamples)
{
    const Model model = Model::create(Architecture::Mlp, {1, 4, 4}, 3, 0);
    ImageSet set = gaussianSet(30, {1, 4, 4}, 3, 0);
    set.images[12 * 16 + 3] = std::numeric_limits<float>::quiet_NaN();
    set.images[13 * 16] = std::numeric_limits<float>::infinity();
    for (ProjectionKind kind : {ProjectionKind::None, ProjectionKind::Kronecker, ProjectionKind::Gaussian}) {
        try {
            features(model, set, options(kind, 8));
            ADD_FAILURE() << "expected an error for " << toString(kind);
        } catch (const Error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("non-finite gradients for samples 12, 13"), std::string::npos) << what;
        }
    }
}

// --- streaming, progress, cancellation ------------------------------------------------------

class RecordingProgress final : public ProgressSink {
public:
    void begin(const std::string& stage, int64_t total) override
    {
        this->stage = stage;
        this->total = total;
    }
    void advance(int64_t done) override { steps.push_back(done); }
    void message(const std::string&) override {}
    std::string stage;
    int64_t total = -1;
    std::vector<int64_t> steps;
};

TEST_F(FeaturesTest, SinkReceivesContiguousBlocksInRowOrder)
{
    const Model model = Model::create(Architecture::Cnn, {1, 8, 8}, 3, 0);
    const ImageSet set = gaussianSet(30, {1, 8, 8}, 3, 0);
    FeatureOptions o = options(ProjectionKind::Kronecker, 40);
    o.batchSize = 7;
    RecordingProgress progress;
    CancelToken cancel;
    std::vector<int64_t> starts;
    RowMatrixF assembled(set.count, 40);
    int64_t next = 0;
    const FeatureInfo info = featurize(
        model, set, o,
        [&](int64_t first, const RowMatrixF& block) {
            EXPECT_EQ(first, next);
            EXPECT_EQ(block.cols(), 40);
            EXPECT_LE(block.rows(), 7);
            starts.push_back(first);
            assembled.middleRows(first, block.rows()) = block;
            next = first + block.rows();
        },
        nullptr, progress, cancel);
    EXPECT_EQ(next, set.count);
    EXPECT_EQ(starts, (std::vector<int64_t>{0, 7, 14, 21, 28}));
    EXPECT_EQ(info.dimension, 40);
    EXPECT_EQ(progress.stage, "featurize");
    EXPECT_EQ(progress.total, 30);
    EXPECT_EQ(progress.steps, (std::vector<int64_t>{7, 14, 21, 28, 30}));
    // Batch boundaries do not change the features beyond rounding.
    o.batchSize = 30;
    EXPECT_LT(relativeError(assembled, features(model, set, o)), 1e-5);
}

TEST_F(FeaturesTest, CancellationThrowsCancelled)
{
    const Model model = Model::create(Architecture::Mlp, {1, 4, 4}, 3, 0);
    const ImageSet set = gaussianSet(40, {1, 4, 4}, 3, 0);
    NullProgress progress;
    CancelToken cancel;
    cancel.cancel();
    EXPECT_THROW(featurize(model, set, options(ProjectionKind::Kronecker, 8), {}, nullptr, progress, cancel),
                 Cancelled);
    // Cancelled from the sink after the first block: no further block arrives.
    for (bool loop : {false, true}) {
        CancelToken later;
        int blocks = 0;
        FeatureOptions o = options(ProjectionKind::Kronecker, 8);
        o.perSampleLoop = loop;
        EXPECT_THROW(featurize(
                         model, set, o,
                         [&](int64_t, const RowMatrixF&) {
                             ++blocks;
                             later.cancel();
                         },
                         nullptr, progress, later),
                     Cancelled);
        EXPECT_EQ(blocks, 1);
    }
}

// --- nets without traced layers (the generic path) ------------------------------------------

/// A zoo net that hides its traced layers, as a TorchScript module without a Sequential top does.
class UntracedNet final : public Net {
public:
    explicit UntracedNet(std::shared_ptr<Net> inner) : m_inner(std::move(inner))
    {
        architecture = m_inner->architecture;
        input = m_inner->input;
        numClasses = m_inner->numClasses;
    }
    torch::Tensor forward(const torch::Tensor& x, LayerTrace*) override { return m_inner->forward(x); }
    std::vector<std::pair<std::string, torch::Tensor>> namedParameters() override
    {
        return m_inner->namedParameters();
    }
    std::vector<std::pair<std::string, torch::Tensor>> namedBuffers() override
    {
        return m_inner->namedBuffers();
    }
    std::vector<TracedLayer> tracedLayers() override { return {}; }
    std::vector<LayerInfo> layers() override { return m_inner->layers(); }
    void setTraining(bool on) override { m_inner->setTraining(on); }
    std::shared_ptr<Net> clone() const override { return std::make_shared<UntracedNet>(m_inner->clone()); }
    void reinitialize(uint64_t seed) override { m_inner->reinitialize(seed); }
    void to(const torch::Device& device) override { m_inner->to(device); }

private:
    std::shared_ptr<Net> m_inner;
};

TEST_F(FeaturesTest, NetsWithoutTracedLayersUseParameterGroups)
{
    const Model zoo = Model::create(Architecture::Mlp, {1, 8, 8}, 3, 2);
    const Model untraced(std::make_shared<UntracedNet>(zoo.net().clone()));
    // Same parameters: clone() copies them.
    EXPECT_EQ(selectLayers(untraced, "all"), (std::vector<std::string>{"fc1", "fc2", "fc3"}));
    const ImageSet set = gaussianSet(6, {1, 8, 8}, 3, 3);
    for (ProjectionKind kind : {ProjectionKind::None, ProjectionKind::Kronecker}) {
        FeatureOptions o = options(kind, 100, FeatureTarget::Margin);
        o.layers = "fc1,fc3";
        FeatureInfo info;
        const RowMatrixF generic = features(untraced, set, o, &info);
        EXPECT_FALSE(info.batched);
        EXPECT_LT(relativeError(generic, features(zoo, set, o)), 1e-5) << toString(kind);
    }
}

TEST_F(FeaturesTest, TorchScriptModels)
{
    const ImageSet set = gaussianSet(5, {1, 28, 28}, 10, 4);
    // A scripted Sequential: its stride-2 padded convolution and its Linear are traced.
    Model sequential = Model::importTorchScript(test::fixture("ts_seq_cnn.pt"));
    sequential.checkCompatible({1, 28, 28}, 10);
    EXPECT_EQ(selectLayers(sequential, "all"), (std::vector<std::string>{"0", "3"}));
    for (ProjectionKind kind : {ProjectionKind::None, ProjectionKind::Kronecker}) {
        FeatureOptions o = options(kind, 200);
        FeatureInfo info;
        const RowMatrixF batched = features(sequential, set, o, &info);
        EXPECT_TRUE(info.batched);
        EXPECT_EQ(info.fullDimension, sequential.parameterCount());
        o.perSampleLoop = true;
        EXPECT_LT(relativeError(batched, features(sequential, set, o)), 1e-5) << toString(kind);
    }
    // A module with its own forward: parameter groups on the per-sample loop.
    Model custom = Model::importTorchScript(test::fixture("ts_custom.pt"));
    custom.checkCompatible({1, 28, 28}, 10);
    EXPECT_EQ(selectLayers(custom, "all"), (std::vector<std::string>{"conv", "head"}));
    FeatureInfo info;
    FeatureOptions o = options(ProjectionKind::Kronecker, 120, FeatureTarget::Margin);
    const RowMatrixF kron = features(custom, set, o, &info);
    EXPECT_FALSE(info.batched);
    EXPECT_EQ(info.fullDimension, custom.parameterCount());
    o.projection = ProjectionKind::None;
    EXPECT_EQ(features(custom, set, o).cols(), custom.parameterCount());
    EXPECT_LT(relativeError(kron, explicitKronecker(custom, set, "all", 120, o.seed, FeatureTarget::Margin)),
              1e-5);
}

// --- rough timings (not assertions; run with --gtest_also_run_disabled_tests) --------------

double seconds(const std::function<void()>& f)
{
    const auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST_F(FeaturesTest, DISABLED_Timing)
{
    const InputShape shape{1, 28, 28};
    const Model model = Model::create(Architecture::Mlp, shape, 10, 0);
    const ImageSet set = gaussianSet(5000, shape, 10, 0);
    NullProgress progress;
    CancelToken cancel;
    TrainRecipe recipe;
    recipe.batchSize = 64;
    recipe.epochs = 1;
    recipe.lr = 0.01;
    recipe.momentum = 0.9;
    const double epoch = seconds([&] { trainModel(model, recipe, set, progress, cancel); });
    FeatureOptions kron = options(ProjectionKind::Kronecker, 4096);
    kron.batchSize = 250;
    const double kronTime = seconds([&] { features(model, set, kron); });
    const ImageSet small = gaussianSet(500, shape, 10, 1);
    FeatureOptions none = options(ProjectionKind::None);
    none.batchSize = 250;
    const double batched = seconds([&] { features(model, small, none); });
    none.perSampleLoop = true;
    const double loop = seconds([&] { features(model, small, none); });
    FeatureOptions gauss = options(ProjectionKind::Gaussian, 1024);
    gauss.batchSize = 250;
    const double dense = seconds([&] { features(model, small, gauss); });
    std::printf("threads %d\n", torchThreads());
    std::printf("MLP 5000×784: one SGD epoch (batch 64) %.3f s; featurize kron k=4096 %.3f s (%.2f×)\n",
                epoch, kronTime, kronTime / epoch);
    std::printf("MLP 500 samples, projection none: batched %.3f s, per-sample loop %.3f s (%.1f× faster)\n",
                batched, loop, loop / batched);
    std::printf("MLP 500 samples, gaussian k=1024 (p=109386, uncached): %.3f s\n", dense);
}

} // namespace
} // namespace attri
