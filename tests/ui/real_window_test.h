#pragma once

#include <QObject>
#include <QTemporaryDir>

/// The main flow in a real window on a real X server (xvfb-run, QT_QPA_PLATFORM=xcb), driven by
/// input events: pick a test image with the mouse, move the λ slider with the keyboard, accept
/// with a click, export the tiles as a figure; the results are checked in the experiment file.
/// Skipped on any other platform (the offscreen suite runs the rest).
class RealWindowTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void mainFlowWithInputEvents();

private:
    QTemporaryDir m_dir;
};
