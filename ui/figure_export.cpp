#include "figure_export.h"

#include "app_settings.h"

#include "common/error.h"
#include "store/atomic_write.h"

#include <QBuffer>
#include <QChart>
#include <QChartView>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGraphicsLayout>
#include <QGraphicsScene>
#include <QImage>
#include <QMessageBox>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>
#include <QSpinBox>
#include <QSvgGenerator>

namespace attri::ui {

namespace {
constexpr double kLogicalDpi = 96.0;
}

namespace {

/// Renders the figure into `bytes` in the format of `suffix`; an error message, or empty.
QString renderFigure(const Figure& figure, const QString& path, const QString& suffix, const ExportOptions& options,
                     QByteArray& bytes)
{
    const QSizeF logical(options.sizeMm.width() / 25.4 * kLogicalDpi,
                         options.sizeMm.height() / 25.4 * kLogicalDpi);
    const QRectF area(QPointF(0, 0), logical);
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    if (suffix == QLatin1String("png")) {
        const double scale = options.dpi / kLogicalDpi;
        QImage image((logical * scale).toSize(), QImage::Format_ARGB32_Premultiplied);
        image.fill(Qt::white);
        {
            QPainter painter(&image);
            painter.setRenderHint(QPainter::Antialiasing);
            painter.setRenderHint(QPainter::TextAntialiasing);
            painter.scale(scale, scale);
            figure.paint(painter, area);
        }
        const int dpm = static_cast<int>(options.dpi / 0.0254 + 0.5);
        image.setDotsPerMeterX(dpm);
        image.setDotsPerMeterY(dpm);
        if (!image.save(&buffer, "PNG"))
            return QObject::tr("%1: could not encode the PNG image").arg(path);
        return {};
    }
    if (suffix == QLatin1String("svg")) {
        QSvgGenerator svg;
        svg.setOutputDevice(&buffer);
        svg.setSize(logical.toSize());
        svg.setViewBox(area);
        svg.setResolution(static_cast<int>(kLogicalDpi));
        svg.setTitle(figure.name);
        svg.setDescription(QStringLiteral("AttriScope figure"));
        QPainter painter;
        if (!painter.begin(&svg))
            return QObject::tr("%1: could not draw the SVG drawing").arg(path);
        figure.paint(painter, area);
        painter.end();
        return {};
    }
    if (suffix == QLatin1String("pdf")) {
        QPdfWriter pdf(&buffer);
        pdf.setResolution(static_cast<int>(kLogicalDpi)); // vector output; fonts stay at their point size
        pdf.setPageSize(QPageSize(options.sizeMm, QPageSize::Millimeter, figure.name));
        pdf.setPageMargins(QMarginsF(0, 0, 0, 0));
        pdf.setTitle(figure.name);
        pdf.setCreator(QStringLiteral("AttriScope"));
        QPainter painter;
        if (!painter.begin(&pdf))
            return QObject::tr("%1: could not draw the PDF document").arg(path);
        painter.setRenderHint(QPainter::Antialiasing);
        figure.paint(painter, QRectF(0, 0, pdf.width(), pdf.height()));
        painter.end();
        return {};
    }
    return QObject::tr("%1: unknown format '%2' (use .png, .svg or .pdf)").arg(path, suffix);
}

} // namespace

QString exportFigure(const Figure& figure, const QString& path, const ExportOptions& options)
{
    if (options.sizeMm.width() <= 0 || options.sizeMm.height() <= 0 || options.dpi < 30 || options.dpi > 2400)
        return QObject::tr("%1: invalid export size or DPI").arg(path);
    // Rendered in memory, then written whole through the core's atomic writer: a failed export
    // never leaves a truncated file, and a symbolic link at the path is refused.
    QByteArray bytes;
    const QString error = renderFigure(figure, path, QFileInfo(path).suffix().toLower(), options, bytes);
    if (!error.isEmpty())
        return error;
    if (bytes.isEmpty())
        return QObject::tr("%1: the figure rendered to nothing").arg(path);
    try {
        writeTextAtomically(path.toStdString(), std::string(bytes.constData(), static_cast<size_t>(bytes.size())));
    } catch (const Error& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

Figure chartFigure(const QString& name, QChartView* view)
{
    return {name, [view](QPainter& painter, const QRectF& area) {
                QChart* chart = view->chart();
                painter.fillRect(area, Qt::white);
                // Lay the chart out at the export size, render, and put it back.
                const QRectF old = chart->geometry();
                chart->setGeometry(QRectF(QPointF(0, 0), area.size()));
                chart->layout()->activate();
                view->scene()->render(&painter, area, QRectF(QPointF(0, 0), area.size()),
                                      Qt::IgnoreAspectRatio);
                chart->setGeometry(old);
                chart->layout()->activate();
            }};
}

void exportWithDialog(QWidget* parent, const Figure& figure)
{
    QString selected;
    QString path = QFileDialog::getSaveFileName(
        parent, QObject::tr("Export %1").arg(figure.name), figure.name + QStringLiteral(".png"),
        QObject::tr("PNG image (*.png);;SVG drawing (*.svg);;PDF document (*.pdf)"), &selected);
    if (path.isEmpty())
        return;
    if (QFileInfo(path).suffix().isEmpty())
        path += selected.contains(QLatin1String("svg"))   ? QStringLiteral(".svg")
                : selected.contains(QLatin1String("pdf")) ? QStringLiteral(".pdf")
                                                          : QStringLiteral(".png");
    QDialog dialog(parent);
    dialog.setWindowTitle(QObject::tr("Figure size"));
    auto* form = new QFormLayout(&dialog);
    auto* width = new QDoubleSpinBox(&dialog);
    auto* height = new QDoubleSpinBox(&dialog);
    auto* dpi = new QSpinBox(&dialog);
    width->setRange(20, 1000);
    height->setRange(20, 1000);
    width->setSuffix(QStringLiteral(" mm"));
    height->setSuffix(QStringLiteral(" mm"));
    dpi->setRange(72, 1200);
    width->setValue(settings::exportWidthMm.get());
    height->setValue(settings::exportHeightMm.get());
    dpi->setValue(settings::exportDpi.get());
    form->addRow(QObject::tr("Width"), width);
    form->addRow(QObject::tr("Height"), height);
    form->addRow(QObject::tr("Resolution (DPI)"), dpi);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
    form->addRow(buttons);
    QObject::connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    QObject::connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    if (dialog.exec() != QDialog::Accepted)
        return;
    settings::exportWidthMm.set(width->value());
    settings::exportHeightMm.set(height->value());
    settings::exportDpi.set(dpi->value());
    const QString error = exportFigure(figure, path, {QSizeF(width->value(), height->value()), dpi->value()});
    if (!error.isEmpty())
        QMessageBox::warning(parent, QObject::tr("Export"), error);
}

} // namespace attri::ui
