#pragma once

#include "figure_export.h"
#include "lambda_slider.h"

#include "tuning/top_k.h"

#include <QElapsedTimer>
#include <QImage>
#include <QTimer>
#include <QWidget>

#include <memory>
#include <vector>

class QComboBox;
class QLabel;
class QListView;
class QPushButton;
class QSlider;
class QSplitter;
class QSpinBox;

namespace attri {
class AttributionSession;
}

namespace attri::ui {

class ExperimentDocument;
class TestImageModel;
class ClassroomGuide;
class LossChangeBars;
class TileGridWidget;

/// Explore: the grid of test images; the selected one's top proponents and opponents as tiles;
/// a log-scale λ slider and a k selector that update the tiles while dragging.
class ExplorePage : public QWidget {
    Q_OBJECT
public:
    explicit ExplorePage(ExperimentDocument* document, QWidget* parent = nullptr);

    /// Slider positions per decade of relative λ (the slider maps to log10 c).
    static constexpr int kStepsPerDecade = 20;
    static int sliderValueFor(double relativeLambda);
    static double relativeLambdaFor(int sliderValue);

    LambdaSlider* lambdaSlider() const { return m_slider; }
    /// The legend of the slider's recommended / accepted marks (rich text).
    QString markerLegend() const;
    QComboBox* kCombo() const { return m_kCombo; }
    QListView* testView() const { return m_tests; }
    TestImageModel* testModel() const { return m_model; }
    TileGridWidget* proponents() const { return m_proponents; }
    TileGridWidget* opponents() const { return m_opponents; }
    QString lambdaText() const;
    /// The last measured time from a slider change to the repainted tiles, in ms (−1: none yet).
    double lastRefreshMs() const { return m_lastRefreshMs; }
    /// How many change → repaint times have been measured.
    int refreshCount() const { return m_refreshCount; }
    /// The last time the scores + top-k took, in ms.
    double lastScoreMs() const { return m_lastScoreMs; }
    /// Scores of the shown tiles (proponents then opponents), for tests.
    std::vector<float> shownScores() const;
    QList<Figure> figures() const;
    /// "Retrain without these proponents": the top-k removal check of the selected test point, with
    /// k = the number of tiles (a Task job: progress and cancel in the status bar).
    QPushButton* retrainButton() const { return m_retrain; }
    QPushButton* acceptButton() const { return m_accept; }
    /// Classroom mode: the guided sequence above the page, four large tiles, a larger test image.
    void setClassroomMode(bool on);
    ClassroomGuide* classroomGuide() const { return m_guide; }
    static constexpr int kClassroomTiles = 4;
    QString retrainText() const;
    /// The retrain result drawn as two bars (hidden while there is no result).
    const LossChangeBars* retrainBars() const { return m_retrainBars; }
    /// Starts that check (what the button does).
    void retrainWithoutProponents();

Q_SIGNALS:
    /// The tiles show the scores for the current (test, k, λ).
    void tilesUpdated();
    /// A check started by retrainWithoutProponents() ended (its text is in retrainText()).
    void retrainFinished();

private:
    void onContentChanged();
    void onKsChanged();
    void onLambdaChanged();
    void updateMarkers();
    void onSliderValueChanged(int value);
    void refreshTiles();
    void computeInBackground();
    void showTop(const TopK& top);
    void updateHeader();
    void updateRetrainButton();
    void endRetrain();
    const QImage& trainImage(int64_t index);

    ExperimentDocument* m_doc;
    TestImageModel* m_model;
    QListView* m_tests;
    QLabel* m_testImage;
    QLabel* m_testText;
    QComboBox* m_kCombo;
    LambdaSlider* m_slider;
    QLabel* m_markerLegend;
    QLabel* m_lambdaLabel;
    QSpinBox* m_count;
    QPushButton* m_accept;
    QLabel* m_acceptedLabel;
    QPushButton* m_retrain;
    QLabel* m_retrainResult;
    bool m_retrainRunning = false;
    TileGridWidget* m_proponents;
    TileGridWidget* m_opponents;
    LossChangeBars* m_retrainBars;
    ClassroomGuide* m_guide = nullptr;
    QSplitter* m_tileSplit = nullptr;
    QLabel* m_legend;
    QTimer m_debounce;
    QElapsedTimer m_changeClock;
    bool m_measuring = false;
    int m_gesture = 0;
    double m_lastRefreshMs = -1;
    int m_refreshCount = 0;
    double m_lastScoreMs = 0;
    std::vector<QImage> m_trainImages;
};

/// Top proponents/opponents of one test point at absolute λ (λ ignored by λ-free methods).
TopK topForTest(const AttributionSession& session, int64_t test, double lambda, int64_t count);

} // namespace attri::ui
