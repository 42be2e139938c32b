// Replays the fuzzing inputs kept in the tree through the same parser entry points as the
// libFuzzer harnesses in tests/fuzz/: every file under tests/fuzz/regressions/<harness>/ (inputs
// that once crashed, leaked or threw the wrong exception) and the seed corpus under
// tests/fuzz/corpus/<harness>/. Each must either parse or be rejected with attri::Error; the
// seeds named valid_* must parse. This runs in the normal test suite, so a fixed finding
// stays fixed without a fuzzing toolchain.

#include "common/error.h"
#include "data/cifar_reader.h"
#include "data/dataset_spec.h"
#include "data/hdf5_dataset_reader.h"
#include "data/idx_reader.h"
#include "features/feature_options.h"
#include "model/model.h"
#include "store/experiment_file.h"
#include "store/experiment_verify.h"
#include "store/h5_file.h"
#include "support/test_support.h"
#include "tuning/lambda_grid.h"

// The CLI's option parser lives in the app, not in attri_core (tests/CMakeLists.txt compiles
// app/cli/arg_parser.cpp into this test, as the fuzz harness does).
#include "cli/arg_parser.h"
#include "fuzz/fuzz_command_line.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>

namespace attri {
namespace {

namespace fs = std::filesystem;

fs::path fuzzDir()
{
    return fs::path(ATTRI_FIXTURES_DIR).parent_path() / "fuzz";
}

/// What one replay step did: parsed, or rejected cleanly (message kept for the report).
struct Outcome {
    std::string step;
    bool ok = false;
    std::string error;
};

/// Runs one entry point; attri::Error is a clean rejection, anything else propagates so that
/// the caller fails the test with the input's name.
template <typename Fn> Outcome run(const std::string& step, Fn&& fn)
{
    try {
        fn();
        return {step, true, {}};
    } catch (const Error& e) {
        return {step, false, e.what()};
    }
}

using Replay = std::function<std::vector<Outcome>(const std::string& bytes, const std::string& file)>;

std::vector<Outcome> replayIdx(const std::string& bytes, const std::string& file)
{
    std::vector<Outcome> out;
    out.push_back(run("readIdxBuffer(images)",
                      [&] { readIdxBuffer(bytes.data(), bytes.size(), file, kIdxImagesMagic); }));
    out.push_back(run("readIdxBuffer(labels)",
                      [&] { readIdxBuffer(bytes.data(), bytes.size(), file, kIdxLabelsMagic); }));
    out.push_back(run("readIdxFile(images)", [&] { readIdxFile(file, kIdxImagesMagic); }));
    out.push_back(run("readIdxFile(labels)", [&] { readIdxFile(file, kIdxLabelsMagic); }));
    uint32_t imagesLength = 0;
    if (bytes.size() >= 4) {
        std::memcpy(&imagesLength, bytes.data(), 4);
        if (imagesLength <= bytes.size() - 4) {
            IdxArray images, labels;
            const char* base = bytes.data() + 4;
            out.push_back(run("pair", [&] {
                images = readIdxBuffer(base, imagesLength, "images", kIdxImagesMagic);
                labels = readIdxBuffer(base + imagesLength, bytes.size() - 4 - imagesLength, "labels",
                                       kIdxLabelsMagic);
                const ImageSet set = idxToImageSet(images, labels, "images", "labels", 10);
                EXPECT_EQ(set.images.size(), static_cast<size_t>(set.count * set.imageSize())) << file;
            }));
        }
    }
    return out;
}

std::vector<Outcome> replayCifar(const std::string& bytes, const std::string& file)
{
    return {run("readCifarBuffer",
                [&] {
                    const ImageSet set = readCifarBuffer(bytes.data(), bytes.size(), file);
                    EXPECT_EQ(set.images.size(), static_cast<size_t>(set.count) * 3 * 32 * 32) << file;
                    selectCatsAndDogs(set);
                }),
            run("readCifarBatch", [&] { readCifarBatch(file); })};
}

std::vector<Outcome> replayHdf5Dataset(const std::string&, const std::string& file)
{
    return {run("loadHdf5Dataset", [&] {
        const RawDataset d = loadHdf5Dataset(file);
        EXPECT_EQ(static_cast<int>(d.classNames.size()), d.numClasses) << file;
        EXPECT_EQ(d.train.images.size(), static_cast<size_t>(d.train.count * d.train.imageSize())) << file;
    })};
}

std::vector<Outcome> replayExperimentFile(const std::string&, const std::string& file)
{
    std::vector<Outcome> out;
    std::unique_ptr<H5File> h5;
    out.push_back(run("H5File", [&] { h5 = std::make_unique<H5File>(file, H5File::Mode::ReadOnly); }));
    if (h5) {
        out.push_back(run("checkExperimentFile", [&] { checkExperimentFile(*h5); }));
        out.push_back(run("readDataRecord", [&] { readDataRecord(*h5); }));
        out.push_back(run("readModelRecord", [&] { readModelRecord(*h5); }));
        h5.reset();
    }
    out.push_back(run("describeExperimentFile", [&] { EXPECT_FALSE(describeExperimentFile(file).empty()); }));
    out.push_back(run("verifyExperimentFile", [&] {
        const ExperimentVerification v = verifyExperimentFile(file);
        EXPECT_TRUE(v.opened || !v.damaged.empty());
        if (fs::path(file).filename().string().rfind("flipped_", 0) == 0) {
            EXPECT_FALSE(v.intact()) << file;
        }
    }));
    return out;
}

std::vector<Outcome> replayTorchScript(const std::string&, const std::string& file)
{
    return {run("importTorchScript", [&] {
        const Model model = Model::importTorchScript(file);
        model.parameters();
        model.buffers();
        model.layers();
    })};
}

std::vector<Outcome> replaySpecStrings(const std::string& bytes, const std::string&)
{
    const std::string text = bytes.size() >= 2 ? bytes.substr(2) : std::string();
    std::vector<Outcome> out;
    out.push_back(run("DatasetSpec::parse", [&] {
        const DatasetSpec spec = DatasetSpec::parse(text);
        EXPECT_EQ(DatasetSpec::parse(spec.toString()).path, spec.path);
    }));
    out.push_back(run("LambdaGrid::parse", [&] {
        for (double v : LambdaGrid::parse(text).values)
            EXPECT_TRUE(v > 0 && std::isfinite(v));
    }));
    out.push_back(run("parseArchitecture", [&] { parseArchitecture(text); }));
    out.push_back(run("parseFeatureTarget", [&] { parseFeatureTarget(text); }));
    out.push_back(run("parseProjectionKind", [&] { parseProjectionKind(text); }));
    const std::vector<std::string> args = fuzz::splitArguments(text);
    if (fuzz::asksForHelp(args))
        return out;
    out.push_back(run("ArgParser", [&] {
        cli::ArgParser p = fuzz::fuzzedParser();
        p.parse(args);
        if (p.isSet("lambda"))
            p.getDouble("lambda");
        p.getInt("n");
        LambdaGrid::parse(p.get("lambda-grid"), !p.isSet("absolute"));
        DatasetSpec::parse(p.get("data"));
    }));
    return out;
}

const std::map<std::string, Replay>& replays()
{
    static const std::map<std::string, Replay> table = {
        {"idx", replayIdx},
        {"cifar", replayCifar},
        {"hdf5_dataset", replayHdf5Dataset},
        {"experiment_file", replayExperimentFile},
        {"torchscript", replayTorchScript},
        {"spec_strings", replaySpecStrings},
    };
    return table;
}

/// Replays every regular file under `root`/<harness>/; returns how many files were replayed.
int replayTree(const fs::path& root, bool validMustParse)
{
    int files = 0;
    if (!fs::is_directory(root))
        return 0;
    for (const auto& dir : fs::directory_iterator(root)) {
        if (!dir.is_directory())
            continue;
        const std::string harness = dir.path().filename().string();
        const auto it = replays().find(harness);
        EXPECT_NE(it, replays().end()) << dir.path() << " names no known harness";
        if (it == replays().end())
            continue;
        for (const auto& entry : fs::directory_iterator(dir.path())) {
            if (!entry.is_regular_file())
                continue;
            const std::string name = entry.path().filename().string();
            if (name.rfind("README", 0) == 0)
                continue;
            ++files;
            // Each input is replayed from a copy with a stable extension, as the harness does.
            test::TempDir tmp;
            const std::string file = tmp.file("input." + harness);
            fs::copy_file(entry.path(), file);
            const std::string bytes = test::readFile(file);
            std::vector<Outcome> outcomes;
            try {
                outcomes = it->second(bytes, file);
            } catch (const std::exception& e) {
                ADD_FAILURE() << entry.path() << ": threw " << typeid(e).name()
                              << " instead of attri::Error: " << e.what();
                continue;
            }
            if (validMustParse && name.rfind("valid", 0) == 0) {
                bool anyOk = false;
                for (const Outcome& o : outcomes)
                    anyOk = anyOk || o.ok;
                EXPECT_TRUE(anyOk) << entry.path() << " is a valid seed but no entry point accepted it";
            }
            for (const Outcome& o : outcomes) {
                if (!o.ok) {
                    EXPECT_FALSE(o.error.empty()) << entry.path() << ": " << o.step << " gave an empty message";
                }
            }
        }
    }
    return files;
}

TEST(FuzzRegression, RegressionInputsAreRejectedCleanly)
{
    ASSERT_TRUE(fs::is_directory(fuzzDir() / "regressions")) << fuzzDir() / "regressions";
    const int files = replayTree(fuzzDir() / "regressions", false);
    RecordProperty("replayed", files);
}

TEST(FuzzRegression, SeedCorpusParsesOrIsRejectedCleanly)
{
    const int files = replayTree(fuzzDir() / "corpus", true);
    EXPECT_GE(files, 30) << "the committed seed corpus is missing from " << fuzzDir() / "corpus";
}

TEST(FuzzRegression, TorchScriptFixturesImport)
{
    for (const char* name : {"ts_mlp.pt", "ts_seq_cnn.pt", "ts_custom.pt"}) {
        const auto outcomes = replayTorchScript({}, test::fixture(name));
        ASSERT_EQ(outcomes.size(), 1u);
        EXPECT_TRUE(outcomes[0].ok) << name << ": " << outcomes[0].error;
    }
}

} // namespace
} // namespace attri
