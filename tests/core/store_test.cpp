#include "common/error.h"
#include "store/atomic_write.h"
#include "store/attribution_store.h"
#include "store/experiment_file.h"
#include "store/h5_file.h"
#include "support/test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

#include <sys/stat.h>
#include <csignal>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using attri::H5File;
using attri::test::TempDir;

namespace {

/// Runs `fn` and returns the message of the exception of type E it throws (fails otherwise).
template <typename E, typename Fn> std::string messageOf(Fn fn)
{
    try {
        fn();
    } catch (const E& e) {
        return e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "wrong exception type: " << e.what();
        return {};
    }
    ADD_FAILURE() << "no exception thrown";
    return {};
}

/// Files in `dir` whose name contains ".tmp-" (left-over atomic-write temporaries).
std::vector<std::string> tempFiles(const fs::path& dir)
{
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.path().filename().string().find(".tmp-") != std::string::npos)
            out.push_back(entry.path().filename().string());
    return out;
}

void writeSimpleFile(const std::string& path, double value)
{
    H5File f(path, H5File::Mode::Truncate);
    std::vector<double> v{value, value + 1};
    f.writeDoubles("/values", {2}, v.data());
    f.setAttr("/", "tag", "original");
}

attri::ParamTensor tensor(const std::string& name, std::vector<int64_t> shape, float start)
{
    attri::ParamTensor t;
    t.name = name;
    t.shape = std::move(shape);
    int64_t n = 1;
    for (int64_t d : t.shape)
        n *= d;
    for (int64_t i = 0; i < n; ++i)
        t.values.push_back(start + 0.5f * static_cast<float>(i));
    return t;
}

attri::ModelRecord fakeModelRecord()
{
    attri::ModelRecord r;
    r.architecture = attri::Architecture::Mlp;
    r.input = {1, 4, 4};
    r.numClasses = 3;
    attri::TrainRecipe recipe;
    recipe.optimizer = "adam";
    recipe.lr = 0.003;
    recipe.momentum = 0.5;
    recipe.batchSize = 16;
    recipe.epochs = 4;
    recipe.weightDecay = 1e-4;
    recipe.seed = 0xFEDCBA9876543210ULL; // ≥ 2^63: stored by bit pattern
    recipe.checkpoints = 2;
    r.recipe = recipe;
    for (int c = 0; c < 2; ++c) {
        attri::Checkpoint cp;
        cp.epoch = 2 * (c + 1);
        cp.step = 37 * (c + 1);
        cp.lr = 0.003 / (c + 1);
        // Deliberately not in name order: the stored `order` attribute must keep this order.
        cp.params = {tensor("fc2.weight", {3, 5}, float(c)), tensor("fc2.bias", {3}, 1.0f),
                     tensor("fc1.weight", {5, 16}, -1.0f), tensor("fc1.bias", {5}, 2.0f)};
        if (c == 1)
            cp.buffers = {tensor("bn.running_mean", {5}, 0.0f), tensor("bn.num_batches_tracked", {}, 7.0f)};
        r.checkpoints.push_back(cp);
    }
    r.epochLoss = {2.3, 1.1, 0.7, 0.5};
    r.trainMetrics = {0.9, 0.31};
    r.testMetrics = {0.8, 0.52};
    r.trainSeconds = 12.5;
    r.trainDevice = "cuda:1";
    r.trainThreads = 3;
    r.pathGaussNewtonTrace = {3.5, 2.0, 1.25};
    r.finalGaussNewtonTrace = 0.75;
    r.parameterCount = 15 + 3 + 80 + 5;
    return r;
}

attri::DataBundle fakeBundle()
{
    attri::DataBundle b;
    b.spec = "demo";
    b.name = "fashion-mnist";
    b.trainIndices = {3, 1, 4, 15, 92};
    b.testIndices = {6, 5};
    b.mean = {0.2860f};
    b.std = {0.3530f};
    b.numClasses = 3;
    b.classNames = {"T-shirt/top", "Café ☕", "Ankle boot"};
    b.contentHash = "abc123";
    return b;
}

attri::DataOptions fakeOptions()
{
    attri::DataOptions o;
    o.spec = "demo";
    o.trainSize = 5;
    o.testSize = -1;
    o.sampleSeed = 42;
    o.mean = {0.2860f};
    o.std = {0.3530f};
    return o;
}

void expectSameParams(const attri::ParamSet& a, const attri::ParamSet& b)
{
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].name, b[i].name);
        EXPECT_EQ(a[i].shape, b[i].shape) << a[i].name;
        EXPECT_EQ(a[i].values, b[i].values) << a[i].name;
    }
}

} // namespace

// ---------------------------------------------------------------------------------------------
// H5File

