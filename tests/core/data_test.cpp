#include "common/error.h"
#include "data/cifar_reader.h"
#include "data/data_loader.h"
#include "data/dataset_spec.h"
#include "data/hdf5_dataset_reader.h"
#include "data/idx_reader.h"
#include "store/h5_file.h"
#include "support/test_support.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <stdexcept>

namespace attri {
namespace {

using test::TempDir;
using test::writeFile;

// ---------------------------------------------------------------------------------------------
// Synthetic files

std::string bigEndian(uint32_t v)
{
    std::string s(4, '\0');
    s[0] = static_cast<char>(v >> 24);
    s[1] = static_cast<char>(v >> 16);
    s[2] = static_cast<char>(v >> 8);
    s[3] = static_cast<char>(v);
    return s;
}

/// Pixel i of image n of a synthetic set: distinct, deterministic bytes.
uint8_t pixel(int64_t n, int64_t i)
{
    return static_cast<uint8_t>((n * 31 + i * 7) % 256);
}

std::string idxImages(uint32_t count, uint32_t h, uint32_t w)
{
    std::string s = bigEndian(0x803) + bigEndian(count) + bigEndian(h) + bigEndian(w);
    for (uint32_t n = 0; n < count; ++n)
        for (uint32_t i = 0; i < h * w; ++i)
            s.push_back(static_cast<char>(pixel(n, i)));
    return s;
}

std::string idxLabels(const std::vector<int>& labels)
{
    std::string s = bigEndian(0x801) + bigEndian(static_cast<uint32_t>(labels.size()));
    for (int l : labels)
        s.push_back(static_cast<char>(l));
    return s;
}

/// Labels 0, 1, …, 9, 0, 1, … .
std::vector<int> cyclicLabels(int count)
{
    std::vector<int> labels;
    for (int i = 0; i < count; ++i)
        labels.push_back(i % 10);
    return labels;
}

void writeGz(const std::string& path, const std::string& bytes)
{
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
    ASSERT_EQ(gzclose(f), Z_OK);
}

/// An MNIST-style directory: `train` training and `test` test images of 4×5.
void writeMnistDir(const std::string& dir, int train, int test, bool gz)
{
    auto put = [&](const std::string& name, const std::string& bytes) {
        if (gz)
            writeGz(dir + "/" + name + ".gz", bytes);
        else
            writeFile(dir + "/" + name, bytes);
    };
    std::filesystem::create_directories(dir);
    put("train-images-idx3-ubyte", idxImages(train, 4, 5));
    put("train-labels-idx1-ubyte", idxLabels(cyclicLabels(train)));
    put("t10k-images-idx3-ubyte", idxImages(test, 4, 5));
    put("t10k-labels-idx1-ubyte", idxLabels(cyclicLabels(test)));
}

/// Runs `f`, expects an exception of type E whose message contains every one of `parts`.
template <typename E, typename F> void expectError(F&& f, std::initializer_list<std::string> parts)
{
    try {
        f();
        ADD_FAILURE() << "no exception thrown";
    } catch (const E& e) {
        const std::string message = e.what();
        for (const auto& part : parts)
            EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
    } catch (const std::exception& e) {
        ADD_FAILURE() << "wrong exception type: " << e.what();
    }
}

// ---------------------------------------------------------------------------------------------
// IDX

TEST(IdxReader, RawRoundTrip)
{
    TempDir dir;
    writeFile(dir.file("img"), idxImages(3, 4, 5));
    writeFile(dir.file("lab"), idxLabels({7, 0, 9}));
    const ImageSet set = readIdxPair(dir.file("img"), dir.file("lab"));
    EXPECT_EQ(set.count, 3);
    EXPECT_EQ(set.channels, 1);
    EXPECT_EQ(set.height, 4);
    EXPECT_EQ(set.width, 5);
    ASSERT_EQ(set.images.size(), 60u);
    EXPECT_EQ(set.labels, (std::vector<int64_t>{7, 0, 9}));
    for (int64_t n = 0; n < 3; ++n)
        for (int64_t i = 0; i < 20; ++i)
            EXPECT_FLOAT_EQ(set.images[n * 20 + i], pixel(n, i) / 255.0f);
}

TEST(IdxReader, GzRoundTripMatchesRaw)
{
    TempDir dir;
    writeFile(dir.file("img"), idxImages(6, 3, 2));
    writeFile(dir.file("lab"), idxLabels({1, 2, 3, 4, 5, 6}));
    writeGz(dir.file("img.gz"), idxImages(6, 3, 2));
    writeGz(dir.file("lab.gz"), idxLabels({1, 2, 3, 4, 5, 6}));
    const ImageSet raw = readIdxPair(dir.file("img"), dir.file("lab"));
    const ImageSet gz = readIdxPair(dir.file("img.gz"), dir.file("lab.gz"));
    EXPECT_EQ(gz.count, 6);
    EXPECT_EQ(gz.images, raw.images);
    EXPECT_EQ(gz.labels, raw.labels);
}

TEST(IdxReader, BufferGzAndRaw)
{
    TempDir dir;
    const std::string bytes = idxImages(2, 2, 2);
    writeGz(dir.file("img.gz"), bytes);
    const std::string gz = test::readFile(dir.file("img.gz"));
    ASSERT_NE(gz, bytes);
    for (const std::string* buffer : {&gz, &bytes}) {
        const IdxArray a = readIdxBuffer(buffer->data(), buffer->size(), "buf", kIdxImagesMagic);
        EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 2, 2}));
        EXPECT_EQ(std::string(a.data.begin(), a.data.end()), bytes.substr(16));
    }
    // A truncated gzip stream is a FormatError naming the buffer.
    const std::string cut = gz.substr(0, gz.size() / 2);
    expectError<FormatError>([&] { readIdxBuffer(cut.data(), cut.size(), "cutbuf", kIdxImagesMagic); },
                             {"cutbuf"});
}

