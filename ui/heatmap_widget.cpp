#include "heatmap_widget.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>

#include <algorithm>
#include <cmath>
#include <limits>

namespace attri::ui {

namespace {
/// Tick labels of the λ axis, all in one style (4.6e-05, 1.0e+01).
QString formatLambda(double v)
{
    if (!std::isfinite(v))
        return QStringLiteral("–");
    return QString::number(v, 'e', 1);
}
} // namespace

HeatmapWidget::HeatmapWidget(QWidget* parent) : QWidget(parent)
{
    setMouseTracking(true);
    setAttribute(Qt::WA_OpaquePaintEvent);
}

void HeatmapWidget::setData(HeatmapData data)
{
    m_data = std::move(data);
    m_selected.reset();
    update();
}

void HeatmapWidget::clear()
{
    setData({});
}

void HeatmapWidget::setColormap(const QString& name)
{
    m_colormap = Colormap(name);
    update();
}

void HeatmapWidget::setSelection(double relativeLambda, qint64 k)
{
    m_selected.reset();
    const int rows = static_cast<int>(m_data.relativeLambdas.size());
    int col = -1;
    for (size_t c = 0; c < m_data.ks.size(); ++c)
        if (m_data.ks[c] == k)
            col = static_cast<int>(c);
    if (rows > 0 && col >= 0 && relativeLambda > 0) {
        int best = 0;
        double bestDist = std::numeric_limits<double>::infinity();
        for (int r = 0; r < rows; ++r) {
            const double d = std::abs(std::log10(m_data.relativeLambdas[static_cast<size_t>(r)])
                                      - std::log10(relativeLambda));
            if (d < bestDist) {
                bestDist = d;
                best = r;
            }
        }
        m_selected = std::make_pair(best, col);
    }
    update();
}

QRectF HeatmapWidget::plotRect(const QRectF& area) const
{
    return area.adjusted(86, 46, -96, -58);
}

std::pair<double, double> HeatmapWidget::range() const
{
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (Eigen::Index i = 0; i < m_data.values.size(); ++i) {
        const double v = m_data.values.data()[i];
        if (std::isfinite(v)) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
    }
    if (std::isfinite(m_data.scaleLow))
        lo = m_data.scaleLow;
    if (std::isfinite(m_data.scaleHigh))
        hi = m_data.scaleHigh;
    if (!std::isfinite(lo) || !std::isfinite(hi))
        return {0.0, 1.0};
    if (hi - lo < 1e-12)
        hi = lo + 1e-12;
    return {lo, hi};
}

QRectF HeatmapWidget::cellRect(int row, int col) const
{
    const QRectF p = plotRect(QRectF(rect()));
    const int rows = static_cast<int>(m_data.values.rows()), cols = static_cast<int>(m_data.values.cols());
    if (rows == 0 || cols == 0)
        return {};
    const double w = p.width() / cols, h = p.height() / rows;
    return QRectF(p.left() + col * w, p.bottom() - (row + 1) * h, w, h);
}

std::optional<std::pair<int, int>> HeatmapWidget::cellAt(const QPointF& pos) const
{
    const QRectF p = plotRect(QRectF(rect()));
    const int rows = static_cast<int>(m_data.values.rows()), cols = static_cast<int>(m_data.values.cols());
    if (rows == 0 || cols == 0 || !p.contains(pos))
        return std::nullopt;
    const int col = std::clamp(static_cast<int>((pos.x() - p.left()) / p.width() * cols), 0, cols - 1);
    const int row = std::clamp(static_cast<int>((p.bottom() - pos.y()) / p.height() * rows), 0, rows - 1);
    return std::make_pair(row, col);
}

QString HeatmapWidget::cellText(int row, int col) const
{
    if (row < 0 || col < 0 || row >= m_data.values.rows() || col >= m_data.values.cols())
        return {};
    const double v = m_data.values(row, col);
    const double c = m_data.relativeLambdas[static_cast<size_t>(row)];
    QString lambda;
    if (m_data.absoluteLambdas.rows() == m_data.values.rows()
        && m_data.absoluteLambdas.cols() == m_data.values.cols())
        lambda = QStringLiteral("λ = %1 (%2 × mean eigenvalue)")
                     .arg(m_data.absoluteLambdas(row, col), 0, 'g', 4)
                     .arg(c, 0, 'g', 3);
    else
        lambda = QStringLiteral("%1 × mean eigenvalue").arg(c, 0, 'g', 3);
    return QStringLiteral("%1, k = %2\nvalue %3")
        .arg(lambda)
        .arg(m_data.ks[static_cast<size_t>(col)])
        .arg(std::isfinite(v) ? QString::number(v, 'f', 4) : QStringLiteral("undefined"));
}

void HeatmapWidget::paintFigure(QPainter& painter, const QRectF& area) const
{
    painter.save();
    painter.fillRect(area, Qt::white);
    painter.setRenderHint(QPainter::Antialiasing, false);
    QFont font = painter.font();
    font.setPixelSize(12);
    painter.setFont(font);
    const QRectF plot = plotRect(area);
    const int rows = static_cast<int>(m_data.values.rows()), cols = static_cast<int>(m_data.values.cols());
    QFont titleFont = font;
    titleFont.setPixelSize(14);
    titleFont.setBold(true);
    painter.setFont(titleFont);
    painter.setPen(Qt::black);
    painter.drawText(QRectF(area.left(), area.top() + 4, area.width(), 24), Qt::AlignCenter,
                     rows == 0 ? tr("No sweep table: run an attribution with several k and a λ grid")
                               : m_data.title);
    painter.setFont(font);
    if (rows == 0 || cols == 0) {
        painter.restore();
        return;
    }
    const auto [lo, hi] = range();
    const double w = plot.width() / cols, h = plot.height() / rows;
    const bool showValues = w >= 38 && h >= 16;
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            const QRectF cell(plot.left() + c * w, plot.bottom() - (r + 1) * h, w, h);
            const double v = m_data.values(r, c);
            if (!std::isfinite(v)) {
                painter.fillRect(cell, QColor(225, 225, 225));
                painter.fillRect(cell, QBrush(QColor(170, 170, 170), Qt::BDiagPattern));
                continue;
            }
            const double t = std::clamp((v - lo) / (hi - lo), 0.0, 1.0);
            painter.fillRect(cell.adjusted(0, 0, 0.5, 0.5), m_colormap.at(t));
            if (showValues) {
                painter.setPen(m_colormap.textOn(t));
                painter.drawText(cell, Qt::AlignCenter, QString::number(v, 'f', 2));
            }
        }
    if (m_selected) {
        const QRectF cell(plot.left() + m_selected->second * w, plot.bottom() - (m_selected->first + 1) * h,
                          w, h);
        painter.setPen(QPen(Qt::white, 3));
        painter.drawRect(cell);
        painter.setPen(QPen(Qt::black, 1.5));
        painter.drawRect(cell.adjusted(-2, -2, 2, 2));
    }
    painter.setPen(Qt::black);
    painter.drawRect(plot);