TEST(H5File, RoundTripsEveryDatasetType)
{
    TempDir dir;
    const std::string path = dir.file("types.h5");
    std::vector<float> f{1.5f, -2.25f, 3.0f, 4.0f, 5.0f, 6.125f};
    std::vector<double> d{1e-300, -2.5, 3.0};
    std::vector<int64_t> i{-(int64_t(1) << 62), 0, 7, 42};
    std::vector<uint8_t> u{0, 17, 255};
    {
        H5File file(path, H5File::Mode::Truncate);
        file.writeFloats("/a/floats", {2, 3}, f.data());
        file.writeDoubles("/a/b/doubles", {3}, d.data());
        file.writeInt64("/ints", {2, 2}, i.data());
        file.writeUInt8("/bytes", {3}, u.data());
        float scalar = 9.5f;
        file.writeFloats("/scalar", {}, &scalar);
        file.writeFloats("/empty", {0}, nullptr);
        file.close();
    }
    H5File file(path, H5File::Mode::ReadOnly);
    std::vector<int64_t> shape;
    EXPECT_EQ(file.readFloats("/a/floats", &shape), f);
    EXPECT_EQ(shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(file.readDoubles("/a/b/doubles"), d);
    EXPECT_EQ(file.readInt64("/ints", &shape), i);
    EXPECT_EQ(shape, (std::vector<int64_t>{2, 2}));
    EXPECT_EQ(file.readUInt8("/bytes"), u);
    EXPECT_EQ(file.readFloats("/scalar", &shape), std::vector<float>{9.5f});
    EXPECT_TRUE(shape.empty());
    EXPECT_TRUE(file.readFloats("/empty", &shape).empty());
    EXPECT_EQ(shape, std::vector<int64_t>{0});

    // Conversions between numeric types happen in HDF5.
    EXPECT_EQ(file.readDoubles("/bytes"), (std::vector<double>{0, 17, 255}));
    EXPECT_EQ(file.readInt64("/a/floats")[2], 3);
    EXPECT_EQ(file.readFloats("/ints")[3], 42.0f);

    auto info = file.info("/ints");
    EXPECT_EQ(info.kind, attri::H5DatasetInfo::Kind::Integer);
    EXPECT_EQ(info.elementBytes, 8);
    EXPECT_TRUE(info.isSigned);
    info = file.info("/bytes");
    EXPECT_EQ(info.kind, attri::H5DatasetInfo::Kind::Integer);
    EXPECT_FALSE(info.isSigned);
    EXPECT_EQ(file.info("/a/floats").kind, attri::H5DatasetInfo::Kind::Float);
    EXPECT_EQ(file.info("/a/floats").elementBytes, 4);
}

TEST(H5File, ReplacesDatasetsAndManagesGroups)
{
    TempDir dir;
    H5File file(dir.file("g.h5"), H5File::Mode::Truncate);
    std::vector<float> a{1, 2, 3};
    std::vector<float> b{4, 5};
    file.writeFloats("/x/data", {3}, a.data());
    file.writeFloats("/x/data", {2}, b.data());
    EXPECT_EQ(file.readFloats("/x/data"), b);

    file.createGroup("/p/q/r");
    file.createGroup("/p/q/r"); // idempotent
    file.createGroup("/p/a");
    EXPECT_TRUE(file.exists("/p/q/r"));
    EXPECT_TRUE(file.exists("/"));
    EXPECT_FALSE(file.exists("/p/nope/deeper"));
    EXPECT_EQ(file.children("/p"), (std::vector<std::string>{"a", "q"}));
    EXPECT_EQ(file.children("/"), (std::vector<std::string>{"p", "x"}));
    file.remove("/p/q");
    EXPECT_FALSE(file.exists("/p/q/r"));
    EXPECT_EQ(file.children("/p"), std::vector<std::string>{"a"});
    EXPECT_THROW(file.remove("/p/q"), attri::FormatError);
}

TEST(H5File, RoundTripsAttributesOfEveryType)
{
    TempDir dir;
    const std::string path = dir.file("attrs.h5");
    {
        H5File file(path, H5File::Mode::Truncate);
        file.createGroup("/g");
        std::vector<float> v{1};
        file.writeFloats("/g/ds", {1}, v.data());
        file.setAttr("/", "text", std::string("hello"));
        file.setAttr("/", "ctext", "world");
        file.setAttr("/g", "d", 2.5);
        file.setAttr("/g", "i", int64_t{-7});
        file.setAttr("/g", "plain_int", 3);
        file.setAttr("/g/ds", "ds", std::vector<double>{1.0, 2.0, 0.5});
        file.setAttr("/g/ds", "is", std::vector<int64_t>{3, 2, 1});
        file.setAttr("/g/ds", "names", std::vector<std::string>{"b.weight", "a.bias"});
        file.setAttr("/g", "empty_ints", std::vector<int64_t>{});
        file.setAttr("/g", "empty_names", std::vector<std::string>{});
        file.setAttr("/g", "d", 3.5); // replaced
        file.close();
    }
    H5File file(path, H5File::Mode::ReadOnly);
    EXPECT_EQ(file.attrString("/", "text"), "hello");
    EXPECT_EQ(file.attrString("/", "ctext"), "world");
    EXPECT_EQ(file.attrDouble("/g", "d"), 3.5);
    EXPECT_EQ(file.attrInt("/g", "i"), -7);
    EXPECT_EQ(file.attrInt("/g", "plain_int"), 3);
    EXPECT_EQ(file.attrDouble("/g", "i"), -7.0); // converted
    EXPECT_EQ(file.attrDoubles("/g/ds", "ds"), (std::vector<double>{1.0, 2.0, 0.5}));
    EXPECT_EQ(file.attrInts("/g/ds", "is"), (std::vector<int64_t>{3, 2, 1}));
    EXPECT_EQ(file.attrStrings("/g/ds", "names"), (std::vector<std::string>{"b.weight", "a.bias"}));
    EXPECT_TRUE(file.attrInts("/g", "empty_ints").empty());
    EXPECT_TRUE(file.attrStrings("/g", "empty_names").empty());
    EXPECT_TRUE(file.hasAttr("/g", "d"));
    EXPECT_FALSE(file.hasAttr("/g", "nope"));
    EXPECT_FALSE(file.hasAttr("/missing", "d"));

    std::string msg = messageOf<attri::FormatError>([&] { file.attrInt("/g", "nope"); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("/g"), std::string::npos) << msg;
    EXPECT_NE(msg.find("nope"), std::string::npos) << msg;
    msg = messageOf<attri::FormatError>([&] { file.attrString("/g", "d"); });
    EXPECT_NE(msg.find("not a string"), std::string::npos) << msg;
    EXPECT_THROW(file.attrInt("/", "text"), attri::FormatError);
}

TEST(H5File, StringsKeepNonAsciiText)
{
    TempDir dir;
    const std::string path = dir.file("strings.h5");
    const std::vector<std::string> values{"T-shirt/top", "Café ☕", "日本語", "", "Ωmega"};
    {
        H5File file(path, H5File::Mode::Truncate);
        file.writeStrings("/names", values);
        file.writeStrings("/none", {});
        file.setAttr("/", "title", "Über-Experiment — ünïcødé");
    }
    H5File file(path, H5File::Mode::ReadOnly);
    EXPECT_EQ(file.readStrings("/names"), values);
    EXPECT_TRUE(file.readStrings("/none").empty());
    EXPECT_EQ(file.attrString("/", "title"), "Über-Experiment — ünïcødé");
    EXPECT_EQ(file.info("/names").kind, attri::H5DatasetInfo::Kind::String);
    EXPECT_THROW(file.readFloats("/names"), attri::FormatError);
}

TEST(H5File, ChunkedMatrixRowsRoundTrip)
{
    TempDir dir;
    const std::string path = dir.file("matrix.h5");
    const int64_t rows = 10, cols = 4;
    auto value = [](int64_t r, int64_t c) { return static_cast<float>(100 * r + c); };
    {
        H5File file(path, H5File::Mode::Truncate);
        file.createFloatMatrix("/features/train", rows, cols, 3);
        // Written in uneven pieces that straddle chunk boundaries.
        for (int64_t first : {int64_t{0}, int64_t{4}, int64_t{7}}) {
            const int64_t count = first == 0 ? 4 : 3;
            std::vector<float> block;
            for (int64_t r = first; r < first + count; ++r)
                for (int64_t c = 0; c < cols; ++c)
                    block.push_back(value(r, c));
            file.writeRows("/features/train", first, count, block.data());
        }
        std::vector<float> one(cols, 0.0f);
        EXPECT_THROW(file.writeRows("/features/train", 9, 2, one.data()), attri::ConfigError);
        file.createFloatMatrix("/features/empty", 0, 4, 16);
        file.createFloatMatrix("/features/big_chunk", 2, 3, 1000); // chunk clamped to the extent
    }
    H5File file(path, H5File::Mode::ReadOnly);
    std::vector<int64_t> shape;
    std::vector<float> all = file.readFloats("/features/train", &shape);
    EXPECT_EQ(shape, (std::vector<int64_t>{rows, cols}));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            EXPECT_EQ(all[static_cast<size_t>(r * cols + c)], value(r, c));

    std::vector<float> part = file.readRows("/features/train", 2, 5, 2);
    ASSERT_EQ(part.size(), 10u);
    for (int64_t r = 0; r < 5; ++r)
        for (int64_t c = 0; c < 2; ++c)
            EXPECT_EQ(part[static_cast<size_t>(r * 2 + c)], value(r + 2, c));
    EXPECT_TRUE(file.readRows("/features/train", 10, 0, 4).empty());
    EXPECT_THROW(file.readRows("/features/train", 8, 3, 4), attri::ConfigError);
    EXPECT_THROW(file.readRows("/features/train", 0, 1, 5), attri::ConfigError);
    EXPECT_EQ(file.info("/features/empty").shape, (std::vector<int64_t>{0, 4}));
    EXPECT_EQ(file.info("/features/big_chunk").shape, (std::vector<int64_t>{2, 3}));
}

TEST(H5File, MissingFileIsAnIoErrorNamingIt)
{
    TempDir dir;
    const std::string path = dir.file("missing.h5");
    std::string msg = messageOf<attri::IoError>([&] { H5File f(path, H5File::Mode::ReadOnly); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_THROW(H5File(path, H5File::Mode::ReadWrite), attri::IoError);
    EXPECT_THROW(H5File(dir.file("no/such/folder/x.h5"), H5File::Mode::Truncate), attri::IoError);
}

TEST(H5File, NonHdf5FileIsAFormatError)
{
    TempDir dir;
    const std::string path = dir.file("notes.h5");
    attri::test::writeFile(path, "this is plain text, not HDF5\n");
    std::string msg = messageOf<attri::FormatError>([&] { H5File f(path, H5File::Mode::ReadOnly); });
    EXPECT_EQ(msg, path + " is not an HDF5 file");
}

TEST(H5File, MissingDatasetNamesFileAndObject)
{
    TempDir dir;
    const std::string path = dir.file("m.h5");
    {
        H5File file(path, H5File::Mode::Truncate);
        file.createGroup("/group");
    }
    H5File file(path, H5File::Mode::ReadOnly);
    std::string msg = messageOf<attri::FormatError>([&] { file.readFloats("/group/weights"); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("/group/weights"), std::string::npos) << msg;
    msg = messageOf<attri::FormatError>([&] { file.readFloats("/group"); });
    EXPECT_NE(msg.find("/group"), std::string::npos) << msg;
    EXPECT_THROW(file.children("/nothing"), attri::FormatError);
    EXPECT_THROW(file.info("/nothing"), attri::FormatError);
    // Writing to a read-only file fails with an IoError naming the object.
    std::vector<float> v{1};
    msg = messageOf<attri::IoError>([&] { file.writeFloats("/new", {1}, v.data()); });
    EXPECT_NE(msg.find("/new"), std::string::npos) << msg;
}

TEST(H5File, MovedAndClosedFiles)
{
    TempDir dir;
    H5File a(dir.file("a.h5"), H5File::Mode::Truncate);
    a.createGroup("/g");
    H5File b(std::move(a));
    EXPECT_TRUE(b.exists("/g"));
    b.close();
    b.close(); // twice is fine
    EXPECT_THROW(b.exists("/g"), attri::IoError);
    H5File c(dir.file("a.h5"), H5File::Mode::ReadWrite);
    EXPECT_TRUE(c.exists("/g"));
}

// ---------------------------------------------------------------------------------------------
// writeHdf5Atomically

TEST(AtomicWrite, SuccessReplacesTheFile)
{
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    writeSimpleFile(path, 1.0);
    attri::writeHdf5Atomically(path, false, [](H5File& f) {
        std::vector<double> v{10, 20, 30};
        f.writeDoubles("/other", {3}, v.data());
    });
    H5File f(path, H5File::Mode::ReadOnly);
    EXPECT_EQ(f.readDoubles("/other"), (std::vector<double>{10, 20, 30}));
    EXPECT_FALSE(f.exists("/values")); // truncated, not merged
    EXPECT_TRUE(tempFiles(dir.path()).empty());
}

TEST(AtomicWrite, StartFromExistingKeepsOtherContent)
{
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    writeSimpleFile(path, 1.0);
    ::chmod(path.c_str(), 0640);
    attri::writeHdf5Atomically(path, true, [](H5File& f) {
        EXPECT_EQ(f.readDoubles("/values"), (std::vector<double>{1.0, 2.0}));
        f.setAttr("/", "tag", "updated");
    });
    H5File f(path, H5File::Mode::ReadOnly);
    EXPECT_EQ(f.readDoubles("/values"), (std::vector<double>{1.0, 2.0}));
    EXPECT_EQ(f.attrString("/", "tag"), "updated");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u); // permissions of the replaced file kept
    // A missing file with startFromExisting simply starts empty.
    const std::string fresh = dir.file("fresh.h5");
    attri::writeHdf5Atomically(fresh, true, [](H5File& g) { g.createGroup("/new"); });
    EXPECT_TRUE(H5File(fresh, H5File::Mode::ReadOnly).exists("/new"));
    EXPECT_TRUE(tempFiles(dir.path()).empty());
}

TEST(AtomicWrite, ConcurrentUpdatesFromThreadsAndAProcessLoseNothing)
{
    // Each writer adds its own attributes, starting from the existing file, and dawdles inside
    // fill so that writes would overlap if they were not serialized (an overlapping pair copies
    // the same old file and the second rename drops the first one's attribute).
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    writeSimpleFile(path, 1.0);
    auto update = [&](const std::string& tag) {
        attri::writeHdf5Atomically(path, true, [&](H5File& f) {
            ::usleep(20000);
            f.setAttr("/", tag, tag);
        });
    };
    const int threads = 3, rounds = 3;
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        int code = 0;
        try {
            for (int r = 0; r < rounds; ++r)
                update("process_" + std::to_string(r));
        } catch (...) {
            code = 1;
        }
        ::_exit(code);
    }
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            for (int r = 0; r < rounds; ++r)
                update("thread" + std::to_string(t) + "_" + std::to_string(r));
        });
    for (auto& w : workers)
        w.join();
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    H5File f(path, H5File::Mode::ReadOnly);
    EXPECT_EQ(f.readDoubles("/values"), (std::vector<double>{1.0, 2.0}));
    for (int r = 0; r < rounds; ++r) {
        EXPECT_EQ(f.attrString("/", "process_" + std::to_string(r)), "process_" + std::to_string(r));
        for (int t = 0; t < threads; ++t) {
            const std::string tag = "thread" + std::to_string(t) + "_" + std::to_string(r);
            EXPECT_EQ(f.attrString("/", tag), tag);
        }
    }
    EXPECT_TRUE(tempFiles(dir.path()).empty());
}

TEST(AtomicWrite, FullDiskIsAnErrorAndThePreviousFileStays)
{
    // A file-size limit (RLIMIT_FSIZE, in a child process) stands in for a full disk: writes past
    // it fail with EFBIG, as they would with ENOSPC.
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    {
        H5File f(path, H5File::Mode::Truncate);
        std::vector<double> big(40000, 1.5); // 320 KB
        f.writeDoubles("/values", {40000}, big.data());
    }
    const std::string before = attri::test::readFile(path);
    for (const bool startFromExisting : {true, false}) {
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            ::signal(SIGXFSZ, SIG_IGN);
            struct rlimit limit {};
            limit.rlim_cur = limit.rlim_max = 100 * 1024;
            ::setrlimit(RLIMIT_FSIZE, &limit);
            int code = 3;
            try {
                attri::writeHdf5Atomically(path, startFromExisting, [](H5File& f) {
                    std::vector<double> more(60000, 2.5); // 480 KB: past the limit either way
                    f.writeDoubles("/more", {60000}, more.data());
                });
                code = 1; // no error: wrong
            } catch (const attri::Error& e) {
                code = std::string(e.what()).find(".tmp-") != std::string::npos
                               || std::string(e.what()).find(path) != std::string::npos
                           ? 0
                           : 2; // an error that names neither file
            } catch (...) {
                code = 4;
            }
            ::_exit(code);
        }
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 0) << "startFromExisting " << startFromExisting;
        EXPECT_EQ(attri::test::readFile(path), before);
        EXPECT_TRUE(tempFiles(dir.path()).empty());
    }
}

