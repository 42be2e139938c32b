#pragma once

#include "data/data_loader.h"

#include <string>

namespace attri {

/// Reads a dataset stored in HDF5 (spec `h5:FILE`) with the datasets /train/images,
/// /train/labels, /test/images and /test/labels.
///
/// - Images are N×H×W (one channel) or N×C×H×W. uint8 images are scaled by 1/255; float images
///   are taken as they are (they should already lie in [0,1]; only non-finite values are
///   rejected). Other element types are a FormatError. Train and test must share C×H×W.
/// - Labels are a 1-D dataset of any integer type with one label per image; negative labels are
///   a FormatError.
/// - numClasses is the root attribute `num_classes` when present (it must exceed every label),
///   otherwise the largest label + 1 over both splits.
/// - classNames come from the optional string dataset /class_names (numClasses entries),
///   otherwise "0", "1", ….
///
/// The name is the file's stem. Every error names the file and the dataset.
RawDataset loadHdf5Dataset(const std::string& path);

} // namespace attri
