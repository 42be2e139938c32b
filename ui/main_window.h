#pragma once

#include "workflows/demo.h"

#include <QMainWindow>

#include <cstdint>
#include <vector>

class QComboBox;
class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;
class QStackedWidget;

namespace attri::ui {

class AttributePage;
class DataModelPage;
class ExperimentDocument;
class ExplorePage;
class JobRunner;
class RecommendPage;
class SensitivityPage;
struct Figure;

/// The application shell: creates the pages, wires them to the document and the job runner,
/// and holds the menus, the status bar (progress, cancel) and the window state.
class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    enum Page {
        WelcomePage,
        DataPage,
        AttributionPage,
        ExploringPage,
        SensitivityAnalysisPage,
        RecommendationPage
    };

    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    /// Opens an experiment file in the background (errors appear as a message, never a crash).
    void openExperiment(const QString& path);
    /// Runs the demo (core/workflows/demo.h: the same as `attriscope-cli demo`) into `outPath`
    /// with `options`' sizes, and opens it; all in the background.
    void runDemo(const QString& outPath, DemoOptions options = {});
    /// Where "Run the demo" writes: ~/attriscope-demo/demo.h5.
    static QString defaultDemoPath();
    void showPage(Page page);
    Page currentPage() const;
    /// Renders every page to DIR/NN-name.png, and classroom mode at 1280 × 720 to
    /// DIR/07-classroom.png when an attribution is loaded; returns the files written.
    QStringList saveScreenshots(const QString& dir);
    /// The figures of the current page (what File → Export offers).
    QList<Figure> currentFigures() const;
    void setPresentationMode(bool on);
    /// Classroom mode (View menu, `attriscope --classroom`): large type, the Explore page with its
    /// guided sequence and four large tiles, the page list hidden to leave the screen to the class.
    void setClassroomMode(bool on);
    bool classroomMode() const { return m_classroom; }
    /// Removes the parts of the experiment file `path` that are damaged and can be recomputed
    /// (keeping the damaged file beside it as PATH.damaged), then reopens it; emits repaired()
    /// with what was removed and how to recompute it. A damaged model or dataset record cannot be
    /// removed: that is reported as an error.
    void repairDamagedFile(const QString& path);

    JobRunner* jobRunner() const { return m_runner; }
    ExperimentDocument* document() const { return m_doc; }
    ExplorePage* explorePage() const { return m_explore; }
    SensitivityPage* sensitivityPage() const { return m_sensitivity; }
    RecommendPage* recommendPage() const { return m_recommend; }
    AttributePage* attributePage() const { return m_attribute; }
    DataModelPage* dataModelPage() const { return m_data; }
    QString summaryText() const;
    QString statusText() const;

Q_SIGNALS:
    void experimentShown(const QString& path);
    void repaired(const QString& summary);

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    QWidget* createWelcomePage();
    void createMenus();
    void refreshRecentFiles();
    void refreshMethods();
    void showError(const QString& text);
    /// A job found damage in an experiment file: says so and offers repairDamagedFile.
    void onDamaged(const QString& file, const QString& object, const QString& error);

    JobRunner* m_runner;
    ExperimentDocument* m_doc;
    QListWidget* m_nav;
    QStackedWidget* m_pages;
    DataModelPage* m_data;
    AttributePage* m_attribute;
    ExplorePage* m_explore;
    SensitivityPage* m_sensitivity;
    RecommendPage* m_recommend;
    QListWidget* m_recent;
    QComboBox* m_method;
    QProgressBar* m_progress;
    QPushButton* m_cancel;
    QLabel* m_status;
    QAction* m_classroomAction = nullptr;
    bool m_classroom = false;
};

} // namespace attri::ui
