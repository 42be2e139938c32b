#pragma once

#include <QSizeF>
#include <QString>

#include <functional>

class QChartView;
class QPainter;
class QRectF;
class QWidget;

namespace attri::ui {

/// A figure that can be exported: a name and a function that draws it into a rectangle given
/// in logical pixels (1/96 inch).
struct Figure {
    QString name;
    std::function<void(QPainter&, const QRectF&)> paint;
};

/// Size and resolution of an exported figure.
struct ExportOptions {
    QSizeF sizeMm{160.0, 100.0}; ///< physical size
    int dpi = 300;               ///< raster resolution (PNG; images inside PDF keep their pixels)
};

/// Writes `figure` to `path`; the format comes from the extension (.png, .svg, .pdf).
/// Returns an empty string on success, else a message naming the file.
QString exportFigure(const Figure& figure, const QString& path, const ExportOptions& options);

/// A figure drawing a Qt Charts chart, laid out at the export size.
Figure chartFigure(const QString& name, QChartView* view);

/// "Export…" with a file dialog (format from the chosen filter) and the stored size/DPI settings.
void exportWithDialog(QWidget* parent, const Figure& figure);

} // namespace attri::ui
