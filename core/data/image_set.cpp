#include "data/image_set.h"

#include "common/error.h"
#include "common/hash.h"

#include <algorithm>

namespace attri {

ImageSet ImageSet::select(const std::vector<int64_t>& indices) const
{
    ImageSet out;
    out.channels = channels;
    out.height = height;
    out.width = width;
    out.blackLevel = blackLevel;
    out.count = static_cast<int64_t>(indices.size());
    const int64_t size = imageSize();
    out.images.resize(static_cast<size_t>(out.count * size));
    out.labels.resize(indices.size());
    for (size_t i = 0; i < indices.size(); ++i) {
        const int64_t row = indices[i];
        if (row < 0 || row >= count)
            throw ConfigError("ImageSet::select: index " + std::to_string(row) + " is outside 0.."
                              + std::to_string(count - 1));
        std::copy_n(images.begin() + row * size, size, out.images.begin() + static_cast<int64_t>(i) * size);
        out.labels[i] = labels[static_cast<size_t>(row)];
    }
    return out;
}

void hashImageSet(Sha256& h, const ImageSet& set)
{
    h.updateInt(set.count);
    h.updateInt(set.channels);
    h.updateInt(set.height);
    h.updateInt(set.width);
    h.update(set.images.data(), set.images.size() * sizeof(float));
    h.update(set.labels.data(), set.labels.size() * sizeof(int64_t));
}

} // namespace attri
