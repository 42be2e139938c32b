#include "data/data_loader.h"

#include "common/error.h"
#include "common/hash.h"
#include "data/cifar_reader.h"
#include "data/hdf5_dataset_reader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <random>

namespace attri {

namespace {

namespace fs = std::filesystem;

/// `dir/name` if present, else `dir/name.gz`; IoError naming both when neither exists.
std::string findIdxFile(const std::string& dir, const std::string& name, const std::string& hint)
{
    const std::string plain = (fs::path(dir) / name).string();
    if (fs::exists(plain))
        return plain;
    const std::string gz = plain + ".gz";
    if (fs::exists(gz))
        return gz;
    throw IoError(plain + "(.gz): no such file" + hint);
}

RawDataset loadMnistLike(const std::string& name, const std::string& dir, std::vector<std::string> classNames,
                         const std::string& hint)
{
    if (!fs::is_directory(dir))
        throw IoError(dir + ": no such directory (" + name + " needs the four IDX files)" + hint);
    RawDataset data;
    data.name = name;
    data.numClasses = 10;
    data.classNames = std::move(classNames);
    const std::string trainImages = findIdxFile(dir, "train-images-idx3-ubyte", hint);
    const std::string trainLabels = findIdxFile(dir, "train-labels-idx1-ubyte", hint);
    const std::string testImages = findIdxFile(dir, "t10k-images-idx3-ubyte", hint);
    const std::string testLabels = findIdxFile(dir, "t10k-labels-idx1-ubyte", hint);
    data.train = readIdxPair(trainImages, trainLabels);
    data.test = readIdxPair(testImages, testLabels);
    if (data.train.height != data.test.height || data.train.width != data.test.width)
        throw FormatError(trainImages + " and " + testImages + " have different image sizes");
    data.files = {trainImages, trainLabels, testImages, testLabels};
    return data;
}

std::vector<std::string> fashionMnistClassNames()
{
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}

/// Uniform integer in [0, bound) by rejection, so that the draw depends only on mt19937_64
/// (whose output the standard fixes), not on the library's uniform_int_distribution.
uint64_t uniformBelow(std::mt19937_64& engine, uint64_t bound)
{
    const uint64_t limit =
        std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % bound;
    uint64_t value;
    do {
        value = engine();
    } while (value >= limit);
    return value % bound;
}

/// The rows to keep, ascending: the first `size`, or a seeded random subset (partial
/// Fisher–Yates: position i swaps with a uniform position in [i, n)). Sorting keeps the
/// experiment's order equal to the dataset's order.
std::vector<int64_t> chooseRows(int64_t available, int64_t size, const std::optional<uint64_t>& seed)
{
    std::vector<int64_t> rows(static_cast<size_t>(available));
    std::iota(rows.begin(), rows.end(), int64_t(0));
    if (seed) {
        std::mt19937_64 engine(*seed);
        for (int64_t i = 0; i < size; ++i) {
            const auto j =
                i + static_cast<int64_t>(uniformBelow(engine, static_cast<uint64_t>(available - i)));
            std::swap(rows[static_cast<size_t>(i)], rows[static_cast<size_t>(j)]);
        }
    }
    rows.resize(static_cast<size_t>(size));
    std::sort(rows.begin(), rows.end());
    return rows;
}

int64_t resolveSize(int64_t requested, int64_t available, bool limit, const char* flag, const std::string& name,
                    const char* split)
{
    if (requested == -1 || (limit && requested > available))
        return available;
    if (requested > available)
        throw ConfigError(std::string(flag) + " " + std::to_string(requested) + " but " + name + " has "
                          + std::to_string(available) + " " + split + " images");
    return requested;
}

} // namespace

void DataOptions::validate() const
{
    if (trainSize == 0 || trainSize < -1)
        throw ConfigError("--train-size " + std::to_string(trainSize)
                          + " is invalid (expected ≥ 1, or -1 for all)");
    if (testSize == 0 || testSize < -1)
        throw ConfigError("--test-size " + std::to_string(testSize)
                          + " is invalid (expected ≥ 1, or -1 for all)");
    if (mean.size() != std.size())
        throw ConfigError("--mean has " + std::to_string(mean.size()) + " values but --std has "
                          + std::to_string(std.size())
                          + " (give both with one value per channel, or one for all)");
    for (float m : mean)
        if (!std::isfinite(m))
            throw ConfigError("--mean has a non-finite value");
    for (float s : std)
        if (!(s > 0.0f) || !std::isfinite(s))
            throw ConfigError("--std value " + std::to_string(s)
                              + " is invalid (expected a finite value > 0)");
}

std::string contentHash(const ImageSet& train, const ImageSet& test)
{
    Sha256 hash;
    for (const ImageSet* set : {&train, &test}) {
        hash.update(set->images.data(), set->images.size() * sizeof(float));
        hash.update(set->labels.data(), set->labels.size() * sizeof(int64_t));
    }
    return hash.hexDigest();
}

void normalizeImages(ImageSet& set, const std::vector<float>& mean, const std::vector<float>& std)
{
    if (mean.empty())
        return;
    const int64_t plane = set.height * set.width;
    set.blackLevel.clear();
    for (int64_t c = 0; c < set.channels; ++c) {
        const float m = mean.size() == 1 ? mean[0] : mean[static_cast<size_t>(c)];
        const float s = std.size() == 1 ? std[0] : std[static_cast<size_t>(c)];
        set.blackLevel.push_back((0.0f - m) / s);
    }
    for (int64_t i = 0; i < set.count; ++i) {
        for (int64_t c = 0; c < set.channels; ++c) {
            const float m = mean.size() == 1 ? mean[0] : mean[static_cast<size_t>(c)];
            const float s = std.size() == 1 ? std[0] : std[static_cast<size_t>(c)];
            float* p = set.images.data() + (i * set.channels + c) * plane;
            for (int64_t k = 0; k < plane; ++k)
                p[k] = (p[k] - m) / s;
        }
    }
}

RawDataset loadRawDataset(const DatasetSpec& spec)
{
    switch (spec.kind) {
    case DatasetSpec::Kind::Demo:
        return loadDemoDataset();
    case DatasetSpec::Kind::FashionMnistSystem:
        return loadMnistLike(
            "fashion-mnist", kSystemFashionMnistDir, fashionMnistClassNames(),
            "; install the Debian package dataset-fashion-mnist (apt install dataset-fashion-mnist) "
            "or use fashion-mnist:DIR");
    case DatasetSpec::Kind::FashionMnist:
        return loadMnistLike("fashion-mnist", spec.path, fashionMnistClassNames(), "");
    case DatasetSpec::Kind::Mnist:
        return loadMnistLike("mnist", spec.path, {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, "");
    case DatasetSpec::Kind::Cifar10:
        return loadCifar10(spec.path);
    case DatasetSpec::Kind::Cifar2:
        return loadCifar2(spec.path);
    case DatasetSpec::Kind::Hdf5:
        return loadHdf5Dataset(spec.path);
    }
    throw ConfigError("unknown dataset kind");
}

DataBundle loadData(const DataOptions& options)
{
    options.validate();
    const DatasetSpec spec = DatasetSpec::parse(options.spec);
    RawDataset raw = loadRawDataset(spec);

    const int64_t trainSize =
        resolveSize(options.trainSize, raw.train.count, options.trainSizeIsLimit, "--train-size", raw.name, "training");
    const int64_t testSize =
        resolveSize(options.testSize, raw.test.count, options.testSizeIsLimit, "--test-size", raw.name, "test");
    const int64_t channels = raw.train.channels;
    if (!options.mean.empty() && options.mean.size() != 1
        && static_cast<int64_t>(options.mean.size()) != channels)
        throw ConfigError("--mean/--std have " + std::to_string(options.mean.size()) + " values but "
                          + raw.name + " has " + std::to_string(channels) + " channel(s) (expected 1 or "
                          + std::to_string(channels) + ")");

    DataBundle bundle;
    bundle.spec = spec.toString();
    bundle.name = raw.name;
    bundle.numClasses = raw.numClasses;
    bundle.classNames = raw.classNames;
    bundle.mean = options.mean;
    bundle.std = options.std;
    // Train and test draw from independent engines so that one split's size does not move the other.
    std::optional<uint64_t> testSeed;
    if (options.sampleSeed)
        testSeed = *options.sampleSeed ^ 0x9e3779b97f4a7c15ULL;
    bundle.trainIndices = chooseRows(raw.train.count, trainSize, options.sampleSeed);
    bundle.testIndices = chooseRows(raw.test.count, testSize, testSeed);
    // A whole split is moved rather than copied (CIFAR-10's training split is 600 MB as float).
    bundle.train =
        trainSize == raw.train.count ? std::move(raw.train) : raw.train.select(bundle.trainIndices);
    bundle.test = testSize == raw.test.count ? std::move(raw.test) : raw.test.select(bundle.testIndices);

    // The hash covers what the experiment sees before normalization: raw [0,1] float32 images
    // then int64 labels (host byte order), train then test.
    bundle.contentHash = contentHash(bundle.train, bundle.test);
    normalizeImages(bundle.train, options.mean, options.std);
    normalizeImages(bundle.test, options.mean, options.std);
    return bundle;
}

} // namespace attri
