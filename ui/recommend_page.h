#pragma once

#include "figure_export.h"

#include <QWidget>

class QChartView;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTextBrowser;

namespace attri::ui {

class ExperimentDocument;

/// Recommend and accept: runs the retraining-free λ selector and shows the answer first (λ,
/// relative λ, the rule and why, in words), then its inputs as labelled fields. With ground truth
/// in the file it draws LDS(λ) with the recommended, accepted, best and current λ and gives the
/// ratio to the grid's best with its interval under ground-truth noise; without it, the action
/// that makes one. Only the selected rule's options are shown. Accepting stores the λ in the file
/// (undoable) with the name in "Accepted by".
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
    QPushButton* importGroundTruthButton() const { return m_importGroundTruth; }
    /// What the "Import ground truth…" button does once a file is chosen: asks before replacing
    /// stored ground truth (not under ATTRI_NO_DIALOGS), then imports it.
    void importGroundTruthFrom(const QString& file);
    QLineEdit* acceptorEdit() const { return m_acceptor; }
    /// Whether the option rows of simulated-sgd are shown (only for that rule).
    bool simulationOptionsVisible() const;
    /// Whether the LDS(λ) or ξ(λ) chart is shown (never an empty one).
    bool chartVisible() const;
    QString resultText() const;
    QString chartHint() const;
    QList<Figure> figures() const;

private:
    void refresh();
    void showRuleOptions();
    QString answerHtml() const;
    void rebuildChart();

    ExperimentDocument* m_doc;
    QComboBox* m_rule;
    QLineEdit* m_grid;
    QSpinBox* m_subsets;
    QSpinBox* m_maxTests;
    QDoubleSpinBox* m_pathBudget;
    QLabel* m_ruleHelp;
    QFormLayout* m_form;
    QPushButton* m_run;
    QTextBrowser* m_result;
    QChartView* m_chart;
    QLabel* m_chartHint;
    QLineEdit* m_acceptor;
    QLabel* m_gtEstimate;
    QPushButton* m_acceptRecommended;
    QPushButton* m_acceptCurrent;
    QLabel* m_accepted;
    QSpinBox* m_gtSubsets;
    QPushButton* m_groundTruth;
    QPushButton* m_importGroundTruth;
    /// The stored ground truth's M last shown in m_gtSubsets (so a user's own value stays until
    /// the file's changes).
    int64_t m_shownStoredSubsets = 0;
};

} // namespace attri::ui