TEST(AtomicWrite, ExceptionInFillLeavesPreviousFileByteIdentical)
{
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    writeSimpleFile(path, 1.0);
    const std::string before = attri::test::readFile(path);
    for (bool fromExisting : {false, true}) {
        EXPECT_THROW(attri::writeHdf5Atomically(path, fromExisting,
                                                [](H5File& f) {
                                                    std::vector<double> v(1000, 3.0);
                                                    f.writeDoubles("/values", {1000}, v.data());
                                                    f.setAttr("/", "tag", "half-written");
                                                    throw std::runtime_error("boom");
                                                }),
                     std::runtime_error);
        EXPECT_EQ(attri::test::readFile(path), before);
        EXPECT_TRUE(tempFiles(dir.path()).empty());
    }
    H5File f(path, H5File::Mode::ReadOnly);
    EXPECT_EQ(f.attrString("/", "tag"), "original");
}

TEST(AtomicWrite, UnwritableFolderIsAnIoErrorBeforeAnyWork)
{
    TempDir dir;
    const fs::path folder = dir.path() / "locked";
    fs::create_directory(folder);
    ::chmod(folder.c_str(), 0555);
    // Root ignores folder permissions: detect that by trying.
    const std::string probe = (folder / "probe").string();
    if (std::FILE* p = std::fopen(probe.c_str(), "w")) {
        std::fclose(p);
        fs::remove(probe);
        ::chmod(folder.c_str(), 0755);
        GTEST_SKIP() << "folder permissions are not enforced (running as root?)";
    }
    bool called = false;
    std::string msg = messageOf<attri::IoError>([&] {
        attri::writeHdf5Atomically((folder / "exp.h5").string(), false, [&](H5File&) { called = true; });
    });
    ::chmod(folder.c_str(), 0755);
    EXPECT_FALSE(called);
    EXPECT_EQ(msg, "cannot write to folder " + folder.string() + ": Permission denied");
}

