#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace attri {

class Sha256;

/// A set of images with integer labels. Images are float32, row-major N×C×H×W.
/// After loading they are in [0,1]; after normalization they are (x − mean_c) / std_c.
struct ImageSet {
    std::vector<float> images;   ///< count·channels·height·width values
    std::vector<int64_t> labels; ///< count labels in [0, numClasses)
    int64_t count = 0;           ///< number of images
    int64_t channels = 0;        ///< C
    int64_t height = 0;          ///< H
    int64_t width = 0;           ///< W
    /// The value a black (0) pixel has in these images, per channel (one value for all channels
    /// allowed): −mean_c/std_c after normalization; empty while they are in [0,1] (black is 0).
    std::vector<float> blackLevel;

    int64_t imageSize() const { return channels * height * width; }
    /// blackLevel of channel c (0 when it is empty).
    float black(int64_t c) const
    {
        return blackLevel.empty() ? 0.0f : blackLevel[blackLevel.size() == 1 ? 0 : static_cast<std::size_t>(c)];
    }
    /// The rows at `indices`, in that order.
    ImageSet select(const std::vector<int64_t>& indices) const;
};

/// Adds the set's shape, pixels and labels to a content hash.
void hashImageSet(Sha256& hash, const ImageSet& set);

} // namespace attri
