#include "tile_grid_widget.h"

#include <QPainter>

#include <cmath>

namespace attri::ui {

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
    font.setBold(false);
    font.setPixelSize(11);
    painter.setFont(font);
    const QRectF grid = area.adjusted(6, 26, -6, -4);
    const int n = m_tiles.size();
    if (n == 0) {
        painter.setPen(Qt::gray);
        painter.drawText(grid, Qt::AlignCenter, tr("Select a test image"));
        painter.restore();
        return;
    }
    // Choose the column count that gives the largest square tiles (with a 30 px caption).
    const double caption = 30, gap = 6;
    int bestCols = 1;
    double bestSide = 0;
    for (int cols = 1; cols <= n; ++cols) {
        const int rows = (n + cols - 1) / cols;
        const double side = std::min(grid.width() / cols - gap, grid.height() / rows - gap - caption);
        if (side > bestSide) {
            bestSide = side;
            bestCols = cols;
        }
    }
    const double side = std::max(8.0, bestSide);
    const double cellW = side + gap, cellH = side + caption + gap;
    for (int i = 0; i < n; ++i) {
        const Tile& t = m_tiles[i];
        const int r = i / bestCols, c = i % bestCols;
        const QRectF img(grid.left() + c * cellW, grid.top() + r * cellH, side, side);
        painter.setRenderHint(QPainter::SmoothPixmapTransform, false); // crisp pixels
        painter.drawImage(img, t.image);
        painter.setPen(QPen(m_accent, 2));
        painter.drawRect(img);
        painter.setPen(Qt::black);
        const QRectF cap(img.left() - gap / 2, img.bottom() + 1, side + gap, caption);
        painter.drawText(cap, Qt::AlignHCenter | Qt::AlignTop,
                         QStringLiteral("#%1  %2\n%3").arg(i + 1).arg(t.score, 0, 'g', 3).arg(t.label));
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

} // namespace attri::ui
