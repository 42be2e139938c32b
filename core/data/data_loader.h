#pragma once

#include "data/dataset_spec.h"
#include "data/image_set.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace attri {

/// Both splits of a dataset exactly as stored in its files, images scaled to [0,1].
struct RawDataset {
    std::string name;                    ///< e.g. "fashion-mnist", "cifar2"
    ImageSet train;                      ///< the whole training split
    ImageSet test;                       ///< the whole test split
    int numClasses = 0;                  ///< labels are in [0, numClasses)
    std::vector<std::string> classNames; ///< numClasses names
    std::vector<std::string> files;      ///< the files that were read
};

/// How to select and normalize a dataset.
struct DataOptions {
    std::string spec = "demo";          ///< dataset spec string (see DatasetSpec)
    int64_t trainSize = 5000;           ///< training points to keep; -1 = the whole split
    int64_t testSize = 500;             ///< test points to keep; -1 = the whole split
    /// trainSize (testSize) is an upper limit: a split with fewer images is taken whole (the CLI's
    /// defaults, so that a small dataset of one's own needs no size options). Otherwise asking
    /// for more than a split holds is an error.
    bool trainSizeIsLimit = false;
    bool testSizeIsLimit = false; ///< as trainSizeIsLimit, for testSize
    std::optional<uint64_t> sampleSeed; ///< none: the first N; set: a seeded random subset
    std::vector<float> mean;            ///< per-channel mean subtracted after scaling (empty: none)
    std::vector<float> std;             ///< per-channel std divided after centring (empty: none)

    /// Throws ConfigError on sizes < -1 or 0, mismatched or non-positive std.
    void validate() const;
};

/// The data an experiment uses: the selected, normalized splits and their provenance.
struct DataBundle {
    std::string spec;                  ///< canonical spec string
    std::string name;                  ///< dataset family name
    ImageSet train;                    ///< selected, normalized training points
    ImageSet test;                     ///< selected, normalized test points
    std::vector<int64_t> trainIndices; ///< row of each training point in the source split
    std::vector<int64_t> testIndices;  ///< row of each test point in the source split
    std::vector<float> mean;           ///< normalization applied (empty: none)
    std::vector<float> std;            ///< normalization applied (empty: none)
    int numClasses = 0;
    std::vector<std::string> classNames;
    std::string contentHash; ///< hex SHA-256 of the selected raw [0,1] images (float32) and
                             ///< labels (int64), train then test, before normalization
};

/// Reads a spec's files. Throws IoError / FormatError naming the file and the problem.
RawDataset loadRawDataset(const DatasetSpec& spec);

/// Loads, selects and normalizes. Sizes larger than the split throw ConfigError.
DataBundle loadData(const DataOptions& options);

/// IDX image + label files (raw or .gz) as an ImageSet scaled to [0,1].
ImageSet readIdxPair(const std::string& imagesPath, const std::string& labelsPath);

/// SHA-256 over raw [0,1] float32 images then int64 labels (host byte order), train then test:
/// the definition of DataBundle::contentHash (computed before normalization).
std::string contentHash(const ImageSet& train, const ImageSet& test);

/// (x − mean_c) / std_c per channel in place; a single value applies to every channel; empty
/// mean leaves the images unchanged.
void normalizeImages(ImageSet& set, const std::vector<float>& mean, const std::vector<float>& std);

/// The embedded demo (a Fashion-MNIST subset compiled into the binary).
RawDataset loadDemoDataset();

} // namespace attri