TEST(IdxReader, WrongMagic)
{
    TempDir dir;
    writeFile(dir.file("labels-as-images"), idxLabels({1, 2}));
    expectError<FormatError>([&] { readIdxFile(dir.file("labels-as-images"), kIdxImagesMagic); },
                             {"labels-as-images", "wrong magic", "0x00000801", "0x00000803"});
    writeGz(dir.file("images.gz"), idxImages(1, 2, 2));
    expectError<FormatError>([&] { readIdxFile(dir.file("images.gz"), kIdxLabelsMagic); },
                             {"images.gz", "wrong magic"});
}

TEST(IdxReader, TooShortForHeader)
{
    TempDir dir;
    writeFile(dir.file("tiny"), std::string("\0\0", 2));
    expectError<FormatError>([&] { readIdxFile(dir.file("tiny"), kIdxImagesMagic); }, {"tiny", "too short"});
    writeFile(dir.file("halfheader"), bigEndian(0x803) + bigEndian(5));
    expectError<FormatError>([&] { readIdxFile(dir.file("halfheader"), kIdxImagesMagic); },
                             {"halfheader", "truncated header"});
}

TEST(IdxReader, TruncatedRawAndGz)
{
    TempDir dir;
    const std::string full = idxImages(10, 28, 28);
    const std::string cut = full.substr(0, 16 + 1234);
    writeFile(dir.file("train-images-idx3-ubyte"), cut);
    writeGz(dir.file("train-images-idx3-ubyte.gz"), cut);
    for (const char* name : {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"})
        expectError<FormatError>(
            [&] { readIdxFile(dir.file(name), kIdxImagesMagic); },
            {name, "truncated", "promises 10 images of 28×28 (7840 bytes)", "holds 1234"});
    writeFile(dir.file("labels"), idxLabels({1, 2, 3}).substr(0, 9));
    expectError<FormatError>([&] { readIdxFile(dir.file("labels"), kIdxLabelsMagic); },
                             {"labels", "truncated", "3 labels", "holds 1"});
}

TEST(IdxReader, TrailingBytes)
{
    TempDir dir;
    writeFile(dir.file("long"), idxLabels({1, 2}) + "xyz");
    expectError<FormatError>([&] { readIdxFile(dir.file("long"), kIdxLabelsMagic); }, {"long", "more data"});
}

TEST(IdxReader, AbsurdHeaderDoesNotAllocate)
{
    TempDir dir;
    // 4e9 × 4e9 × 4e9 bytes: rejected from the header alone.
    writeFile(dir.file("absurd"), bigEndian(0x803) + bigEndian(4000000000u) + bigEndian(4000000000u)
                                      + bigEndian(4000000000u) + "abc");
    expectError<FormatError>([&] { readIdxFile(dir.file("absurd"), kIdxImagesMagic); }, {"absurd", "absurd"});
    // 1e6 × 1000 × 1000 = 1 TB promised, 100 bytes present: reported as truncation, without ever
    // allocating the promise (that would throw bad_alloc or exhaust the machine).
    const std::string crafted =
        bigEndian(0x803) + bigEndian(1000000) + bigEndian(1000) + bigEndian(1000) + std::string(100, 'x');
    writeFile(dir.file("crafted"), crafted);
    writeGz(dir.file("crafted.gz"), crafted);
    for (const char* name : {"crafted", "crafted.gz"})
        expectError<FormatError>([&] { readIdxFile(dir.file(name), kIdxImagesMagic); },
                                 {name, "truncated", "1000000000000 bytes", "holds 100"});
    // Zero height is as meaningless.
    writeFile(dir.file("zero"), bigEndian(0x803) + bigEndian(1) + bigEndian(0) + bigEndian(5));
    expectError<FormatError>([&] { readIdxFile(dir.file("zero"), kIdxImagesMagic); },
                             {"zero", "zero dimension"});
}

TEST(IdxReader, CountMismatch)
{
    TempDir dir;
    writeFile(dir.file("imgs"), idxImages(4, 2, 2));
    writeFile(dir.file("labs"), idxLabels({1, 2, 3}));
    expectError<FormatError>([&] { readIdxPair(dir.file("imgs"), dir.file("labs")); },
                             {"imgs", "labs", "4 images", "3 labels"});
}

TEST(IdxReader, LabelOutOfRange)
{
    TempDir dir;
    writeFile(dir.file("imgs"), idxImages(3, 2, 2));
    writeFile(dir.file("labs"), idxLabels({1, 10, 3}));
    expectError<FormatError>([&] { readIdxPair(dir.file("imgs"), dir.file("labs")); },
                             {"labs", "label 10", "index 1", "0..9"});
    writeFile(dir.file("labs4"), idxLabels({1, 4, 3}));
    expectError<FormatError>([&] { readIdxPair(dir.file("imgs"), dir.file("labs4"), 4); }, {"labs4", "0..3"});
}

TEST(IdxReader, MissingFile)
{
    TempDir dir;
    expectError<IoError>([&] { readIdxFile(dir.file("nope-idx3-ubyte.gz"), kIdxImagesMagic); },
                         {"nope-idx3-ubyte.gz", "cannot open"});
}

// ---------------------------------------------------------------------------------------------
// MNIST-style directories

TEST(MnistDir, LoadsPlainAndGz)
{
    TempDir dir;
    writeMnistDir(dir.file("plain"), 12, 5, false);
    writeMnistDir(dir.file("gz"), 12, 5, true);
    const RawDataset plain = loadRawDataset(DatasetSpec::parse("mnist:" + dir.file("plain")));
    const RawDataset gz = loadRawDataset(DatasetSpec::parse("fashion-mnist:" + dir.file("gz")));
    EXPECT_EQ(plain.name, "mnist");
    EXPECT_EQ(gz.name, "fashion-mnist");
    EXPECT_EQ(plain.classNames[3], "3");
    EXPECT_EQ(gz.classNames[9], "Ankle boot");
    for (const RawDataset* d : {&plain, &gz}) {
        EXPECT_EQ(d->numClasses, 10);
        EXPECT_EQ(d->train.count, 12);
        EXPECT_EQ(d->test.count, 5);
        EXPECT_EQ(d->train.height, 4);
        EXPECT_EQ(d->train.width, 5);
        EXPECT_EQ(d->files.size(), 4u);
    }
    EXPECT_EQ(plain.train.images, gz.train.images);
    EXPECT_EQ(plain.test.labels, gz.test.labels);
    EXPECT_NE(gz.files[0].find("train-images-idx3-ubyte.gz"), std::string::npos);
}

TEST(MnistDir, MissingFileNamesIt)
{
    TempDir dir;
    writeMnistDir(dir.file("d"), 3, 3, false);
    std::filesystem::remove(dir.file("d/t10k-labels-idx1-ubyte"));
    expectError<IoError>([&] { loadRawDataset(DatasetSpec::parse("mnist:" + dir.file("d"))); },
                         {"t10k-labels-idx1-ubyte"});
    expectError<IoError>([&] { loadRawDataset(DatasetSpec::parse("mnist:" + dir.file("absent"))); },
                         {dir.file("absent"), "no such directory"});
}

TEST(MnistDir, SystemFashionMnist)
{
    if (!std::filesystem::exists(std::string(kSystemFashionMnistDir) + "/train-images-idx3-ubyte.gz"))
        GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    const RawDataset d = loadRawDataset(DatasetSpec::parse("fashion-mnist"));
    EXPECT_EQ(d.name, "fashion-mnist");
    EXPECT_EQ(d.train.count, 60000);
    EXPECT_EQ(d.test.count, 10000);
    EXPECT_EQ(d.train.height, 28);
    EXPECT_EQ(d.train.width, 28);
    EXPECT_EQ(d.numClasses, 10);
    // Fashion-MNIST is balanced: 6000 training images per class.
    std::vector<int> perClass(10, 0);
    for (int64_t l : d.train.labels)
        ++perClass[static_cast<size_t>(l)];
    for (int c : perClass)
        EXPECT_EQ(c, 6000);
}

// ---------------------------------------------------------------------------------------------
// Demo

TEST(Demo, LoadsEmbeddedSubset)
{
    const RawDataset d = loadDemoDataset();
    EXPECT_EQ(d.name, "demo");
    EXPECT_EQ(d.train.count, 5000);
    EXPECT_EQ(d.test.count, 500);
    EXPECT_EQ(d.train.channels, 1);
    EXPECT_EQ(d.train.height, 28);
    EXPECT_EQ(d.train.width, 28);
    EXPECT_EQ(d.numClasses, 10);
    ASSERT_EQ(d.classNames.size(), 10u);
    EXPECT_EQ(d.classNames[0], "T-shirt/top");
    EXPECT_EQ(d.train.images.size(), 5000u * 784u);
    std::set<int64_t> labels(d.train.labels.begin(), d.train.labels.end());
    EXPECT_EQ(labels.size(), 10u);
    EXPECT_EQ(*labels.begin(), 0);
    EXPECT_EQ(*labels.rbegin(), 9);
    for (int64_t l : d.test.labels)
        EXPECT_TRUE(l >= 0 && l <= 9);
    const auto [lo, hi] = std::minmax_element(d.train.images.begin(), d.train.images.end());
    EXPECT_GE(*lo, 0.0f);
    EXPECT_LE(*hi, 1.0f);
    EXPECT_GT(*hi, 0.9f);
}

TEST(Demo, MatchesSystemPackagePrefix)
{
    if (!std::filesystem::exists(std::string(kSystemFashionMnistDir) + "/train-images-idx3-ubyte.gz"))
        GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    const RawDataset demo = loadDemoDataset();
    const RawDataset full = loadRawDataset(DatasetSpec::parse("fashion-mnist"));
    EXPECT_TRUE(std::equal(demo.train.labels.begin(), demo.train.labels.end(), full.train.labels.begin()));
    EXPECT_TRUE(std::equal(demo.test.images.begin(), demo.test.images.end(), full.test.images.begin()));
}

// ---------------------------------------------------------------------------------------------
// CIFAR

/// A CIFAR batch whose record k has label labels[k] and pixel i = (k + i) % 256.
std::string cifarBatch(const std::vector<int>& labels)
{
    std::string s;
    for (size_t k = 0; k < labels.size(); ++k) {
        s.push_back(static_cast<char>(labels[k]));
        for (int i = 0; i < 3072; ++i)
            s.push_back(static_cast<char>((k + i) % 256));
    }
    return s;
}

TEST(Cifar, Cifar10LoadsPresentBatches)
{
    TempDir dir;
    writeFile(dir.file("c/data_batch_1.bin"), cifarBatch({0, 3, 5, 9}));
    writeFile(dir.file("c/data_batch_2.bin"), cifarBatch({5, 1}));
    writeFile(dir.file("c/test_batch.bin"), cifarBatch({3, 4, 5}));
    const RawDataset d = loadRawDataset(DatasetSpec::parse("cifar10:" + dir.file("c")));
    EXPECT_EQ(d.name, "cifar10");
    EXPECT_EQ(d.numClasses, 10);
    EXPECT_EQ(d.classNames[0], "airplane");
    EXPECT_EQ(d.classNames[9], "truck");
    EXPECT_EQ(d.train.count, 6);
    EXPECT_EQ(d.train.channels, 3);
    EXPECT_EQ(d.train.height, 32);
    EXPECT_EQ(d.train.width, 32);
    EXPECT_EQ(d.train.labels, (std::vector<int64_t>{0, 3, 5, 9, 5, 1}));
    EXPECT_EQ(d.test.labels, (std::vector<int64_t>{3, 4, 5}));
    EXPECT_EQ(d.files.size(), 3u);
    // Record 1 of batch 2 is training row 5; its pixel i (CHW order kept) is (1 + i) % 256.
    for (int i : {0, 1023, 1024, 3071})
        EXPECT_FLOAT_EQ(d.train.images[5 * 3072 + i], ((1 + i) % 256) / 255.0f);
}

TEST(Cifar, Cifar2KeepsCatsAndDogs)
{
    TempDir dir;
    writeFile(dir.file("c/data_batch_1.bin"), cifarBatch({0, 3, 5, 9, 3}));
    writeFile(dir.file("c/test_batch.bin"), cifarBatch({5, 4, 3}));
    const RawDataset d = loadRawDataset(DatasetSpec::parse("cifar2:" + dir.file("c")));
    EXPECT_EQ(d.name, "cifar2");
    EXPECT_EQ(d.numClasses, 2);
    EXPECT_EQ(d.classNames, (std::vector<std::string>{"cat", "dog"}));
    EXPECT_EQ(d.train.labels, (std::vector<int64_t>{0, 1, 0}));
    EXPECT_EQ(d.test.labels, (std::vector<int64_t>{1, 0}));
    // Train rows kept: records 1, 2, 4 of the batch, in order.
    EXPECT_FLOAT_EQ(d.train.images[0], 1 / 255.0f);
    EXPECT_FLOAT_EQ(d.train.images[3072], 2 / 255.0f);
    EXPECT_FLOAT_EQ(d.train.images[2 * 3072], 4 / 255.0f);
}

TEST(Cifar, Errors)
{
    TempDir dir;
    expectError<IoError>([&] { loadCifar10(dir.file("empty")); }, {dir.file("empty"), "data_batch_1.bin"});
    writeFile(dir.file("c/data_batch_1.bin"), cifarBatch({1}));
    expectError<IoError>([&] { loadCifar10(dir.file("c")); }, {"test_batch.bin"});
    writeFile(dir.file("odd.bin"), cifarBatch({1, 2}).substr(0, 5000));
    expectError<FormatError>([&] { readCifarBatch(dir.file("odd.bin")); }, {"odd.bin", "5000 bytes", "3073"});
    writeFile(dir.file("zero.bin"), "");
    expectError<FormatError>([&] { readCifarBatch(dir.file("zero.bin")); }, {"zero.bin"});
    writeFile(dir.file("label.bin"), cifarBatch({1, 10}));
    expectError<FormatError>([&] { readCifarBatch(dir.file("label.bin")); },
                             {"label.bin", "record 1", "label 10"});
    expectError<IoError>([&] { readCifarBatch(dir.file("missing.bin")); }, {"missing.bin"});
}

// ---------------------------------------------------------------------------------------------
// HDF5

/// Writes an h5 dataset file: uint8 N×H×W (or float32 N×C×H×W when `channels` > 0).
void writeH5Dataset(const std::string& path, int trainCount, int testCount, int channels,
                    const std::vector<int64_t>& trainLabels, const std::vector<int64_t>& testLabels)
{
    H5File f(path, H5File::Mode::Truncate);
    auto images = [&](const std::string& name, int count) {
        if (channels == 0) {
            std::vector<uint8_t> v(static_cast<size_t>(count * 3 * 2));
            for (size_t i = 0; i < v.size(); ++i)
                v[i] = static_cast<uint8_t>(i * 5);
            f.writeUInt8(name, {count, 3, 2}, v.data());
        } else {
            std::vector<float> v(static_cast<size_t>(count * channels * 3 * 2));
            for (size_t i = 0; i < v.size(); ++i)
                v[i] = static_cast<float>(i) / static_cast<float>(v.size());
            f.writeFloats(name, {count, channels, 3, 2}, v.data());
        }
    };
    images("/train/images", trainCount);
    images("/test/images", testCount);
    f.writeInt64("/train/labels", {static_cast<int64_t>(trainLabels.size())}, trainLabels.data());
    f.writeInt64("/test/labels", {static_cast<int64_t>(testLabels.size())}, testLabels.data());
}

TEST(Hdf5Dataset, Uint8Images)
{
    TempDir dir;
    writeH5Dataset(dir.file("small.h5"), 4, 2, 0, {0, 1, 2, 1}, {4, 0});
    const RawDataset d = loadRawDataset(DatasetSpec::parse("h5:" + dir.file("small.h5")));
    EXPECT_EQ(d.name, "small");
    EXPECT_EQ(d.train.count, 4);
    EXPECT_EQ(d.test.count, 2);
    EXPECT_EQ(d.train.channels, 1);
    EXPECT_EQ(d.train.height, 3);
    EXPECT_EQ(d.train.width, 2);
    EXPECT_EQ(d.numClasses, 5); // the largest label over both splits is 4
    EXPECT_EQ(d.classNames, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
    EXPECT_EQ(d.train.labels, (std::vector<int64_t>{0, 1, 2, 1}));
    ASSERT_EQ(d.train.images.size(), 24u);
    for (size_t i = 0; i < 24; ++i)
        EXPECT_FLOAT_EQ(d.train.images[i], static_cast<uint8_t>(i * 5) / 255.0f);
}

TEST(Hdf5Dataset, Float32ChannelsTakenAsIs)
{
    TempDir dir;
    writeH5Dataset(dir.file("f.h5"), 3, 2, 2, {0, 1, 1}, {1, 0});
    {
        H5File f(dir.file("f.h5"), H5File::Mode::ReadWrite);
        f.setAttr("/", "num_classes", int64_t(7));
    }
    const RawDataset d = loadHdf5Dataset(dir.file("f.h5"));
    EXPECT_EQ(d.train.channels, 2);
    EXPECT_EQ(d.train.height, 3);
    EXPECT_EQ(d.train.width, 2);
    EXPECT_EQ(d.numClasses, 7);
    ASSERT_EQ(d.train.images.size(), 36u);
    for (size_t i = 0; i < 36; ++i)
        EXPECT_FLOAT_EQ(d.train.images[i], static_cast<float>(i) / 36.0f);
}

TEST(Hdf5Dataset, NumClassesAttributeTooSmall)
{
    TempDir dir;
    writeH5Dataset(dir.file("f.h5"), 2, 2, 0, {0, 3}, {1, 0});
    {
        H5File f(dir.file("f.h5"), H5File::Mode::ReadWrite);
        f.setAttr("/", "num_classes", int64_t(3));
    }
    expectError<FormatError>([&] { loadHdf5Dataset(dir.file("f.h5")); }, {"f.h5", "num_classes"});
}

TEST(Hdf5Dataset, MissingDataset)
{
    TempDir dir;
    writeH5Dataset(dir.file("m.h5"), 2, 2, 0, {0, 1}, {1, 0});
    {
        H5File f(dir.file("m.h5"), H5File::Mode::ReadWrite);
        f.remove("/test/labels");
    }
    expectError<FormatError>([&] { loadHdf5Dataset(dir.file("m.h5")); }, {"m.h5", "/test/labels"});
    {
        H5File f(dir.file("m.h5"), H5File::Mode::ReadWrite);
        f.remove("/test");
    }
    expectError<FormatError>([&] { loadHdf5Dataset(dir.file("m.h5")); }, {"m.h5", "/test/images"});
    expectError<IoError>([&] { loadHdf5Dataset(dir.file("absent.h5")); }, {"absent.h5"});
}

TEST(Hdf5Dataset, WrongRank)
{
    TempDir dir;
    writeH5Dataset(dir.file("r.h5"), 2, 2, 0, {0, 1}, {1, 0});
    {
        H5File f(dir.file("r.h5"), H5File::Mode::ReadWrite);
        const std::vector<uint8_t> flat(12, 1);
        f.writeUInt8("/train/images", {2, 6}, flat.data());
    }
    expectError<FormatError>([&] { loadHdf5Dataset(dir.file("r.h5")); }, {"r.h5", "/train/images", "rank"});
    writeH5Dataset(dir.file("r2.h5"), 2, 2, 0, {0, 1}, {1, 0});
    {
        H5File f(dir.file("r2.h5"), H5File::Mode::ReadWrite);
        const std::vector<int64_t> labels{0, 1};
        f.writeInt64("/test/labels", {2, 1}, labels.data());
    }
    expectError<FormatError>([&] { loadHdf5Dataset(dir.file("r2.h5")); }, {"r2.h5", "/test/labels", "rank"});
}

TEST(Hdf5Dataset, CountMismatch)
{
    TempDir dir;
    writeH5Dataset(dir.file("c.h5"), 3, 2, 0, {0, 1}, {1, 0});
    expectError<FormatError>([&] { loadHdf5Dataset(dir.file("c.h5")); },
                             {"c.h5", "/train/images", "3 images", "2 labels"});
}

TEST(Hdf5Dataset, StringDtypeAndNegativeLabel)
{
    TempDir dir;
    writeH5Dataset(dir.file("s.h5"), 2, 2, 0, {0, 1}, {1, 0});
    {
        H5File f(dir.file("s.h5"), H5File::Mode::ReadWrite);
        f.remove("/train/labels");
        f.writeStrings("/train/labels", {"cat", "dog"});
    }
    expectError<FormatError>([&] { loadHdf5Dataset(dir.file("s.h5")); },
                             {"s.h5", "/train/labels", "integers"});
    writeH5Dataset(dir.file("s2.h5"), 2, 2, 0, {0, 1}, {1, 0});
    {
        H5File f(dir.file("s2.h5"), H5File::Mode::ReadWrite);
        f.remove("/test/images");
        f.writeStrings("/test/images", {"a", "b"});
    }
    expectError<FormatError>([&] { loadHdf5Dataset(dir.file("s2.h5")); }, {"s2.h5", "/test/images"});
    writeH5Dataset(dir.file("n.h5"), 2, 2, 0, {0, -1}, {1, 0});
    expectError<FormatError>([&] { loadHdf5Dataset(dir.file("n.h5")); }, {"n.h5", "negative label -1"});
}

TEST(Hdf5Dataset, TrainTestShapeMismatch)
{
    TempDir dir;
    writeH5Dataset(dir.file("x.h5"), 2, 2, 0, {0, 1}, {1, 0});
    {
        H5File f(dir.file("x.h5"), H5File::Mode::ReadWrite);
        const std::vector<uint8_t> other(2 * 4 * 4, 0);
        f.writeUInt8("/test/images", {2, 4, 4}, other.data());
    }
    expectError<FormatError>([&] { loadHdf5Dataset(dir.file("x.h5")); }, {"x.h5", "/test/images"});
}

// ---------------------------------------------------------------------------------------------
// Spec strings

TEST(DatasetSpec, ParsesEveryForm)
{
    using K = DatasetSpec::Kind;
    const std::vector<std::pair<std::string, K>> cases = {
        {"demo", K::Demo},          {"fashion-mnist", K::FashionMnistSystem},
        {"mnist:/d", K::Mnist},     {"fashion-mnist:/d", K::FashionMnist},
        {"cifar10:/d", K::Cifar10}, {"cifar2:/d", K::Cifar2},
        {"h5:/d", K::Hdf5},
    };
    for (const auto& [text, kind] : cases) {
        const DatasetSpec spec = DatasetSpec::parse(text);
        EXPECT_EQ(spec.kind, kind) << text;
        EXPECT_EQ(spec.toString(), text);
        EXPECT_EQ(DatasetSpec::parse(spec.toString()).kind, kind);
        const bool hasPath = kind != K::Demo && kind != K::FashionMnistSystem;
        EXPECT_EQ(spec.path, hasPath ? "/d" : "");
    }
    EXPECT_EQ(DatasetSpec::parse("h5:C:/data/x.h5").path, "C:/data/x.h5");
    EXPECT_EQ(DatasetSpec::parse("  demo ").kind, K::Demo);
}

TEST(DatasetSpec, RejectsBadForms)
{
    for (const char* bad :
         {"", "mnist", "mnist:", "cifar10", "h5:", "h5", "imagenet:/x", "Demo", "demo:/x", "foo"})
        expectError<ConfigError>([&] { DatasetSpec::parse(bad); }, {std::string("'") + bad + "'"});
    expectError<ConfigError>([] { DatasetSpec::parse("imagenet:/x"); }, {"cifar2:DIR", "h5:FILE"});
    expectError<ConfigError>([] { DatasetSpec::parse("mnist"); }, {"mnist:DIR"});
}

TEST(DatasetSpec, StandardNormalization)
{
    auto mean = [](const char* s) { return DatasetSpec::parse(s).standardMean(); };
    auto std = [](const char* s) { return DatasetSpec::parse(s).standardStd(); };
    EXPECT_EQ(mean("mnist:/d"), (std::vector<float>{0.1307f}));
    EXPECT_EQ(std("mnist:/d"), (std::vector<float>{0.3081f}));
    for (const char* s : {"fashion-mnist", "fashion-mnist:/d", "demo"}) {
        EXPECT_EQ(mean(s), (std::vector<float>{0.2860f}));
        EXPECT_EQ(std(s), (std::vector<float>{0.3530f}));
    }
    for (const char* s : {"cifar10:/d", "cifar2:/d"}) {
        EXPECT_EQ(mean(s), (std::vector<float>{0.4914f, 0.4822f, 0.4465f}));
        EXPECT_EQ(std(s), (std::vector<float>{0.2470f, 0.2435f, 0.2616f}));
    }
    EXPECT_TRUE(mean("h5:/f").empty());
    EXPECT_TRUE(std("h5:/f").empty());
}

// ---------------------------------------------------------------------------------------------
// Selection, normalization, hashing

TEST(LoadData, ValidateRejectsBadOptions)
{
    auto invalid = [](auto change, const char* part) {
        DataOptions o;
        change(o);
        expectError<ConfigError>([&] { o.validate(); }, {part});
    };
    invalid([](DataOptions& o) { o.trainSize = 0; }, "--train-size 0");
    invalid([](DataOptions& o) { o.testSize = -2; }, "--test-size -2");
    invalid([](DataOptions& o) { o.mean = {0.5f}; }, "--mean");
    invalid([](DataOptions& o) { o.mean = {0.5f}, o.std = {0.0f}; }, "--std");
    invalid([](DataOptions& o) { o.mean = {0.5f}, o.std = {-1.0f}; }, "--std");
    invalid([](DataOptions& o) { o.mean = {NAN}, o.std = {1.0f}; }, "--mean");
    DataOptions ok;
    ok.trainSize = -1;
    ok.mean = {0.1f, 0.2f, 0.3f};
    ok.std = {1.0f, 2.0f, 3.0f};
    EXPECT_NO_THROW(ok.validate());
}

class LoadDataDir : public ::testing::Test {
protected:
    void SetUp() override { writeMnistDir(m_dir.file("m"), 50, 20, true); }
    DataOptions options(int64_t train, int64_t test) const
    {
        DataOptions o;
        o.spec = "mnist:" + m_dir.file("m");
        o.trainSize = train;
        o.testSize = test;
        return o;
    }
    TempDir m_dir;
};

TEST_F(LoadDataDir, FirstN)
{
    const DataBundle b = loadData(options(7, 3));
    EXPECT_EQ(b.spec, "mnist:" + m_dir.file("m"));
    EXPECT_EQ(b.name, "mnist");
    EXPECT_EQ(b.trainIndices, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(b.testIndices, (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(b.train.count, 7);
    EXPECT_EQ(b.test.count, 3);
    EXPECT_EQ(b.train.labels, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
    EXPECT_FLOAT_EQ(b.train.images[6 * 20 + 3], pixel(6, 3) / 255.0f);
    EXPECT_EQ(b.numClasses, 10);
    EXPECT_TRUE(b.mean.empty());
}

TEST_F(LoadDataDir, AllWithMinusOne)
{
    const DataBundle b = loadData(options(-1, -1));
    EXPECT_EQ(b.train.count, 50);
    EXPECT_EQ(b.test.count, 20);
    EXPECT_EQ(b.trainIndices.back(), 49);
}

TEST_F(LoadDataDir, SeededSubsetIsDeterministicSortedDistinct)
{
    DataOptions o = options(10, 5);
    o.sampleSeed = 42;
    const DataBundle a = loadData(o);
    const DataBundle b = loadData(o);
    EXPECT_EQ(a.trainIndices, b.trainIndices);
    EXPECT_EQ(a.testIndices, b.testIndices);
    EXPECT_EQ(a.contentHash, b.contentHash);
    for (const auto* idx : {&a.trainIndices, &a.testIndices}) {
        EXPECT_TRUE(std::is_sorted(idx->begin(), idx->end()));
        EXPECT_EQ(std::set<int64_t>(idx->begin(), idx->end()).size(), idx->size());
        EXPECT_GE(idx->front(), 0);
    }
    EXPECT_EQ(a.trainIndices.size(), 10u);
    EXPECT_LT(a.trainIndices.back(), 50);
    EXPECT_LT(a.testIndices.back(), 20);
    // Not the first N, and another seed gives another subset.
    EXPECT_NE(a.trainIndices, loadData(options(10, 5)).trainIndices);
    o.sampleSeed = 43;
    EXPECT_NE(loadData(o).trainIndices, a.trainIndices);
    // The rows are the source rows at those indices (label of row r is r % 10).
    for (size_t i = 0; i < a.trainIndices.size(); ++i) {
        EXPECT_EQ(a.train.labels[i], a.trainIndices[i] % 10);
        EXPECT_FLOAT_EQ(a.train.images[i * 20 + 11], pixel(a.trainIndices[i], 11) / 255.0f);
    }
}

TEST_F(LoadDataDir, SeededSubsetCoversTheSplit)
{
    // Over many seeds every row is drawn sometimes: the subset is not biased to a range.
    std::vector<int> hits(50, 0);
    DataOptions o = options(5, 1);
    for (uint64_t seed = 0; seed < 200; ++seed) {
        o.sampleSeed = seed;
        for (int64_t r : loadData(o).trainIndices)
            ++hits[static_cast<size_t>(r)];
    }
    for (int h : hits)
        EXPECT_GT(h, 0);
}

TEST_F(LoadDataDir, SizesLargerThanSplit)
{
    expectError<ConfigError>([&] { loadData(options(70, 5)); },
                             {"--train-size 70 but mnist has 50 training images"});
    expectError<ConfigError>([&] { loadData(options(5, 21)); },
                             {"--test-size 21 but mnist has 20 test images"});
}

TEST_F(LoadDataDir, Normalization)
{
    DataOptions o = options(4, 2);
    o.mean = {0.25f};
    o.std = {0.5f};
    const DataBundle raw = loadData(options(4, 2));
    const DataBundle b = loadData(o);
    EXPECT_EQ(b.mean, o.mean);
    EXPECT_EQ(b.std, o.std);
    ASSERT_EQ(b.train.images.size(), raw.train.images.size());
    for (size_t i = 0; i < b.train.images.size(); ++i)
        EXPECT_NEAR(b.train.images[i], (pixel(i / 20, i % 20) / 255.0f - 0.25f) / 0.5f, 1e-6f);
    for (size_t i = 0; i < b.test.images.size(); ++i)
        EXPECT_NEAR(b.test.images[i], (pixel(i / 20, i % 20) / 255.0f - 0.25f) / 0.5f, 1e-6f);
    // The hash is taken before normalization.
    EXPECT_EQ(b.contentHash, raw.contentHash);
    // A black pixel's value (the padding of a crop augmentation) follows the normalization, and
    // subsets keep it.
    EXPECT_TRUE(raw.train.blackLevel.empty());
    EXPECT_EQ(raw.train.black(0), 0.0f);
    ASSERT_EQ(b.train.blackLevel.size(), 1u);
    EXPECT_FLOAT_EQ(b.train.black(0), -0.5f);
    EXPECT_FLOAT_EQ(b.test.black(0), -0.5f);
    EXPECT_EQ(b.train.select({1, 0}).blackLevel, b.train.blackLevel);
    o.mean = {0.1f, 0.2f};
    o.std = {1.0f, 1.0f};
    expectError<ConfigError>([&] { loadData(o); }, {"2 values", "1 channel"});
}

TEST(LoadData, PerChannelNormalizationCifar)
{
    TempDir dir;
    writeFile(dir.file("c/data_batch_1.bin"), cifarBatch({0, 1}));
    writeFile(dir.file("c/test_batch.bin"), cifarBatch({2}));
    DataOptions o;
    o.spec = "cifar10:" + dir.file("c");
    o.trainSize = -1;
    o.testSize = -1;
    o.mean = {0.1f, 0.2f, 0.3f};
    o.std = {0.5f, 0.25f, 2.0f};
    const DataBundle b = loadData(o);
    for (int k = 0; k < 2; ++k)
        for (int c = 0; c < 3; ++c)
            for (int i : {0, 500, 1023}) {
                const float x = ((k + c * 1024 + i) % 256) / 255.0f;
                EXPECT_NEAR(b.train.images[k * 3072 + c * 1024 + i], (x - o.mean[c]) / o.std[c], 1e-5f);
            }
}

TEST_F(LoadDataDir, ContentHashIsSha256OfRawSelection)
{
    DataOptions o = options(6, 4);
    o.sampleSeed = 7;
    const DataBundle b = loadData(o);
    ASSERT_EQ(b.contentHash.size(), 64u);
    // Recompute independently with coreutils over the documented byte layout.
    std::string bytes;
    const DataBundle raw = b;
    for (const ImageSet* s : {&raw.train, &raw.test}) {
        bytes.append(reinterpret_cast<const char*>(s->images.data()), s->images.size() * sizeof(float));
        bytes.append(reinterpret_cast<const char*>(s->labels.data()), s->labels.size() * sizeof(int64_t));
    }
    writeFile(m_dir.file("bytes"), bytes);
    std::string out;
    ASSERT_EQ(test::runCommand("sha256sum " + m_dir.file("bytes"), &out), 0) << out;
    EXPECT_EQ(out.substr(0, 64), b.contentHash);
    EXPECT_NE(loadData(options(6, 4)).contentHash, b.contentHash);
}

TEST(LoadData, DemoDefaults)
{
    DataOptions o; // spec "demo", 5000 / 500, first N
    o.mean = DatasetSpec::parse("demo").standardMean();
    o.std = DatasetSpec::parse("demo").standardStd();
    const DataBundle b = loadData(o);
    EXPECT_EQ(b.spec, "demo");
    EXPECT_EQ(b.train.count, 5000);
    EXPECT_EQ(b.test.count, 500);
    EXPECT_EQ(b.trainIndices.back(), 4999);
    EXPECT_EQ(b.contentHash.size(), 64u);
    // A zero pixel maps to -mean/std.
    const float lowest = *std::min_element(b.train.images.begin(), b.train.images.end());
    EXPECT_NEAR(lowest, -0.2860f / 0.3530f, 1e-5f);
    o.trainSize = 5001;
    expectError<ConfigError>([&] { loadData(o); }, {"--train-size 5001 but demo has 5000 training images"});
}

} // namespace
} // namespace attri
