// Tests of imported TorchScript models against fixtures written by
// tests/fixtures/make_torchscript.py (Python's logits are the reference).

#include "common/error.h"
#include "data/image_set.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "model/internal/net.h"
#include "model/trainer.h"
#include "support/test_support.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <random>

namespace attri {
namespace {

/// The fixed input of make_torchscript.py: arange(2·784)/1568 as 2×1×28×28.
torch::Tensor pythonInput()
{
    return (torch::arange(2 * 784, torch::kFloat) / 1568).reshape({2, 1, 28, 28});
}

torch::Tensor readLogits(const std::string& name)
{
    std::ifstream in(test::fixture(name));
    int64_t rows = 0, cols = 0;
    in >> rows >> cols;
    std::vector<float> values(static_cast<size_t>(rows * cols));
    for (float& v : values)
        in >> v;
    EXPECT_TRUE(in) << "cannot read " << name;
    return torch::from_blob(values.data(), {rows, cols}, torch::kFloat).clone();
}

torch::Tensor logitsOf(const Model& model, const torch::Tensor& x)
{
    torch::NoGradGuard noGrad;
    return model.net().forward(x);
}

bool sameValues(const ParamSet& a, const ParamSet& b)
{
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].name != b[i].name || a[i].shape != b[i].shape || a[i].values != b[i].values)
            return false;
    }
    return true;
}

ImageSet randomMnistLike(int64_t n, uint64_t seed)
{
    ImageSet set;
    set.count = n;
    set.channels = 1;
    set.height = 28;
    set.width = 28;
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    set.images.resize(static_cast<size_t>(n * 784));
    for (float& v : set.images)
        v = uniform(rng);
    for (int64_t i = 0; i < n; ++i)
        set.labels.push_back(i % 10);
    return set;
}

TEST(TorchScriptTest, ImportListsParametersAndLayers)
{
    const std::string path = test::fixture("ts_mlp.pt");
    const Model model = Model::importTorchScript(path);
    EXPECT_EQ(model.architecture(), Architecture::TorchScript);
    EXPECT_EQ(model.sourcePath(), path);
    EXPECT_EQ(model.inputShape().size(), 0) << "unknown until checkCompatible";
    EXPECT_EQ(model.numClasses(), 0);

    const ParamSet params = model.parameters();
    ASSERT_EQ(params.size(), 4u);
    EXPECT_EQ(params[0].name, "1.weight");
    EXPECT_EQ(params[0].shape, (std::vector<int64_t>{32, 784}));
    EXPECT_EQ(params[1].name, "1.bias");
    EXPECT_EQ(params[2].name, "3.weight");
    EXPECT_EQ(params[2].shape, (std::vector<int64_t>{10, 32}));
    EXPECT_EQ(params[3].name, "3.bias");
    EXPECT_EQ(model.parameterCount(), 784 * 32 + 32 + 32 * 10 + 10);
    EXPECT_TRUE(model.buffers().empty());

    const auto layers = model.layers();
    ASSERT_EQ(layers.size(), 4u);
    const char* kinds[] = {"Flatten", "Linear", "ReLU", "Linear"};
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(layers[i].name, std::to_string(i));
        EXPECT_EQ(layers[i].kind, kinds[i]);
        EXPECT_EQ(layers[i].perSampleExact, layers[i].kind == "Linear");
    }
    EXPECT_EQ(layers[1].parameterCount, 784 * 32 + 32);
    EXPECT_EQ(layers[3].parameterCount, 32 * 10 + 10);
}

TEST(TorchScriptTest, LogitsEqualPython)
{
    for (const std::string name : {"ts_mlp", "ts_custom", "ts_seq_cnn"}) {
        SCOPED_TRACE(name);
        const Model model = Model::importTorchScript(test::fixture(name + ".pt"));
        const torch::Tensor expected = readLogits(name + "_logits.txt");
        const torch::Tensor logits = logitsOf(model, pythonInput());
        ASSERT_EQ(logits.sizes().vec(), expected.sizes().vec());
        EXPECT_LT((logits - expected).abs().max().item<float>(), 1e-5f);
    }
}

