#include "screenshot_tour.h"

#include "experiment_document.h"
#include "explore_page.h"
#include "job_runner.h"
#include "recommend_page.h"

#include <QDir>
#include <QFileInfo>
#include <QTimer>
#include <QtDebug>

namespace attri::ui {

namespace {
/// Retrained models behind the tour's LDS curves (seconds on the demo's logistic regression).
constexpr int kGroundTruthModels = 50;
} // namespace

ScreenshotTour::ScreenshotTour(MainWindow* window, QString dir, DemoOptions options)
    : QObject(window), m_window(window), m_dir(std::move(dir)), m_options(std::move(options))
{
    ExperimentDocument* doc = m_window->document();
    connect(doc, &ExperimentDocument::sessionChanged, this, [this] {
        if (m_stage == Stage::Loading && m_window->document()->session())
            onSessionReady();
    });
    connect(doc, &ExperimentDocument::contentChanged, this, [this] {
        const auto content = m_window->document()->content();
        if (m_stage == Stage::GroundTruth && content && content->hasGroundTruth)
            recommendWhenReady();
    });
    connect(doc, &ExperimentDocument::recommendationChanged, this, [this] {
        if (m_stage != Stage::Recommending || !m_window->document()->recommendation())
            return;
        m_stage = Stage::Accepting;
        const auto rec = m_window->document()->recommendation();
        m_window->document()->acceptLambda(rec->relativeLambda, QString::fromStdString(rec->rule));
    });
    connect(doc, &ExperimentDocument::acceptedStored, this, [this] {
        if (m_stage != Stage::Accepting)
            return;
        m_stage = Stage::Retraining;
        m_window->explorePage()->retrainWithoutProponents();
    });
    connect(m_window->explorePage(), &ExplorePage::retrainFinished, this, [this] {
        if (m_stage != Stage::Retraining)
            return;
        m_stage = Stage::Done;
        // One event-loop turn so the pages lay out with the final state.
        QTimer::singleShot(200, this, [this] {
            const QStringList files = m_window->saveScreenshots(m_dir);
            finish(files.size() == 7 ? 0 : 1, tr("wrote %1 screenshots to %2").arg(files.size()).arg(m_dir));
        });
    });
    connect(m_window->jobRunner(), &JobRunner::failed, this,
            [this](const QString& name, const QString& error) {
                if (m_stage != Stage::Done)
                    finish(1, tr("%1 failed: %2").arg(name, error));
            });
}

void ScreenshotTour::start()
{
    QDir().mkpath(m_dir);
    const QString path = QDir(m_dir).filePath(QStringLiteral("demo.h5"));
    m_stage = Stage::Loading;
    if (QFileInfo::exists(path))
        m_window->openExperiment(path);
    else
        m_window->runDemo(path, m_options);
}

void ScreenshotTour::onSessionReady()
{
    ExperimentDocument* doc = m_window->document();
    doc->setSelectedTest(std::min(
        7, std::max(0, static_cast<int>(doc->content()->data ? doc->content()->data->test.count - 1 : 0))));
    if (doc->content()->hasGroundTruth) {
        recommendWhenReady();
        return;
    }
    // Ground truth first, so that the Sensitivity and Recommend pages show LDS(λ).
    m_stage = Stage::GroundTruth;
    doc->computeGroundTruth(kGroundTruthModels);
}

void ScreenshotTour::recommendWhenReady()
{
    if (!m_window->document()->session()) {
        QTimer::singleShot(50, this, [this] { recommendWhenReady(); });
        return;
    }
    m_stage = Stage::Recommending;
    m_window->recommendPage()->runRecommendation();
}

void ScreenshotTour::finish(int code, const QString& message)
{
    if (m_stage == Stage::Idle)
        return;
    m_stage = Stage::Idle;
    if (code == 0)
        qInfo("%s", qPrintable(message));
    else
        qWarning("screenshots: %s", qPrintable(message));
    Q_EMIT finished(code);
}

} // namespace attri::ui
