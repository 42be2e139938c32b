#include "tile_grid_widget.h"

#include <QFontMetricsF>
#include <QHelpEvent>
#include <QPainter>
#include <QToolTip>

#include <algorithm>
#include <cmath>

namespace attri::ui {

namespace {
constexpr double kCaption = 30; ///< two caption lines under each tile
constexpr double kGap = 6;
} // namespace

TileGridWidget::TileGridWidget(const QString& title, QColor accent, QWidget* parent)
    : QWidget(parent), m_title(title), m_accent(accent)
{
    setAttribute(Qt::WA_OpaquePaintEvent);
}

void TileGridWidget::setTiles(QVector<Tile> tiles)
{
    m_tiles = std::move(tiles);
    update();
}

void TileGridWidget::setTitle(const QString& title)
{
    m_title = title;
    update();
}

QVector<QRectF> TileGridWidget::tileRects(const QRectF& area) const
{
    const QRectF grid = area.adjusted(6, 26, -6, -4);
    const int n = m_tiles.size();
    // The column count that gives the largest square tiles (each with its two-line caption).
    int bestCols = 1;
    double bestSide = 0;
    for (int cols = 1; cols <= n; ++cols) {
        const int rows = (n + cols - 1) / cols;
        const double side = std::min(grid.width() / cols - kGap, grid.height() / rows - kGap - kCaption);
        if (side > bestSide) {
            bestSide = side;
            bestCols = cols;
        }
    }
    const double side = std::max(8.0, bestSide);
    const double cellW = side + kGap, cellH = side + kCaption + kGap;
    QVector<QRectF> rects;
    for (int i = 0; i < n; ++i)
        rects.append(QRectF(grid.left() + (i % bestCols) * cellW, grid.top() + (i / bestCols) * cellH, side, side));
    return rects;
}

QFont TileGridWidget::captionFont() const
{
    QFont f = font();
    f.setPixelSize(11);
    return f;
}

QString TileGridWidget::scoreCaption(int i, const QFontMetricsF& metrics, double width) const
{
    // The longest form that fits: rank and 3 digits, then the score alone, then 2 digits.
    const double score = m_tiles[i].score;
    const QString forms[] = {QStringLiteral("#%1  %2").arg(i + 1).arg(QString::asprintf("%+.3g", score)),
                             QString::asprintf("%+.3g", score), QString::asprintf("%+.2g", score)};
    for (const QString& form : forms)
        if (metrics.horizontalAdvance(form) <= width)
            return form;
    return forms[2];
}

int TileGridWidget::clippedCaptions() const
{
    const QVector<QRectF> rects = tileRects(QRectF(rect()));
    const QFontMetricsF metrics(captionFont());
    int clipped = 0;
    for (int i = 0; i < rects.size(); ++i) {
        const double width = rects[i].width() + kGap;
        if (metrics.horizontalAdvance(scoreCaption(i, metrics, width)) > width
            || metrics.horizontalAdvance(m_tiles[i].label) > width)
            ++clipped;
    }
    return clipped;
}

QSize TileGridWidget::minimumSizeHint() const
{
    // One row of tiles at the smallest side that reads (kMinTileSide) with the title and captions.
    return {200, static_cast<int>(26 + 4 + kMinTileSide + kCaption + kGap)};
}

QString TileGridWidget::tileToolTip(const QPoint& pos) const
{
    const QVector<QRectF> rects = tileRects(QRectF(rect()));
    for (int i = 0; i < rects.size(); ++i)
        if (rects[i].adjusted(0, 0, 0, kCaption).contains(pos)) {
            const Tile& t = m_tiles[i];
            return tr("#%1: training image %2, %3\nscore %4").arg(i + 1).arg(t.index).arg(t.label).arg(t.score, 0, 'g', 4);
        }
    return {};
}

bool TileGridWidget::event(QEvent* e)
{
    if (e->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(e);
        const QString text = tileToolTip(help->pos());
        if (text.isEmpty())
            QToolTip::hideText();
        else
            QToolTip::showText(help->globalPos(), text, this);
        return true;
    }
    return QWidget::event(e);
}

void TileGridWidget::paintFigure(QPainter& painter, const QRectF& area) const
{
    painter.save();
    painter.fillRect(area, Qt::white);
    QFont font = painter.font();
    font.setPixelSize(14);
    font.setBold(true);
    painter.setFont(font);
    painter.setPen(m_accent.darker(130));
    painter.drawText(QRectF(area.left() + 6, area.top() + 2, area.width() - 12, 22),
                     Qt::AlignLeft | Qt::AlignVCenter, m_title);
    painter.setFont(captionFont());
    const QRectF grid = area.adjusted(6, 26, -6, -4);
    const int n = m_tiles.size();
    if (n == 0) {
        painter.setPen(Qt::gray);
        painter.drawText(grid, Qt::AlignCenter, tr("Select a test image"));
        painter.restore();
        return;
    }
    const QVector<QRectF> rects = tileRects(area);
    const QFontMetricsF metrics(captionFont());
    for (int i = 0; i < n; ++i) {
        const Tile& t = m_tiles[i];
        const QRectF& img = rects[i];
        painter.setRenderHint(QPainter::SmoothPixmapTransform, false); // crisp pixels
        painter.drawImage(img, t.image);
        painter.setPen(QPen(m_accent, 2));
        painter.drawRect(img);
        painter.setPen(Qt::black);
        const QRectF cap(img.left() - kGap / 2, img.bottom() + 1, img.width() + kGap, kCaption);
        painter.drawText(cap, Qt::AlignHCenter | Qt::AlignTop,
                         metrics.elidedText(scoreCaption(i, metrics, cap.width()), Qt::ElideRight, cap.width())
                             + QLatin1Char('\n') + metrics.elidedText(t.label, Qt::ElideRight, cap.width()));
    }
    painter.restore();
}

void TileGridWidget::paintEvent(QPaintEvent*)
{
    QPainter painter(this);
    paintFigure(painter, QRectF(rect()));
    painter.end();
    Q_EMIT painted();
}

LossChangeBars::LossChangeBars(QWidget* parent) : QWidget(parent)
{
    setMinimumHeight(44);
    hide();
}

void LossChangeBars::setChanges(double withoutProponents, double withoutRandom, int count)
{
    m_proponents = withoutProponents;
    m_random = withoutRandom;
    m_count = count;
    setVisible(std::isfinite(m_proponents) && std::isfinite(m_random));
    update();
}

void LossChangeBars::paintEvent(QPaintEvent*)
{
    QPainter painter(this);
    painter.fillRect(rect(), palette().window());
    if (!std::isfinite(m_proponents) || !std::isfinite(m_random))
        return;
    const double labelWidth = 210, valueWidth = 64;
    const QRectF bars(labelWidth, 2, std::max(40.0, width() - labelWidth - valueWidth), height() - 4);
    const double scale = std::max({std::abs(m_proponents), std::abs(m_random), 1e-12});
    const double zero = bars.left() + bars.width() * (std::min({m_proponents, m_random, 0.0}) < 0 ? 0.5 : 0.0);
    const double span = zero > bars.left() ? bars.width() / 2 : bars.width();
    const double rowH = bars.height() / 2;
    const struct {
        QString label;
        double value;
        QColor color;
    } rows[] = {{tr("loss change without the top %1").arg(m_count), m_proponents, QColor(0x00, 0x72, 0xB2)},
                {tr("without %1 random images").arg(m_count), m_random, QColor(0x99, 0x99, 0x99)}};
    for (int i = 0; i < 2; ++i) {
        const double y = bars.top() + i * rowH;
        painter.setPen(palette().windowText().color());
        painter.drawText(QRectF(0, y, labelWidth - 6, rowH), Qt::AlignRight | Qt::AlignVCenter, rows[i].label);
        const double w = rows[i].value / scale * span;
        painter.fillRect(QRectF(std::min(zero, zero + w), y + 3, std::abs(w), rowH - 6), rows[i].color);
        painter.drawText(QRectF(bars.right() + 4, y, valueWidth, rowH), Qt::AlignLeft | Qt::AlignVCenter,
                         QString::asprintf("%+.4f", rows[i].value));
    }
    painter.setPen(QPen(palette().windowText().color(), 1));
    painter.drawLine(QPointF(zero, bars.top()), QPointF(zero, bars.bottom()));
}

} // namespace attri::ui