TEST(TorchScriptTest, SequentialTracesItsLinearLayers)
{
    const Model model = Model::importTorchScript(test::fixture("ts_mlp.pt"));
    Net& net = model.net();
    const auto layers = net.tracedLayers();
    ASSERT_EQ(layers.size(), 2u);
    EXPECT_EQ(layers[0].name, "1");
    EXPECT_EQ(layers[0].kind, "Linear");
    EXPECT_EQ(layers[0].weight.sizes().vec(), (std::vector<int64_t>{32, 784}));
    EXPECT_TRUE(layers[0].bias.defined());
    EXPECT_EQ(layers[1].name, "3");

    LayerTrace trace;
    const torch::Tensor logits = net.forward(pythonInput(), &trace);
    ASSERT_EQ(trace.inputs.size(), 2u);
    EXPECT_EQ(trace.inputs[0].sizes().vec(), (std::vector<int64_t>{2, 784}));
    EXPECT_EQ(trace.outputs[0].sizes().vec(), (std::vector<int64_t>{2, 32}));
    EXPECT_EQ(trace.inputs[1].sizes().vec(), (std::vector<int64_t>{2, 32}));
    EXPECT_EQ(trace.outputs[1].sizes().vec(), (std::vector<int64_t>{2, 10}));
    EXPECT_TRUE(torch::allclose(logits, readLogits("ts_mlp_logits.txt"), 1e-5, 1e-5));

    // The traced tensors are the live parameters: the weight gradient is Σ_n gradOut_n ⊗ in_n.
    logits.pow(2).sum().backward();
    for (size_t i = 0; i < 2; ++i) {
        ASSERT_TRUE(trace.outputs[i].grad().defined());
        ASSERT_TRUE(layers[i].weight.grad().defined());
        const torch::Tensor grad = trace.outputs[i].grad().t().mm(trace.inputs[i]);
        EXPECT_TRUE(torch::allclose(grad, layers[i].weight.grad(), 1e-4, 1e-6));
    }
}

TEST(TorchScriptTest, SequentialConvolutionGeometryIsRead)
{
    const Model model = Model::importTorchScript(test::fixture("ts_seq_cnn.pt"));
    const auto layers = model.net().tracedLayers();
    ASSERT_EQ(layers.size(), 2u);
    EXPECT_EQ(layers[0].kind, "Conv2d");
    EXPECT_EQ(layers[0].kernel, (std::vector<int64_t>{3, 3}));
    EXPECT_EQ(layers[0].stride, (std::vector<int64_t>{2, 2}));
    EXPECT_EQ(layers[0].padding, (std::vector<int64_t>{1, 1}));
    EXPECT_EQ(layers[0].dilation, (std::vector<int64_t>{1, 1}));
    EXPECT_EQ(layers[0].groups, 1);
    EXPECT_EQ(layers[1].kind, "Linear");

    LayerTrace trace;
    torch::NoGradGuard noGrad;
    model.net().forward(pythonInput(), &trace);
    ASSERT_EQ(trace.inputs.size(), 2u);
    const torch::Tensor again =
        torch::conv2d(trace.inputs[0], layers[0].weight, layers[0].bias, layers[0].stride, layers[0].padding,
                      layers[0].dilation, layers[0].groups);
    EXPECT_TRUE(torch::allclose(again, trace.outputs[0], 1e-5, 1e-6));
}

TEST(TorchScriptTest, CustomModuleFallsBackToItsForward)
{
    const Model model = Model::importTorchScript(test::fixture("ts_custom.pt"));
    EXPECT_TRUE(model.net().tracedLayers().empty());
    LayerTrace trace;
    const torch::Tensor logits = model.net().forward(pythonInput(), &trace);
    EXPECT_TRUE(trace.inputs.empty());
    EXPECT_TRUE(torch::allclose(logits.detach(), readLogits("ts_custom_logits.txt"), 1e-5, 1e-5));

    const auto layers = model.layers();
    ASSERT_EQ(layers.size(), 2u);
    EXPECT_EQ(layers[0].name, "conv");
    EXPECT_EQ(layers[0].kind, "Conv2d");
    EXPECT_EQ(layers[0].parameterCount, 4 * 9 + 4);
    EXPECT_FALSE(layers[0].perSampleExact);
    EXPECT_EQ(layers[1].name, "head");
    EXPECT_EQ(layers[1].kind, "Linear");
}

TEST(TorchScriptTest, CheckCompatibleProbesTheModule)
{
    const std::string path = test::fixture("ts_mlp.pt");
    const Model model = Model::importTorchScript(path);
    try {
        model.checkCompatible({3, 32, 32}, 10);
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(path), std::string::npos) << msg;
        EXPECT_NE(msg.find("expects a different input"), std::string::npos) << msg;
        EXPECT_NE(msg.find("3×32×32"), std::string::npos) << msg;
    }
    try {
        model.checkCompatible({1, 28, 28}, 2);
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    EXPECT_EQ(model.inputShape().size(), 0) << "failed probes record nothing";

    model.checkCompatible({1, 28, 28}, 10);
    EXPECT_EQ(model.inputShape(), (InputShape{1, 28, 28}));
    EXPECT_EQ(model.numClasses(), 10);

    const Model custom = Model::importTorchScript(test::fixture("ts_custom.pt"));
    EXPECT_THROW(custom.checkCompatible({3, 32, 32}, 10), ConfigError);
    EXPECT_NO_THROW(custom.checkCompatible({1, 28, 28}, 10));
}

TEST(TorchScriptTest, NonArchiveIsAFormatErrorNamingTheFile)
{
    test::TempDir dir;
    const std::string path = dir.file("random.pt");
    std::mt19937 rng(5);
    std::string bytes(4096, '\0');
    for (char& c : bytes)
        c = static_cast<char>(rng() & 0xff);
    test::writeFile(path, bytes);
    try {
        Model::importTorchScript(path);
        FAIL() << "expected FormatError";
    } catch (const FormatError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(path), std::string::npos) << msg;
        EXPECT_NE(msg.find("is not a TorchScript archive"), std::string::npos) << msg;
    }
    EXPECT_THROW(Model::importTorchScript(dir.file("missing.pt")), IoError);
}

