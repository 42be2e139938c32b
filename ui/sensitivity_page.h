#pragma once

#include "figure_export.h"

#include "workflows/top_k_overlap.h"

#include <QWidget>

#include <optional>

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
    /// The note under the heatmap (what the colours mean, what to click).
    QString noteText() const;
    /// Selects the quantity with data `quantity` (e.g. "lds", "topn_overlap"); false when absent.
    bool showQuantity(const QString& quantity);
    /// The last top-N overlap shown (nullopt before one was computed), for tests.
    const std::optional<TopKOverlap>& overlap() const { return m_overlap; }

    /// The Quantity entry computed on demand for the selected test image.
    static constexpr const char* kOverlapQuantity = "topn_overlap";
    static constexpr int kOverlapCount = 10;

private:
    void onContentChanged();
    void showTable();
    void rebuildChart();
    void updateCurrentMarker();
    void onCellClicked(int row, int col);
    void showOverlap();
    /// What the overlap shown was computed for: method, test, reference relative λ and k.
    struct OverlapKey {
        QString method;
        int test = -1;
        double referenceRelativeLambda = 0.0;
        qint64 referenceK = 0;
        bool operator==(const OverlapKey& o) const
        {
            return method == o.method && test == o.test && referenceRelativeLambda == o.referenceRelativeLambda
                   && referenceK == o.referenceK;
        }
    };
    OverlapKey currentOverlapKey() const;

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
    std::optional<TopKOverlap> m_overlap;
    OverlapKey m_overlapKey;
    bool m_overlapRunning = false;
};

} // namespace attri::ui
