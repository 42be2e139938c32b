#include "data/cifar_reader.h"

#include "common/error.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace attri {

namespace {

constexpr int64_t kCifarSide = 32;
constexpr int64_t kCifarChannels = 3;
constexpr int kCifarCat = 3;
constexpr int kCifarDog = 5;

} // namespace

std::vector<std::string> cifar10ClassNames()
{
    return {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
}

ImageSet readCifarBatch(const std::string& path)
{
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec)
        throw IoError(path + ": cannot read: " + ec.message());
    // Checked before reading, so a wrong file is rejected without reading it all.
    if (size == 0 || size % kCifarRecordBytes != 0)
        throw FormatError(path + ": " + std::to_string(size) + " bytes is not a positive multiple of "
                          + std::to_string(kCifarRecordBytes)
                          + " (one CIFAR-10 record is a label byte and 3×32×32 pixels)");

    // The size is known and checked, so reading the whole file allocates only what it holds.
    std::vector<uint8_t> bytes(size);
    std::ifstream in(path, std::ios::binary);
    if (!in || !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
        throw IoError(path + ": cannot read: " + std::strerror(errno));
    return readCifarBuffer(bytes.data(), bytes.size(), path);
}

ImageSet readCifarBuffer(const void* data, size_t size, const std::string& name)
{
    if (size == 0 || size % kCifarRecordBytes != 0)
        throw FormatError(name + ": " + std::to_string(size) + " bytes is not a positive multiple of "
                          + std::to_string(kCifarRecordBytes)
                          + " (one CIFAR-10 record is a label byte and 3×32×32 pixels)");
    const auto* bytes = static_cast<const uint8_t*>(data);

    ImageSet set;
    set.count = static_cast<int64_t>(size) / kCifarRecordBytes;
    set.channels = kCifarChannels;
    set.height = kCifarSide;
    set.width = kCifarSide;
    const int64_t imageBytes = kCifarRecordBytes - 1;
    set.images.resize(static_cast<size_t>(set.count * imageBytes));
    set.labels.resize(static_cast<size_t>(set.count));
    for (int64_t i = 0; i < set.count; ++i) {
        const uint8_t* record = bytes + i * kCifarRecordBytes;
        if (record[0] > 9)
            throw FormatError(name + ": record " + std::to_string(i) + " has label "
                              + std::to_string(record[0]) + " (expected 0..9)");
        set.labels[static_cast<size_t>(i)] = record[0];
        float* out = set.images.data() + i * imageBytes;
        for (int64_t k = 0; k < imageBytes; ++k)
            out[k] = static_cast<float>(record[1 + k]) / 255.0f;
    }
    return set;
}

ImageSet readCifarBatches(const std::vector<std::string>& paths)
{
    ImageSet all;
    for (const auto& path : paths) {
        ImageSet batch = readCifarBatch(path);
        if (all.count == 0) {
            all = std::move(batch);
            continue;
        }
        all.images.insert(all.images.end(), batch.images.begin(), batch.images.end());
        all.labels.insert(all.labels.end(), batch.labels.begin(), batch.labels.end());
        all.count += batch.count;
    }
    return all;
}

ImageSet selectCatsAndDogs(const ImageSet& cifar10)
{
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < cifar10.count; ++i) {
        const int64_t label = cifar10.labels[static_cast<size_t>(i)];
        if (label == kCifarCat || label == kCifarDog)
            rows.push_back(i);
    }
    ImageSet pair = cifar10.select(rows);
    for (auto& label : pair.labels)
        label = label == kCifarCat ? 0 : 1;
    return pair;
}

RawDataset loadCifar10(const std::string& dir)
{
    namespace fs = std::filesystem;
    RawDataset data;
    data.name = "cifar10";
    data.numClasses = 10;
    data.classNames = cifar10ClassNames();

    std::vector<std::string> trainFiles;
    for (int k = 1; k <= 5; ++k) {
        const std::string file = (fs::path(dir) / ("data_batch_" + std::to_string(k) + ".bin")).string();
        if (fs::exists(file))
            trainFiles.push_back(file);
        else if (k == 1)
            throw IoError(dir
                          + ": no CIFAR-10 training batch data_batch_1.bin (expected the binary version: "
                            "data_batch_1.bin … data_batch_5.bin and test_batch.bin)");
    }
    const std::string testFile = (fs::path(dir) / "test_batch.bin").string();
    if (!fs::exists(testFile))
        throw IoError(dir + ": no CIFAR-10 test batch test_batch.bin");

    data.train = readCifarBatches(trainFiles);
    data.test = readCifarBatch(testFile);
    data.files = trainFiles;
    data.files.push_back(testFile);
    return data;
}

RawDataset loadCifar2(const std::string& dir)
{
    RawDataset data = loadCifar10(dir);
    data.name = "cifar2";
    data.numClasses = 2;
    data.classNames = {"cat", "dog"};
    data.train = selectCatsAndDogs(data.train);
    data.test = selectCatsAndDogs(data.test);
    return data;
}

} // namespace attri
