#pragma once

#include <QMainWindow>

class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QStackedWidget;

namespace attri::ui {

class JobRunner;

/// The application shell: a welcome page (open an experiment, run the demo) and an
/// experiment summary page; long work goes through the JobRunner with progress and cancel.
class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);

    /// Shows the summary of an experiment file (errors appear as a message, never a crash).
    void openExperiment(const QString& path);
    /// Trains the demo model into `outPath` in the background.
    void runDemo(const QString& outPath);

    JobRunner* jobRunner() const { return m_runner; }
    QString summaryText() const;
    QString statusText() const;

Q_SIGNALS:
    void experimentShown(const QString& path);

private:
    void showError(const QString& text);

    JobRunner* m_runner;
    QStackedWidget* m_pages;
    QPlainTextEdit* m_summary;
    QProgressBar* m_progress;
    QPushButton* m_cancel;
    QLabel* m_status;
};

} // namespace attri::ui
