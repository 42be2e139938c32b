#include "image_util.h"

#include "data/image_set.h"

#include <algorithm>

namespace attri::ui {

QImage toQImage(const ImageSet& set, int64_t index, const std::vector<float>& mean,
                const std::vector<float>& std)
{
    if (index < 0 || index >= set.count)
        return {};
    const int w = static_cast<int>(set.width), h = static_cast<int>(set.height);
    const int64_t c = set.channels, plane = set.height * set.width;
    const float* px = set.images.data() + index * set.imageSize();
    auto value = [&](int64_t ch, int64_t i) {
        float v = px[ch * plane + i];
        const size_t k = static_cast<size_t>(ch);
        if (k < std.size())
            v *= std[k];
        if (k < mean.size())
            v += mean[k];
        return static_cast<int>(std::clamp(v, 0.0f, 1.0f) * 255.0f + 0.5f);
    };
    QImage img(w, h, c == 1 ? QImage::Format_Grayscale8 : QImage::Format_RGB32);
    for (int y = 0; y < h; ++y) {
        uchar* line = img.scanLine(y);
        for (int x = 0; x < w; ++x) {
            const int64_t i = static_cast<int64_t>(y) * w + x;
            if (c == 1)
                line[x] = static_cast<uchar>(value(0, i));
            else
                reinterpret_cast<QRgb*>(line)[x] = qRgb(value(0, i), value(std::min<int64_t>(1, c - 1), i),
                                                        value(std::min<int64_t>(2, c - 1), i));
        }
    }
    return img;
}

} // namespace attri::ui