TEST(AtomicWrite, MissingFolderIsAnIoError)
{
    TempDir dir;
    const std::string path = dir.file("nowhere/exp.h5");
    std::string msg =
        messageOf<attri::IoError>([&] { attri::writeHdf5Atomically(path, false, [](H5File&) {}); });
    EXPECT_NE(msg.find("cannot write to folder"), std::string::npos) << msg;
    EXPECT_NE(msg.find("nowhere"), std::string::npos) << msg;
}

// AttriScope writes only regular files in the folder the user chose: a symbolic link planted
// where it writes (an experiment file, a study table) is refused, and its target is untouched;
// names it makes up itself must be plain file names.
TEST(AtomicWrite, SymbolicLinksAndPathNamesAreRefused)
{
    TempDir dir;
    const std::filesystem::path outside = std::filesystem::path(dir.path()) / "outside";
    const std::filesystem::path chosen = std::filesystem::path(dir.path()) / "chosen";
    std::filesystem::create_directories(outside);
    std::filesystem::create_directories(chosen);
    const std::string victim = (outside / "victim.txt").string();
    std::ofstream(victim) << "keep me";
    const std::string link = (chosen / "study.csv").string();
    std::filesystem::create_symlink(victim, link);

    std::string msg = messageOf<attri::IoError>([&] { attri::writeTextAtomically(link, "overwritten"); });
    EXPECT_NE(msg.find("refusing to write " + link + ": it is a symbolic link (to " + victim + ")"), std::string::npos)
        << msg;
    msg = messageOf<attri::IoError>([&] { attri::writeHdf5Atomically(link, false, [](H5File&) {}); });
    EXPECT_NE(msg.find("symbolic link"), std::string::npos) << msg;
    std::ifstream in(victim);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(content, "keep me");
    EXPECT_TRUE(std::filesystem::is_symlink(link));
    EXPECT_TRUE(tempFiles(chosen.string()).empty());

    // A regular file is replaced whole.
    const std::string table = (chosen / "table.csv").string();
    attri::writeTextAtomically(table, "a,b\n");
    attri::writeTextAtomically(table, "a,b\n1,2\n");
    std::ifstream t(table);
    std::string written((std::istreambuf_iterator<char>(t)), std::istreambuf_iterator<char>());
    EXPECT_EQ(written, "a,b\n1,2\n");
    EXPECT_TRUE(tempFiles(chosen.string()).empty());

    EXPECT_EQ(attri::fileInFolder(chosen.string(), "study.md"), (chosen / "study.md").string());
    for (const std::string bad : {"../victim.txt", "a/b.csv", "", ".", ".."})
        EXPECT_THROW(attri::fileInFolder(chosen.string(), bad), attri::IoError) << bad;
}

