#pragma once

#include "colormap.h"

#include <Eigen/Core>

#include <QWidget>

#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace attri::ui {

/// What the heatmap draws: a λ × k table (rows λ, columns k).
struct HeatmapData {
    QString title;                       ///< e.g. "spearman_next_lambda (if-projected)"
    std::vector<double> relativeLambdas; ///< rows (c = λ / mean eigenvalue)
    std::vector<qint64> ks;              ///< columns
    Eigen::MatrixXd values;              ///< rows × columns, NaN where undefined
    Eigen::MatrixXd absoluteLambdas;     ///< same shape (may be empty)
    /// The values the colour scale's ends stand for; NaN: the data's smallest / largest value.
    /// Values outside are drawn in the end colours.
    double scaleLow = std::numeric_limits<double>::quiet_NaN();
    double scaleHigh = std::numeric_limits<double>::quiet_NaN();
    QString scaleTitle; ///< drawn above the colour bar, e.g. "LDS"
};

/// A λ × k heatmap with a colour bar, axis labels in λ and k, tooltips with the values, and
/// click-to-select. Painting is a function of a target rectangle so that export draws the same
/// figure at any size.
class HeatmapWidget : public QWidget {
    Q_OBJECT
public:
    explicit HeatmapWidget(QWidget* parent = nullptr);

    void setData(HeatmapData data);
    const HeatmapData& data() const { return m_data; }
    void clear();
    void setColormap(const QString& name);
    QString colormapName() const { return m_colormap.name(); }
    /// Highlights the cell nearest to (relative λ, k).
    void setSelection(double relativeLambda, qint64 k);
    std::optional<std::pair<int, int>> selectedCell() const { return m_selected; }

    /// The cell's rectangle in widget coordinates (for tests and tooltips).
    QRectF cellRect(int row, int col) const;
    /// (row, column) under a point in widget coordinates.
    std::optional<std::pair<int, int>> cellAt(const QPointF& pos) const;
    QString cellText(int row, int col) const;

    /// Draws the whole figure into `area` (logical pixels).
    void paintFigure(QPainter& painter, const QRectF& area) const;

    QSize sizeHint() const override { return {560, 420}; }
    QSize minimumSizeHint() const override { return {240, 180}; }

Q_SIGNALS:
    void cellClicked(int row, int col);

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    bool event(QEvent* event) override;

private:
    QRectF plotRect(const QRectF& area) const;
public:
    /// The values the colour scale runs between (the anchors, else the data's range).
    std::pair<double, double> range() const;

private:

    HeatmapData m_data;
    Colormap m_colormap;
    std::optional<std::pair<int, int>> m_selected;
};

} // namespace attri::ui
