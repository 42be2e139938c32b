#pragma once

#include "experiment_factory.h"
#include "figure_export.h"

#include "data/dataset_spec.h"

#include <QWidget>

class QChartView;
class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QLineSeries;
class QPlainTextEdit;
class QTabWidget;
class QTextBrowser;
class QPushButton;
class QSpinBox;
class QTableView;
class QToolButton;

namespace attri::ui {

struct ExperimentContent;
/// The open experiment as a short formatted summary: dataset, model, recipe, fit, checkpoints,
/// attributions (with accepted λ) and ground truth.
QString experimentSummaryHtml(const ExperimentContent& content);

class CheckpointModel;
class ExperimentDocument;

/// Data & model: what the open experiment holds (data, model, accuracy, checkpoints, loss
/// curve) and a form to train a zoo model into a new experiment, with a live loss chart, or to
/// import a TorchScript checkpoint.
class DataModelPage : public QWidget {
    Q_OBJECT
public:
    explicit DataModelPage(ExperimentDocument* document, QWidget* parent = nullptr);

    /// The new experiment the form describes. Throws attri::ConfigError naming the field.
    NewExperiment newExperiment() const;
    /// Trains it in the background and opens it when done.
    void train();
    void importTorchScript(const QString& torchscriptPath);
    /// Sets the dataset field to a loader of `kind` reading `path` (what the Browse menu does
    /// after its file dialog).
    void chooseDataset(DatasetSpec::Kind kind, const QString& path);
    QString datasetSpec() const;
    QCheckBox* normalizeCheck() const { return m_normalize; }
    CheckpointModel* checkpointModel() const { return m_checkpoints; }
    /// Points of the live loss chart (for tests).
    int lossPointCount() const;
    QList<Figure> figures() const;

private:
    void showContent();
    void resetLossChart(const QString& title);

    ExperimentDocument* m_doc;
    QTabWidget* m_tabs;
    QTextBrowser* m_summary;   ///< what the open experiment is, formatted
    QPlainTextEdit* m_contents; ///< the file's groups and datasets, for experts
    QComboBox* m_spec;
    QToolButton* m_browseData;
    CheckpointModel* m_checkpoints;
    QTableView* m_checkpointView;
    QSpinBox* m_trainSize;
    QSpinBox* m_testSize;
    QCheckBox* m_normalize;
    QComboBox* m_architecture;
    QSpinBox* m_epochs;
    QDoubleSpinBox* m_lr;
    QSpinBox* m_batch;
    QDoubleSpinBox* m_momentum;
    QDoubleSpinBox* m_weightDecay;
    QLineEdit* m_out;
    QPushButton* m_train;
    QPushButton* m_import;
    QChartView* m_chart;
    QLineSeries* m_loss = nullptr;
    bool m_training = false;
};

} // namespace attri::ui