// A flipped byte inside an entry is caught by the entry's CRC-32 before LibTorch parses the
// archive (LibTorch does not check CRCs; a corrupted source entry once made it allocate 20 GB).
TEST(TorchScriptTest, CorruptEntryIsAFormatErrorNamingTheEntry)
{
    std::ifstream in(test::fixture("ts_mlp.pt"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The first local header (signature PK\3\4) whose name ends in "/data/0": stored weights.
    size_t header = 0;
    std::string name;
    for (size_t at = bytes.find("PK\3\4"); at != std::string::npos; at = bytes.find("PK\3\4", at + 4)) {
        const auto u16 = [&](size_t o) { return static_cast<size_t>(static_cast<unsigned char>(bytes[o]))
                                                | static_cast<size_t>(static_cast<unsigned char>(bytes[o + 1])) << 8; };
        name = bytes.substr(at + 30, u16(at + 26));
        if (name.size() > 7 && name.compare(name.size() - 7, 7, "/data/0") == 0) {
            header = at + 30 + u16(at + 26) + u16(at + 28);
            break;
        }
    }
    ASSERT_GT(header, 0u) << "no data/0 entry in the fixture";
    bytes[header + 3] = static_cast<char>(bytes[header + 3] ^ 0x40);
    test::TempDir dir;
    const std::string path = dir.file("corrupt.pt");
    test::writeFile(path, bytes);
    try {
        Model::importTorchScript(path);
        FAIL() << "expected FormatError";
    } catch (const FormatError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(path + " is not a TorchScript archive"), std::string::npos) << msg;
        EXPECT_NE(msg.find(name + " is corrupt (CRC-32 mismatch)"), std::string::npos) << msg;
    }
}

TEST(TorchScriptTest, ReinitializeIsDeterministic)
{
    Model a = Model::importTorchScript(test::fixture("ts_mlp.pt"));
    Model b = Model::importTorchScript(test::fixture("ts_mlp.pt"));
    const ParamSet original = a.parameters();
    a.reinitialize(7);
    b.reinitialize(7);
    EXPECT_TRUE(sameValues(a.parameters(), b.parameters()));
    EXPECT_FALSE(sameValues(a.parameters(), original));
    b.reinitialize(8);
    EXPECT_FALSE(sameValues(a.parameters(), b.parameters()));

    // Kaiming-uniform weights within ±1/sqrt(fan_in), zero biases.
    for (const ParamTensor& p : a.parameters()) {
        if (p.shape.size() == 1) {
            for (float v : p.values)
                EXPECT_EQ(v, 0.0f) << p.name;
        } else {
            const float bound = 1.0f / std::sqrt(static_cast<float>(p.shape[1]));
            float maxAbs = 0.0f;
            for (float v : p.values)
                maxAbs = std::max(maxAbs, std::abs(v));
            EXPECT_LE(maxAbs, bound) << p.name;
            EXPECT_GT(maxAbs, 0.9f * bound) << p.name; // uses the whole range
        }
    }
}

TEST(TorchScriptTest, CloneIsIndependent)
{
    const Model model = Model::importTorchScript(test::fixture("ts_custom.pt"));
    const ParamSet original = model.parameters();
    Model copy = model.clone();
    EXPECT_EQ(copy.sourcePath(), model.sourcePath());
    EXPECT_TRUE(sameValues(copy.parameters(), original));
    copy.reinitialize(1);
    EXPECT_TRUE(sameValues(model.parameters(), original));
    EXPECT_FALSE(sameValues(copy.parameters(), original));
    for (const auto& item : copy.net().namedParameters()) {
        EXPECT_TRUE(item.second.requires_grad()) << item.first;
        EXPECT_TRUE(item.second.is_leaf()) << item.first;
    }
}

TEST(TorchScriptTest, ImportedModelTrainsDeterministically)
{
    const Model init = Model::importTorchScript(test::fixture("ts_mlp.pt"));
    init.checkCompatible({1, 28, 28}, 10);
    const ParamSet initParams = init.parameters();
    const ImageSet train = randomMnistLike(64, 3);
    TrainRecipe recipe;
    recipe.epochs = 2;
    recipe.batchSize = 16;
    recipe.lr = 0.1;
    NullProgress progress;
    const TrainResult a = trainModel(init, recipe, train, progress, CancelToken());
    const TrainResult b = trainModel(init, recipe, train, progress, CancelToken());
    EXPECT_TRUE(sameValues(a.model.parameters(), b.model.parameters()));
    EXPECT_FALSE(sameValues(a.model.parameters(), initParams));
    EXPECT_TRUE(sameValues(init.parameters(), initParams));
    EXPECT_EQ(a.model.inputShape(), (InputShape{1, 28, 28}));
    EXPECT_EQ(perSampleLoss(a.model, train).size(), 64u);
}

} // namespace
} // namespace attri