TEST(AtomicWrite, ProcessDyingInsideFillLeavesPreviousFileIntact)
{
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    writeSimpleFile(path, 1.0);
    const std::string before = attri::test::readFile(path);

    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // In the child: write real data into the temporary file, flush it, then die abruptly.
        try {
            attri::writeHdf5Atomically(path, true, [](H5File& f) {
                std::vector<double> v(100000, 5.0);
                f.writeDoubles("/values", {100000}, v.data());
                f.setAttr("/", "tag", "crashed");
                ::_exit(9);
            });
        } catch (...) {
        }
        ::_exit(1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 9);

    EXPECT_EQ(attri::test::readFile(path), before);
    H5File f(path, H5File::Mode::ReadOnly);
    EXPECT_EQ(f.attrString("/", "tag"), "original");
    EXPECT_EQ(f.readDoubles("/values"), (std::vector<double>{1.0, 2.0}));
    // The dead process's temporary file stays behind (nobody could remove it), hidden by its dot.
    const auto temps = tempFiles(dir.path());
    ASSERT_EQ(temps.size(), 1u);
    EXPECT_EQ(temps[0].rfind(".exp.h5.tmp-" + std::to_string(child) + "-", 0), 0u) << temps[0];
}

// ---------------------------------------------------------------------------------------------
// Experiment files

TEST(ExperimentFile, DataRecordRoundTrips)
{
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    const attri::DataBundle bundle = fakeBundle();
    attri::DataOptions options = fakeOptions();
    options.sampleSeed = 0xF000000000000001ULL; // ≥ 2^63 round-trips by bit pattern
    attri::writeHdf5Atomically(path, false, [&](H5File& f) { attri::writeDataRecord(f, bundle, options); });

    H5File f(path, H5File::Mode::ReadOnly);
    attri::checkExperimentFile(f);
    EXPECT_EQ(f.attrInt("/", "schema_version"), attri::kSchemaVersion);
    EXPECT_EQ(f.attrString("/", "format"), "attriscope-experiment");
    EXPECT_EQ(f.attrString("/", "created_by"), std::string("AttriScope ") + ATTRI_VERSION);
    EXPECT_EQ(f.attrString("/", "created_at").size(), 20u); // 2024-01-02T03:04:05Z
    EXPECT_EQ(f.attrString("/data", "conventions"), "images float32 in [0,1] then (x-mean)/std");

    const attri::DataRecord r = attri::readDataRecord(f);
    EXPECT_EQ(r.options.spec, "demo");
    EXPECT_EQ(r.options.trainSize, 5);
    EXPECT_EQ(r.options.testSize, -1);
    ASSERT_TRUE(r.options.sampleSeed.has_value());
    EXPECT_EQ(*r.options.sampleSeed, 0xF000000000000001ULL);
    EXPECT_EQ(r.options.mean, bundle.mean);
    EXPECT_EQ(r.options.std, bundle.std);
    EXPECT_EQ(r.trainIndices, bundle.trainIndices);
    EXPECT_EQ(r.testIndices, bundle.testIndices);
    EXPECT_EQ(r.name, "fashion-mnist");
    EXPECT_EQ(r.numClasses, 3);
    EXPECT_EQ(r.classNames, bundle.classNames);
    EXPECT_EQ(r.contentHash, "abc123");
}

TEST(ExperimentFile, DataRecordWithoutSeedOrNormalization)
{
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    attri::DataBundle bundle = fakeBundle();
    bundle.mean.clear();
    bundle.std.clear();
    attri::DataOptions options = fakeOptions();
    options.sampleSeed.reset();
    options.mean.clear();
    options.std.clear();
    attri::writeHdf5Atomically(path, false, [&](H5File& f) { attri::writeDataRecord(f, bundle, options); });
    H5File f(path, H5File::Mode::ReadOnly);
    EXPECT_EQ(f.attrInt("/data", "sample_seed"), -1);
    EXPECT_EQ(f.info("/data/mean").shape, std::vector<int64_t>{0});
    const attri::DataRecord r = attri::readDataRecord(f);
    EXPECT_FALSE(r.options.sampleSeed.has_value());
    EXPECT_TRUE(r.options.mean.empty());
    EXPECT_TRUE(r.options.std.empty());
}

