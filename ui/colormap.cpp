#include "colormap.h"

#include <algorithm>
#include <cmath>

namespace attri::ui {

namespace {
// Anchors sampled evenly from matplotlib's maps (11 stops, linear interpolation in between).
const QRgb kViridis[] = {0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c,
                         0x22a884, 0x44bf70, 0x7ad151, 0xbddf26, 0xfde725};
const QRgb kCividis[] = {0x00224e, 0x123570, 0x3b496c, 0x575d6d, 0x707173, 0x8a8779,
                         0xa69d75, 0xc4b56c, 0xe4cf5b, 0xf6e14b, 0xfee838};
} // namespace

Colormap::Colormap(const QString& name) : m_name(names().contains(name) ? name : QStringLiteral("viridis")) {}

QColor Colormap::at(double t) const
{
    const QRgb* stops = m_name == QLatin1String("cividis") ? kCividis : kViridis;
    if (!std::isfinite(t))
        t = 0;
    t = std::clamp(t, 0.0, 1.0) * 10.0;
    const int i = std::min(9, static_cast<int>(std::floor(t)));
    const double f = t - i;
    auto mix = [f](int a, int b) { return static_cast<int>(std::lround(a + (b - a) * f)); };
    const QRgb a = stops[i], b = stops[i + 1];
    return QColor(mix(qRed(a), qRed(b)), mix(qGreen(a), qGreen(b)), mix(qBlue(a), qBlue(b)));
}

QColor Colormap::textOn(double t) const
{
    const QColor c = at(t);
    const double luminance = 0.2126 * c.redF() + 0.7152 * c.greenF() + 0.0722 * c.blueF();
    return luminance > 0.45 ? Qt::black : Qt::white;
}

} // namespace attri::ui
