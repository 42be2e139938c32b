// IDX (MNIST / Fashion-MNIST) files, raw or gzipped: readIdxBuffer with both magics, readIdxFile
// on the same bytes, and idxToImageSet on a pair.
//
// Input layout: the whole input is read as one images file and as one labels file; in
// addition, when it starts with a 4-byte little-endian length L (≤ the rest), bytes [4, 4+L)
// are the images file and the remainder the labels file of a pair.

#include "data/idx_reader.h"
#include "fuzz_common.h"

#include <cstring>

using namespace attri;
using attri::fuzz::expectCleanOutcome;
using attri::fuzz::require;

namespace {

void checkArray(const IdxArray& a, size_t rank)
{
    require(a.dims.size() == rank, "IDX rank matches the magic");
    int64_t n = 1;
    for (int64_t d : a.dims) {
        require(d >= 0, "IDX dimensions are non-negative");
        n *= d;
    }
    require(a.data.size() == static_cast<size_t>(n), "IDX data holds exactly product(dims) bytes");
}

void readBoth(const uint8_t* data, size_t size, const char* name)
{
    expectCleanOutcome("readIdxBuffer(images)",
                       [&] { checkArray(readIdxBuffer(data, size, name, kIdxImagesMagic), 3); });
    expectCleanOutcome("readIdxBuffer(labels)",
                       [&] { checkArray(readIdxBuffer(data, size, name, kIdxLabelsMagic), 1); });
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static attri::fuzz::ScratchFile scratch(".idx");
    readBoth(data, size, "fuzz.idx");

    // The file path goes through zlib's gz* interface instead of the in-memory inflater.
    const std::string& path = scratch.write(data, size);
    expectCleanOutcome("readIdxFile(images)", [&] { checkArray(readIdxFile(path, kIdxImagesMagic), 3); });
    expectCleanOutcome("readIdxFile(labels)", [&] { checkArray(readIdxFile(path, kIdxLabelsMagic), 1); });

    if (size < 4)
        return 0;
    uint32_t imagesLength;
    std::memcpy(&imagesLength, data, 4);
    if (imagesLength > size - 4)
        return 0;
    const uint8_t* imagesBytes = data + 4;
    const uint8_t* labelsBytes = imagesBytes + imagesLength;
    const size_t labelsLength = size - 4 - imagesLength;
    IdxArray images, labels;
    if (!expectCleanOutcome("readIdxBuffer(pair images)", [&] {
            images = readIdxBuffer(imagesBytes, imagesLength, "fuzz-images", kIdxImagesMagic);
        }))
        return 0;
    if (!expectCleanOutcome("readIdxBuffer(pair labels)", [&] {
            labels = readIdxBuffer(labelsBytes, labelsLength, "fuzz-labels", kIdxLabelsMagic);
        }))
        return 0;
    for (int numClasses : {10, 2, 256}) {
        expectCleanOutcome("idxToImageSet", [&] {
            const ImageSet set = idxToImageSet(images, labels, "fuzz-images", "fuzz-labels", numClasses);
            require(set.count == images.dims[0] && set.channels == 1, "ImageSet count and channels");
            require(set.images.size() == static_cast<size_t>(set.count * set.imageSize()),
                    "ImageSet holds count·H·W values");
            require(set.labels.size() == static_cast<size_t>(set.count), "ImageSet holds count labels");
            for (int64_t label : set.labels)
                require(label >= 0 && label < numClasses, "labels lie in [0, numClasses)");
            for (float v : set.images)
                require(v >= 0.0f && v <= 1.0f, "pixels lie in [0, 1]");
        });
    }
    return 0;
}
