#pragma once

#include "figure_export.h"

#include <QWidget>

class QChart;
class QChartView;
class QComboBox;
class QLabel;
class QLineSeries;
class QPushButton;

namespace attri::ui {

class ExperimentDocument;
class HeatmapWidget;

/// Sensitivity: a λ × k heatmap of a stored sweep table (click a cell to select λ and k), and
/// the LDS(λ) and ξ(λ) curves with markers for the recommended, best and current λ.
class SensitivityPage : public QWidget {
    Q_OBJECT
public:
    explicit SensitivityPage(ExperimentDocument* document, QWidget* parent = nullptr);

    HeatmapWidget* heatmap() const { return m_heatmap; }
    QComboBox* quantityCombo() const { return m_quantity; }
    QPushButton* computeXiButton() const { return m_computeXi; }
    QChartView* chartView() const { return m_chartView; }
    /// The text shown instead of the chart while there is no curve (empty when the chart shows).
    QString chartHint() const;
    /// Names of the curves and markers currently in the chart (for tests).
    QStringList seriesNames() const;
    QList<Figure> figures() const;

private:
    void onContentChanged();
    void showTable();
    void rebuildChart();
    void updateCurrentMarker();
    void onCellClicked(int row, int col);

    ExperimentDocument* m_doc;
    QComboBox* m_quantity;
    QComboBox* m_colormap;
    QLabel* m_note;
    HeatmapWidget* m_heatmap;
    QChartView* m_chartView;
    QPushButton* m_computeXi;
    QLabel* m_chartHint;
    QLineSeries* m_currentMarker = nullptr;
    double m_yLow = -1, m_yHigh = 1;
};

} // namespace attri::ui
