#pragma once

#include <QImage>

#include <cstdint>
#include <vector>

namespace attri {
struct ImageSet;
}

namespace attri::ui {

/// The image at `index` of a normalized set as a displayable QImage: un-normalized with the
/// per-channel mean/std (empty: none) and clamped to [0,1]. 1 channel → grayscale, 3 → RGB.
QImage toQImage(const ImageSet& set, int64_t index, const std::vector<float>& mean,
                const std::vector<float>& std);

} // namespace attri::ui
