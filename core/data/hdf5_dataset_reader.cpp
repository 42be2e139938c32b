#include "data/hdf5_dataset_reader.h"

#include "common/error.h"
#include "common/text.h"
#include "store/h5_file.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

namespace attri {

namespace {

std::string shapeText(const std::vector<int64_t>& shape)
{
    return shape.empty() ? "a scalar" : dimsText(shape);
}

/// Shape and kind of a dataset that must exist; the parent group is checked first so that a
/// missing group reads as a missing dataset.
H5DatasetInfo requireDataset(const H5File& file, const std::string& path)
{
    const std::string group = path.substr(0, path.find('/', 1));
    if (!file.exists(group) || !file.exists(path))
        throw FormatError(
            file.path() + ": missing dataset " + path
            + " (an h5 dataset needs /train/images, /train/labels, /test/images, /test/labels)");
    return file.info(path);
}

ImageSet readSplit(const H5File& file, const std::string& split, int64_t& maxLabel)
{
    const std::string imagesPath = "/" + split + "/images";
    const std::string labelsPath = "/" + split + "/labels";
    const H5DatasetInfo imagesInfo = requireDataset(file, imagesPath);
    const H5DatasetInfo labelsInfo = requireDataset(file, labelsPath);
    const std::string& name = file.path();

    const auto& shape = imagesInfo.shape;
    if (shape.size() != 3 && shape.size() != 4)
        throw FormatError(name + ": " + imagesPath + " has shape " + shapeText(shape)
                          + " (expected rank 3, N×H×W, or rank 4, N×C×H×W)");
    const bool isUInt8 = imagesInfo.kind == H5DatasetInfo::Kind::Integer && imagesInfo.elementBytes == 1
                         && !imagesInfo.isSigned;
    if (!isUInt8 && imagesInfo.kind != H5DatasetInfo::Kind::Float)
        throw FormatError(name + ": " + imagesPath + " must hold uint8 or floating-point values");
    if (labelsInfo.shape.size() != 1)
        throw FormatError(name + ": " + labelsPath + " has shape " + shapeText(labelsInfo.shape)
                          + " (expected rank 1, one label per image)");
    if (labelsInfo.kind != H5DatasetInfo::Kind::Integer)
        throw FormatError(name + ": " + labelsPath + " must hold integers");
    if (labelsInfo.shape[0] != shape[0])
        throw FormatError(name + ": " + imagesPath + " holds " + std::to_string(shape[0]) + " images but "
                          + labelsPath + " holds " + std::to_string(labelsInfo.shape[0]) + " labels");

    // Checked before any product is formed: a crafted file can declare dimensions whose product
    // overflows (the values are then never read; H5File refuses them too). Zeros are skipped so
    // that every partial product of the others is checked as well.
    int64_t nonZeroProduct = 1;
    for (int64_t d : shape) {
        if (d < 0 || (d > 0 && nonZeroProduct > std::numeric_limits<int64_t>::max() / d))
            throw FormatError(name + ": " + imagesPath + " has an impossible shape " + shapeText(shape));
        nonZeroProduct *= std::max<int64_t>(d, 1);
    }

    ImageSet set;
    set.count = shape[0];
    set.channels = shape.size() == 4 ? shape[1] : 1;
    set.height = shape[shape.size() - 2];
    set.width = shape[shape.size() - 1];
    if (set.imageSize() <= 0)
        throw FormatError(name + ": " + imagesPath + " has an empty image shape " + shapeText(shape));

    if (isUInt8) {
        const std::vector<uint8_t> bytes = file.readUInt8(imagesPath);
        set.images.resize(bytes.size());
        std::transform(bytes.begin(), bytes.end(), set.images.begin(),
                       [](uint8_t v) { return static_cast<float>(v) / 255.0f; });
    } else {
        set.images = file.readFloats(imagesPath);
        const auto bad =
            std::find_if(set.images.begin(), set.images.end(), [](float v) { return !std::isfinite(v); });
        if (bad != set.images.end())
            throw FormatError(name + ": " + imagesPath + " holds a non-finite value at element "
                              + std::to_string(bad - set.images.begin()));
    }
    if (static_cast<int64_t>(set.images.size()) != set.count * set.imageSize())
        throw FormatError(name + ": " + imagesPath + " read " + std::to_string(set.images.size())
                          + " values, expected " + std::to_string(set.count * set.imageSize()));

    set.labels = file.readInt64(labelsPath);
    for (size_t i = 0; i < set.labels.size(); ++i) {
        if (set.labels[i] < 0)
            throw FormatError(name + ": " + labelsPath + " has negative label "
                              + std::to_string(set.labels[i]) + " at index " + std::to_string(i));
        maxLabel = std::max(maxLabel, set.labels[i]);
    }
    return set;
}

} // namespace

RawDataset loadHdf5Dataset(const std::string& path)
{
    if (!std::filesystem::exists(path))
        throw IoError(path + ": no such file (spec h5:FILE needs an HDF5 file)");
    const H5File file(path, H5File::Mode::ReadOnly);

    RawDataset data;
    data.name = std::filesystem::path(path).stem().string();
    data.files = {path};
    int64_t maxLabel = -1;
    data.train = readSplit(file, "train", maxLabel);
    data.test = readSplit(file, "test", maxLabel);
    if (data.train.channels != data.test.channels || data.train.height != data.test.height
        || data.train.width != data.test.width)
        throw FormatError(path + ": /train/images are "
                          + shapeText({data.train.channels, data.train.height, data.train.width})
                          + " but /test/images are "
                          + shapeText({data.test.channels, data.test.height, data.test.width}) + " (C×H×W)");

    // Checked before adding one: a label of 2^63-1 would overflow.
    if (maxLabel >= 1000000)
        throw FormatError(path + ": label " + std::to_string(maxLabel)
                          + " implies more than 1000000 classes, which is implausible");
    int64_t numClasses = maxLabel + 1;
    if (file.hasAttr("/", "num_classes")) {
        const int64_t declared = file.attrInt("/", "num_classes");
        if (declared <= maxLabel)
            throw FormatError(path + ": attribute num_classes = " + std::to_string(declared)
                              + " but the labels go up to " + std::to_string(maxLabel));
        numClasses = declared;
    }
    if (numClasses < 1)
        throw FormatError(path + ": no labels in /train/labels or /test/labels");
    if (numClasses > 1000000)
        throw FormatError(path + ": " + std::to_string(numClasses) + " classes is implausible");
    data.numClasses = static_cast<int>(numClasses);

    if (file.exists("/class_names")) {
        data.classNames = file.readStrings("/class_names");
        if (static_cast<int64_t>(data.classNames.size()) != numClasses)
            throw FormatError(path + ": /class_names has " + std::to_string(data.classNames.size())
                              + " entries but there are " + std::to_string(numClasses) + " classes");
    } else {
        for (int64_t k = 0; k < numClasses; ++k)
            data.classNames.push_back(std::to_string(k));
    }
    return data;
}

} // namespace attri