TEST(ExperimentFile, ModelRecordRoundTrips)
{
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    const attri::ModelRecord m = fakeModelRecord();
    attri::createExperimentFile(path, fakeBundle(), fakeOptions(), m);

    H5File f(path, H5File::Mode::ReadOnly);
    attri::checkExperimentFile(f);
    EXPECT_EQ(f.children("/model/checkpoints"), (std::vector<std::string>{"0000", "0001"}));
    // HDF5 sorts children by name; the order attribute keeps the model's order.
    EXPECT_EQ(f.children("/model/checkpoints/0000/params"),
              (std::vector<std::string>{"fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"}));

    const attri::ModelRecord r = attri::readModelRecord(f);
    EXPECT_EQ(r.architecture, attri::Architecture::Mlp);
    EXPECT_EQ(r.input, m.input);
    EXPECT_EQ(r.numClasses, 3);
    EXPECT_EQ(r.torchscriptPath, "");
    EXPECT_EQ(r.torchscriptSha256, "");
    ASSERT_TRUE(r.recipe.has_value());
    EXPECT_EQ(r.recipe->optimizer, "adam");
    EXPECT_EQ(r.recipe->lr, 0.003);
    EXPECT_EQ(r.recipe->momentum, 0.5);
    EXPECT_EQ(r.recipe->batchSize, 16);
    EXPECT_EQ(r.recipe->epochs, 4);
    EXPECT_EQ(r.recipe->weightDecay, 1e-4);
    EXPECT_EQ(r.recipe->seed, 0xFEDCBA9876543210ULL);
    EXPECT_EQ(r.recipe->checkpoints, 2);
    EXPECT_EQ(r.epochLoss, m.epochLoss);
    EXPECT_EQ(r.trainMetrics.accuracy, 0.9);
    EXPECT_EQ(r.trainMetrics.meanLoss, 0.31);
    EXPECT_EQ(r.testMetrics.accuracy, 0.8);
    EXPECT_EQ(r.testMetrics.meanLoss, 0.52);
    EXPECT_EQ(r.trainSeconds, 12.5);
    EXPECT_EQ(r.trainDevice, "cuda:1");
    EXPECT_EQ(r.trainThreads, 3);
    EXPECT_EQ(r.pathGaussNewtonTrace, m.pathGaussNewtonTrace);
    EXPECT_EQ(r.finalGaussNewtonTrace, 0.75);
    EXPECT_EQ(r.parameterCount, m.parameterCount);
    ASSERT_EQ(r.checkpoints.size(), 2u);
    for (size_t c = 0; c < 2; ++c) {
        EXPECT_EQ(r.checkpoints[c].epoch, m.checkpoints[c].epoch);
        EXPECT_EQ(r.checkpoints[c].step, m.checkpoints[c].step);
        EXPECT_EQ(r.checkpoints[c].lr, m.checkpoints[c].lr);
        expectSameParams(r.checkpoints[c].params, m.checkpoints[c].params);
        expectSameParams(r.checkpoints[c].buffers, m.checkpoints[c].buffers);
    }
    // The data record is there too.
    EXPECT_EQ(attri::readDataRecord(f).trainIndices, fakeBundle().trainIndices);
}

// An lbfgs recipe keeps its tolerance and the run its final gradient; a file without them (written
// before lbfgs existed) reads the default tolerance and no gradient.
TEST(ExperimentFile, LbfgsToleranceAndFinalGradientRoundTrip)
{
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    attri::ModelRecord m = fakeModelRecord();
    m.recipe->optimizer = "lbfgs";
    m.recipe->lr = 1.0;
    m.recipe->momentum = 0.0;
    m.recipe->tolerance = 3e-6;
    m.gradientMaxAbs = 2.5e-6;
    attri::createExperimentFile(path, fakeBundle(), fakeOptions(), m);
    {
        H5File f(path, H5File::Mode::ReadOnly);
        const attri::ModelRecord r = attri::readModelRecord(f);
        ASSERT_TRUE(r.recipe.has_value());
        EXPECT_EQ(r.recipe->optimizer, "lbfgs");
        EXPECT_EQ(r.recipe->tolerance, 3e-6);
        EXPECT_EQ(r.gradientMaxAbs, 2.5e-6);
        EXPECT_NO_THROW(r.recipe->validate());
    }
    const std::string text = attri::describeExperimentFile(path);
    EXPECT_NE(text.find("tolerance 3e-06"), std::string::npos) << text;
    EXPECT_NE(text.find("final gradient max |g| 2.5e-06"), std::string::npos) << text;

    // tests/fixtures/legacy_experiment_v1.h5 was written before tolerance existed.
    H5File f(attri::test::fixture("legacy_experiment_v1.h5"), H5File::Mode::ReadOnly);
    ASSERT_FALSE(f.hasAttr("/model/recipe", "tolerance"));
    const attri::ModelRecord r = attri::readModelRecord(f);
    ASSERT_TRUE(r.recipe.has_value());
    EXPECT_EQ(r.recipe->tolerance, attri::kDefaultTolerance);
    EXPECT_NO_THROW(r.recipe->validate());
    EXPECT_TRUE(std::isnan(r.gradientMaxAbs));
}

TEST(ExperimentFile, ImportedModelWithoutRecipe)
{
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    attri::ModelRecord m = fakeModelRecord();
    m.architecture = attri::Architecture::TorchScript;
    m.torchscriptPath = "/models/net ü.pt";
    m.torchscriptSha256 = std::string(64, 'a');
    m.recipe.reset();
    m.epochLoss.clear();
    m.checkpoints.resize(1);
    m.trainDevice.clear(); // not trained here: no train_device or train_threads attribute
    m.trainThreads = 0;
    attri::createExperimentFile(path, fakeBundle(), fakeOptions(), m);
    H5File f(path, H5File::Mode::ReadOnly);
    EXPECT_FALSE(f.exists("/model/recipe"));
    EXPECT_FALSE(f.hasAttr("/model", "train_device"));
    EXPECT_FALSE(f.hasAttr("/model", "train_threads"));
    const attri::ModelRecord r = attri::readModelRecord(f);
    EXPECT_EQ(r.trainThreads, 0);
    EXPECT_EQ(r.architecture, attri::Architecture::TorchScript);
    EXPECT_FALSE(r.recipe.has_value());
    EXPECT_EQ(r.torchscriptPath, "/models/net ü.pt");
    EXPECT_EQ(r.torchscriptSha256, std::string(64, 'a'));
    EXPECT_TRUE(r.epochLoss.empty());
    ASSERT_EQ(r.checkpoints.size(), 1u);
    expectSameParams(r.checkpoints[0].params, m.checkpoints[0].params);
}

TEST(ExperimentFile, RewritingOneRecordKeepsTheOther)
{
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    attri::createExperimentFile(path, fakeBundle(), fakeOptions(), fakeModelRecord());
    std::string createdAt = H5File(path, H5File::Mode::ReadOnly).attrString("/", "created_at");
    attri::ModelRecord m = fakeModelRecord();
    m.trainSeconds = 99.0;
    m.checkpoints.resize(1);
    attri::writeHdf5Atomically(path, true, [&](H5File& f) { attri::writeModelRecord(f, m); });
    H5File f(path, H5File::Mode::ReadOnly);
    EXPECT_EQ(attri::readModelRecord(f).trainSeconds, 99.0);
    EXPECT_EQ(attri::readModelRecord(f).checkpoints.size(), 1u);
    EXPECT_EQ(attri::readDataRecord(f).contentHash, "abc123");
    EXPECT_EQ(f.attrString("/", "created_at"), createdAt);
}

