#pragma once

#include "main_window.h"

#include <QObject>
#include <QString>

namespace attri::ui {

/// Drives the real application headlessly to a representative state (demo trained and
/// attributed, ground truth computed, a test point selected, λ recommended and accepted, that point's top proponents
/// removed and the model retrained (Explore's check)) and renders every page to
/// PNG: `attriscope --screenshots DIR`. Everything happens through the JobRunner and signals.
class ScreenshotTour : public QObject {
    Q_OBJECT
public:
    ScreenshotTour(MainWindow* window, QString dir, DemoOptions options);
    /// Opens DIR/demo.h5 when it exists, else creates it with the demo.
    void start();

Q_SIGNALS:
    void finished(int exitCode);

private:
    enum class Stage { Idle, Loading, GroundTruth, Recommending, Accepting, Retraining, Done };
    void recommendWhenReady();
    void onSessionReady();
    void finish(int code, const QString& message);

    MainWindow* m_window;
    QString m_dir;
    DemoOptions m_options;
    Stage m_stage = Stage::Idle;
};

} // namespace attri::ui
