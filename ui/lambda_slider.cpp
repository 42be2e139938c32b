#include "lambda_slider.h"

#include <QPainter>
#include <QPainterPath>
#include <QStyle>
#include <QStyleOptionSlider>

#include <cmath>
#include <limits>

namespace attri::ui {

LambdaSlider::LambdaSlider(int stepsPerDecade, QWidget* parent)
    : QSlider(Qt::Horizontal, parent), m_stepsPerDecade(stepsPerDecade)
{
    // Room above the groove for the marker triangles.
    setMinimumHeight(sizeHint().height() + 16);
}

void LambdaSlider::setMarker(LambdaMarker kind, double relativeLambda)
{
    if (std::isfinite(relativeLambda) && relativeLambda > 0.0)
        m_markers[kind] = relativeLambda;
    else
        m_markers.erase(kind);
    update();
}

double LambdaSlider::marker(LambdaMarker kind) const
{
    const auto it = m_markers.find(kind);
    return it == m_markers.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
}

int LambdaSlider::xForValue(int sliderValue) const
{
    QStyleOptionSlider option;
    initStyleOption(&option);
    const QRect groove = style()->subControlRect(QStyle::CC_Slider, &option, QStyle::SC_SliderGroove, this);
    const QRect handle = style()->subControlRect(QStyle::CC_Slider, &option, QStyle::SC_SliderHandle, this);
    const int span = groove.width() - handle.width();
    return groove.left() + handle.width() / 2 +
           QStyle::sliderPositionFromValue(minimum(), maximum(), sliderValue, span, option.upsideDown);
}

int LambdaSlider::markerX(LambdaMarker kind) const
{
    const double relative = marker(kind);
    if (std::isnan(relative))
        return -1;
    const double position = std::log10(relative) * m_stepsPerDecade;
    if (position < minimum() - 0.5 || position > maximum() + 0.5)
        return -1;
    return xForValue(static_cast<int>(std::lround(position)));
}

QString LambdaSlider::legendHtml() const
{
    QStringList parts;
    for (const auto& [kind, value] : m_markers) {
        const LambdaMarkerStyle style = lambdaMarkerStyle(kind);
        const QString glyph = kind == LambdaMarker::Accepted ? QStringLiteral("▲") : QStringLiteral("▼");
        QString part = QStringLiteral("<span style=\"color:%1\">%2</span> %3 %4 ×")
                           .arg(style.color.name(), glyph, style.name, formatLambda(value));
        if (markerX(kind) < 0)
            part += tr(" (off the slider)");
        parts << part;
    }
    return parts.join(QStringLiteral("&nbsp;&nbsp;&nbsp;"));
}

void LambdaSlider::paintEvent(QPaintEvent* event)
{
    QSlider::paintEvent(event);
    if (m_markers.empty())
        return;
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);
    const double size = 5.0;
    for (const auto& [kind, value] : m_markers) {
        const int x = markerX(kind);
        if (x < 0)
            continue;
        // The recommended λ points down from above the groove, the accepted one up from below:
        // both stay visible where they coincide.
        const bool below = kind == LambdaMarker::Accepted;
        const double base = below ? height() - 0.5 : 0.5;
        const double tip = below ? base - 1.6 * size : base + 1.6 * size;
        QPainterPath triangle;
        triangle.moveTo(x - size, base);
        triangle.lineTo(x + size, base);
        triangle.lineTo(x, tip);
        triangle.closeSubpath();
        const LambdaMarkerStyle style = lambdaMarkerStyle(kind);
        painter.setPen(QPen(style.color.darker(130), 1.0));
        painter.setBrush(style.color);
        painter.drawPath(triangle);
    }
}

} // namespace attri::ui