TEST(ExperimentFile, CheckRejectsForeignAndNewerFiles)
{
    TempDir dir;
    const std::string foreign = dir.file("foreign.h5");
    {
        H5File f(foreign, H5File::Mode::Truncate);
        std::vector<float> v{1, 2};
        f.writeFloats("/images", {2}, v.data());
    }
    {
        H5File f(foreign, H5File::Mode::ReadOnly);
        std::string msg = messageOf<attri::FormatError>([&] { attri::checkExperimentFile(f); });
        EXPECT_EQ(msg, foreign + " is not an AttriScope experiment file (no schema_version)");
        msg = messageOf<attri::FormatError>([&] { attri::readModelRecord(f); });
        EXPECT_NE(msg.find(foreign), std::string::npos) << msg;
        EXPECT_NE(msg.find("/model"), std::string::npos) << msg;
    }

    const std::string newer = dir.file("newer.h5");
    attri::createExperimentFile(newer, fakeBundle(), fakeOptions(), fakeModelRecord());
    attri::writeHdf5Atomically(
        newer, true, [](H5File& f) { f.setAttr("/", "schema_version", attri::kSchemaVersion + 1); });
    H5File f(newer, H5File::Mode::ReadOnly);
    std::string msg = messageOf<attri::FormatError>([&] { attri::checkExperimentFile(f); });
    EXPECT_NE(msg.find(newer), std::string::npos) << msg;
    EXPECT_NE(msg.find("schema version " + std::to_string(attri::kSchemaVersion + 1)), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("reads schema versions up to " + std::to_string(attri::kSchemaVersion)),
              std::string::npos)
        << msg;
}

TEST(ExperimentFile, DescribeSummarizesEverything)
{
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    attri::createExperimentFile(path, fakeBundle(), fakeOptions(), fakeModelRecord());
    attri::writeHdf5Atomically(path, true, [](H5File& f) {
        f.createFloatMatrix("/features/lr/train", 5, 8, 2);
        f.createGroup("/attribution/tracin");
    });
    const std::string text = attri::describeExperimentFile(path);
    for (const char* expected :
         {"schema version 1", "spec demo", "5 training points", "2 test points", "sample seed 42", "abc123",
          "architecture mlp", "input 1×4×4", "adam", "seed 18364758544493064720", "2 checkpoint(s)",
          "features/", "lr/ (1 entry)", "train  5×8 float", "attribution/", "tracin/"})
        EXPECT_NE(text.find(expected), std::string::npos) << "missing '" << expected << "' in:\n" << text;

    // Robust to a file holding nothing of ours.
    const std::string bare = dir.file("bare.h5");
    H5File(bare, H5File::Mode::Truncate).createGroup("/stuff");
    const std::string bareText = attri::describeExperimentFile(bare);
    EXPECT_NE(bareText.find("data: none"), std::string::npos) << bareText;
    EXPECT_NE(bareText.find("stuff/"), std::string::npos) << bareText;
}

TEST(ExperimentFile, ReadableByH5py)
{
    std::string probe;
    if (attri::test::runCommand("/usr/bin/python3 -c 'import h5py'", &probe) != 0)
        GTEST_SKIP() << "/usr/bin/python3 cannot import h5py: " << probe;
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    attri::createExperimentFile(path, fakeBundle(), fakeOptions(), fakeModelRecord());
    const std::string script = "import h5py, sys\n"
                               "f = h5py.File(sys.argv[1], 'r')\n"
                               "print('schema', int(f.attrs['schema_version']))\n"
                               "print('arch', f['model'].attrs['architecture'])\n"
                               "print('shape', f['model/checkpoints/0001/params/fc1.weight'].shape)\n"
                               "print('order', list(f['model/checkpoints/0001/params'].attrs['order']))\n"
                               "print('classes', list(f['data/class_names'].asstr()[()]))\n";
    const std::string scriptPath = dir.file("read.py");
    attri::test::writeFile(scriptPath, script);
    std::string out;
    const int rc = attri::test::runCommand("/usr/bin/python3 '" + scriptPath + "' '" + path + "'", &out);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("schema 1\n"), std::string::npos) << out;
    EXPECT_NE(out.find("arch mlp\n"), std::string::npos) << out;
    EXPECT_NE(out.find("shape (5, 16)\n"), std::string::npos) << out;
    EXPECT_NE(out.find("order ['fc2.weight', 'fc2.bias', 'fc1.weight', 'fc1.bias']"), std::string::npos)
        << out;
    EXPECT_NE(out.find("Café ☕"), std::string::npos) << out;
}

TEST(ExperimentFile, ReloadDataSelectsStoredRowsAndChecksTheHash)
{
    attri::DataOptions options;
    options.spec = "demo";
    options.trainSize = 40;
    options.testSize = 12;
    options.sampleSeed = 7;
    options.mean = {0.25f};
    options.std = {0.5f};
    attri::DataBundle bundle;
    try {
        bundle = attri::loadData(options);
    } catch (const attri::Error& e) {
        GTEST_SKIP() << "the demo dataset is not available: " << e.what();
    }
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    attri::writeHdf5Atomically(path, false, [&](H5File& f) { attri::writeDataRecord(f, bundle, options); });
    attri::DataRecord record = attri::readDataRecord(H5File(path, H5File::Mode::ReadOnly));

    const attri::DataBundle again = attri::reloadData(record);
    EXPECT_EQ(again.spec, bundle.spec);
    EXPECT_EQ(again.trainIndices, bundle.trainIndices);
    EXPECT_EQ(again.testIndices, bundle.testIndices);
    EXPECT_EQ(again.contentHash, bundle.contentHash);
    EXPECT_EQ(again.train.images, bundle.train.images);
    EXPECT_EQ(again.train.labels, bundle.train.labels);
    EXPECT_EQ(again.test.images, bundle.test.images);
    EXPECT_EQ(again.classNames, bundle.classNames);
    EXPECT_EQ(again.mean, bundle.mean);

    record.contentHash = std::string(64, '0');
    std::string msg = messageOf<attri::FormatError>([&] { attri::reloadData(record); });
    EXPECT_NE(msg.find("dataset files changed since the experiment was made"), std::string::npos) << msg;
    record.trainIndices.push_back(1 << 30);
    EXPECT_THROW(attri::reloadData(record), attri::FormatError);
}