    // λ axis: label as many rows as fit.
    const int step = std::max(1, static_cast<int>(std::ceil(16.0 / h)));
    for (int r = 0; r < rows; r += step) {
        const double y = plot.bottom() - (r + 0.5) * h;
        painter.drawLine(QPointF(plot.left() - 4, y), QPointF(plot.left(), y));
        painter.drawText(QRectF(plot.left() - 64, y - 8, 58, 16), Qt::AlignRight | Qt::AlignVCenter,
                         formatLambda(m_data.relativeLambdas[static_cast<size_t>(r)]));
    }
    painter.save();
    painter.translate(area.left() + 14, plot.center().y());
    painter.rotate(-90);
    painter.drawText(QRectF(-plot.height() / 2, -10, plot.height(), 20), Qt::AlignCenter,
                     tr("relative λ  (λ / mean eigenvalue)"));
    painter.restore();
    // k axis.
    const int kStep = std::max(1, static_cast<int>(std::ceil(48.0 / w)));
    for (int c = 0; c < cols; c += kStep) {
        const double x = plot.left() + (c + 0.5) * w;
        painter.drawLine(QPointF(x, plot.bottom()), QPointF(x, plot.bottom() + 4));
        painter.drawText(QRectF(x - 40, plot.bottom() + 6, 80, 16), Qt::AlignCenter,
                         QString::number(m_data.ks[static_cast<size_t>(c)]));
    }
    painter.drawText(QRectF(plot.left(), plot.bottom() + 26, plot.width(), 20), Qt::AlignCenter,
                     tr("projection dimension k"));
    // Colour bar.
    const QRectF bar(plot.right() + 18, plot.top(), 16, plot.height());
    const int steps = 64;
    for (int i = 0; i < steps; ++i) {
        const double t0 = static_cast<double>(i) / steps;
        painter.fillRect(QRectF(bar.left(), bar.bottom() - (i + 1) * bar.height() / steps, bar.width(),
                                bar.height() / steps + 0.5),
                         m_colormap.at(t0 + 0.5 / steps));
    }
    painter.setPen(Qt::black);
    painter.drawRect(bar);
    if (!m_data.scaleTitle.isEmpty())
        painter.drawText(QRectF(bar.left() - 30, bar.top() - 18, bar.width() + 60, 16), Qt::AlignCenter,
                         m_data.scaleTitle);
    for (int i = 0; i <= 4; ++i) {
        const double t = i / 4.0;
        const double y = bar.bottom() - t * bar.height();
        painter.drawLine(QPointF(bar.right(), y), QPointF(bar.right() + 4, y));
        painter.drawText(QRectF(bar.right() + 6, y - 8, 60, 16), Qt::AlignLeft | Qt::AlignVCenter,
                         QString::number(lo + t * (hi - lo), 'f', 3));
    }
    painter.restore();
}

void HeatmapWidget::paintEvent(QPaintEvent*)
{
    QPainter painter(this);
    paintFigure(painter, QRectF(rect()));
}

void HeatmapWidget::mousePressEvent(QMouseEvent* event)
{
    if (event->button() != Qt::LeftButton)
        return;
    if (auto cell = cellAt(event->position())) {
        m_selected = cell;
        update();
        Q_EMIT cellClicked(cell->first, cell->second);
    }
}

bool HeatmapWidget::event(QEvent* event)
{
    if (event->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(event);
        if (auto cell = cellAt(help->pos()))
            QToolTip::showText(help->globalPos(), cellText(cell->first, cell->second), this);
        else
            QToolTip::hideText();
        return true;
    }
    return QWidget::event(event);
}

} // namespace attri::ui
