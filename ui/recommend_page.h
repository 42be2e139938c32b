#pragma once

#include "figure_export.h"

#include <QWidget>

class QChartView;
class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTextBrowser;

namespace attri::ui {

class ExperimentDocument;

/// Recommend and accept: runs the retraining-free λ selector, shows the λ with its evidence
/// (rule, ξ curve, cost; with ground truth in the file, the LDS ratio to the grid's best and its
/// interval under ground-truth noise) and accepts it into the experiment file (undoable). Ground
/// truth can be computed from here too.
class RecommendPage : public QWidget {
    Q_OBJECT
public:
    explicit RecommendPage(ExperimentDocument* document, QWidget* parent = nullptr);

    /// Starts the recommendation with the form's settings.
    void runRecommendation();
    QPushButton* acceptRecommendedButton() const { return m_acceptRecommended; }
    QSpinBox* subsetsSpin() const { return m_subsets; }
    QComboBox* ruleCombo() const { return m_rule; }
    QSpinBox* groundTruthSubsetsSpin() const { return m_gtSubsets; }
    QPushButton* groundTruthButton() const { return m_groundTruth; }
    QString resultText() const;
    QList<Figure> figures() const;

private:
    void refresh();

    ExperimentDocument* m_doc;
    QComboBox* m_rule;
    QLineEdit* m_grid;
    QSpinBox* m_subsets;
    QSpinBox* m_maxTests;
    QPushButton* m_run;
    QTextBrowser* m_result;
    QChartView* m_chart;
    QPushButton* m_acceptRecommended;
    QPushButton* m_acceptCurrent;
    QLabel* m_accepted;
    QSpinBox* m_gtSubsets;
    QPushButton* m_groundTruth;
    /// The stored ground truth's M last shown in m_gtSubsets (so a user's own value stays until
    /// the file's changes).
    int64_t m_shownStoredSubsets = 0;
};

} // namespace attri::ui
