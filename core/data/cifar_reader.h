#pragma once

#include "data/data_loader.h"
#include "data/image_set.h"

#include <cstddef>
#include <string>
#include <vector>

namespace attri {

/// Bytes in one CIFAR-10 binary record: a label byte, then 3×32×32 pixels (CHW).
inline constexpr int64_t kCifarRecordBytes = 1 + 3 * 32 * 32;

/// The ten CIFAR-10 class names, in label order.
std::vector<std::string> cifar10ClassNames();

/// Reads one CIFAR-10 binary batch as an ImageSet (3×32×32, scaled to [0,1]). Throws IoError
/// when the file cannot be read, FormatError (naming the file) when its size is not a positive
/// multiple of 3073 or a label is > 9.
ImageSet readCifarBatch(const std::string& path);

/// Same as readCifarBatch for a batch held in memory; `name` stands for the file in error messages.
ImageSet readCifarBuffer(const void* data, size_t size, const std::string& name);

/// Concatenates several batches (same layout) in the given order.
ImageSet readCifarBatches(const std::vector<std::string>& paths);

/// Keeps only cats (3) and dogs (5), relabelled 0 = cat, 1 = dog, in the original order.
ImageSet selectCatsAndDogs(const ImageSet& cifar10);

/// CIFAR-10 from the directory of the binary version: train = the data_batch_1..5.bin that are
/// present (data_batch_1.bin is required), test = test_batch.bin. IoError names the directory.
RawDataset loadCifar10(const std::string& dir);

/// CIFAR-10 reduced to cats and dogs (see selectCatsAndDogs); name "cifar2".
RawDataset loadCifar2(const std::string& dir);

} // namespace attri
