#pragma once

#include "data/image_set.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace attri {

/// The IDX magic of an unsigned-byte array with 3 dimensions (N×H×W images).
inline constexpr uint32_t kIdxImagesMagic = 0x00000803;
/// The IDX magic of an unsigned-byte array with 1 dimension (N labels).
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;

/// One decoded IDX file: its dimensions (big-endian header, here host order) and its bytes.
struct IdxArray {
    std::vector<int64_t> dims; ///< e.g. {60000, 28, 28} for images, {60000} for labels
    std::vector<uint8_t> data; ///< product(dims) bytes, row-major
};

/// Reads an IDX file, gzipped or not (zlib detects which). `expectedMagic` is kIdxImagesMagic
/// or kIdxLabelsMagic. The data is read in bounded chunks, so a crafted header that promises
/// gigabytes never allocates more than the file really holds. Throws IoError when the file
/// cannot be opened or read, FormatError on a wrong magic, absurd dimensions, truncation or
/// trailing bytes; every message names `path`.
IdxArray readIdxFile(const std::string& path, uint32_t expectedMagic);

/// Same as readIdxFile for a file held in memory (gzipped or raw); `name` stands for the
/// file in error messages.
IdxArray readIdxBuffer(const void* data, size_t size, const std::string& name, uint32_t expectedMagic);

/// Combines decoded IDX images (N×H×W) and labels (N) into an ImageSet scaled to [0,1] (C = 1).
/// Throws FormatError naming both files on a count mismatch, and naming the labels file when a
/// label is ≥ numClasses.
ImageSet idxToImageSet(const IdxArray& images, const IdxArray& labels, const std::string& imagesName,
                       const std::string& labelsName, int numClasses);

/// readIdxPair (see data_loader.h) with an explicit class count (readIdxPair uses 10).
ImageSet readIdxPair(const std::string& imagesPath, const std::string& labelsPath, int numClasses);

} // namespace attri