TEST(ExperimentFile, RebuildModelRestoresCheckpointParameters)
{
    attri::Model original = attri::Model::create(attri::Architecture::Mlp, {1, 8, 8}, 4, 11);
    attri::ModelRecord record;
    record.architecture = attri::Architecture::Mlp;
    record.input = {1, 8, 8};
    record.numClasses = 4;
    record.parameterCount = original.parameterCount();
    attri::Checkpoint first;
    first.epoch = 1;
    first.params = attri::Model::create(attri::Architecture::Mlp, {1, 8, 8}, 4, 99).parameters();
    attri::Checkpoint last;
    last.epoch = 2;
    last.params = original.parameters();
    last.buffers = original.buffers();
    record.checkpoints = {first, last};

    TempDir dir;
    const std::string path = dir.file("exp.h5");
    attri::createExperimentFile(path, fakeBundle(), fakeOptions(), record);
    const attri::ModelRecord stored = attri::readModelRecord(H5File(path, H5File::Mode::ReadOnly));

    expectSameParams(attri::rebuildModel(stored).parameters(), original.parameters());
    expectSameParams(attri::rebuildModel(stored, 0).parameters(), first.params);
    EXPECT_THROW(attri::rebuildModel(stored, 2), attri::ConfigError);
}

// The recommendation layout has one writer and one reader (CLI and GUI both use them).
TEST(AttributionStore, RecommendationRoundTrip)
{
    attri::test::TempDir dir;
    const std::string path = dir.file("rec.h5");
    attri::RecommendationRecord r;
    r.method = "trak";
    r.k = 1024;
    r.rule = "dynamics-prior";
    r.lambda = 2.5e5;
    r.relativeLambda = 0.04;
    r.convention = "sum";
    r.inputs = "1/(eta_eff*T)";
    r.seconds = 1e-5;
    r.ldsAtRecommended = 0.36;
    r.ldsRatioLow = 0.81;
    r.ldsRatioHigh = 0.99;
    r.featureScale = 310.5;
    r.curvatureRatio = 12.25;
    r.pathStability = 0.0825;
    r.lambdas = {1.0, 10.0, 100.0};
    {
        attri::H5File file(path, attri::H5File::Mode::Truncate);
        attri::writeRecommendation(file, r);
        r.k = 256;
        r.meanXi = {0.1, 0.3, 0.2};
        attri::writeRecommendation(file, r);
    }
    attri::H5File file(path, attri::H5File::Mode::ReadOnly);
    std::vector<attri::RecommendationRecord> all = attri::listRecommendations(file);
    ASSERT_EQ(all.size(), 2u);
    const auto& k1024 = all[0].k == 1024 ? all[0] : all[1];
    const auto& k256 = all[0].k == 256 ? all[0] : all[1];
    EXPECT_EQ(k1024.method, "trak");
    EXPECT_EQ(k1024.rule, "dynamics-prior");
    EXPECT_DOUBLE_EQ(k1024.lambda, 2.5e5);
    EXPECT_EQ(k1024.convention, "sum");
    EXPECT_DOUBLE_EQ(k1024.ldsAtRecommended, 0.36);
    EXPECT_DOUBLE_EQ(k1024.featureScale, 310.5);
    EXPECT_DOUBLE_EQ(k1024.curvatureRatio, 12.25);
    EXPECT_DOUBLE_EQ(k1024.pathStability, 0.0825);
    EXPECT_TRUE(std::isnan(k1024.ldsGridBest));
    EXPECT_DOUBLE_EQ(k1024.ldsRatioLow, 0.81);
    EXPECT_DOUBLE_EQ(k1024.ldsRatioHigh, 0.99);
    EXPECT_EQ(k1024.lambdas, (std::vector<double>{1.0, 10.0, 100.0}));
    EXPECT_TRUE(k1024.meanXi.empty());
    EXPECT_EQ(k256.meanXi, (std::vector<double>{0.1, 0.3, 0.2}));
}

TEST(AttributionStore, FeatureRecordRoundTripsItsProvenance)
{
    TempDir dir;
    const std::string path = dir.file("features.h5");
    attri::FeatureRecord r;
    r.target = attri::FeatureTarget::Margin;
    r.projection = attri::ProjectionKind::Kronecker;
    r.dimension = 3;
    r.fullDimension = 30;
    r.seed = 7;
    r.layers = "fc";
    r.gradientSqNormMean = 2.5;
    r.gradientNormSamples = 4;
    r.device = "cuda:0";
    r.trainCount = 4;
    r.testCount = 2;
    r.trainStats = {{0.1f, 0.2f, 0.3f, 0.4f}, {0.9f, 0.8f, 0.7f, 0.6f}};
    r.testStats = {{0.5f, 0.6f}, {0.5f, 0.4f}};
    r.key = attri::featureKey(r.target, r.projection, r.dimension, r.seed, r.layers, 0);
    attri::RowMatrixF train = attri::RowMatrixF::Random(4, 3), test = attri::RowMatrixF::Random(2, 3);
    {
        H5File f(path, H5File::Mode::Truncate);
        attri::createFeatureGroup(f, r);
        // Not complete until the stats are written: a half-written group is not a record.
        EXPECT_FALSE(attri::findFeatureRecord(f, r.key).has_value());
        attri::writeFeatureRows(f, r.key, "train", 0, train);
        attri::writeFeatureRows(f, r.key, "test", 0, test);
        attri::writeFeatureStats(f, r);
    }
    H5File f(path, H5File::Mode::ReadOnly);
    const auto back = attri::findFeatureRecord(f, r.key);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->device, "cuda:0");
    EXPECT_EQ(back->gradientSqNormMean, 2.5);
    EXPECT_EQ(back->gradientNormSamples, 4);
    EXPECT_EQ(back->layers, "fc");
    EXPECT_EQ(back->trainStats.trueProb, r.trainStats.trueProb);
    EXPECT_TRUE(attri::readFeatures(f, r.key, "train") == train);
    EXPECT_TRUE(attri::readFeatures(f, r.key, "test", 2) == test.leftCols(2));
}
