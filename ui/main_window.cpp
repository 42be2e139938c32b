#include "main_window.h"

#include "common/runtime.h"

#include "app_settings.h"
#include "attribute_page.h"
#include "data_model_page.h"
#include "experiment_document.h"
#include "experiment_factory.h"
#include "explore_page.h"
#include "figure_export.h"
#include "job_runner.h"
#include "lambda_chart.h"
#include "recommend_page.h"
#include "sensitivity_page.h"
#include "tile_grid_widget.h"

#include "attribution/attribution_session.h"
#include "common/error.h"
#include "store/experiment_verify.h"
#include "workflows/attribute.h"

#include <QAction>
#include <QChart>
#include <QChartView>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QToolBar>
#include <QUndoStack>
#include <QVBoxLayout>

namespace attri::ui {

namespace {
const char* kPageNames[] = {"welcome", "data-model", "attribute", "explore", "sensitivity", "recommend"};
}

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent), m_runner(new JobRunner(this)), m_doc(new ExperimentDocument(m_runner, this)),
      m_nav(new QListWidget(this)), m_pages(new QStackedWidget(this)), m_data(new DataModelPage(m_doc, this)),
      m_attribute(new AttributePage(m_doc, this)), m_explore(new ExplorePage(m_doc, this)),
      m_sensitivity(new SensitivityPage(m_doc, this)), m_recommend(new RecommendPage(m_doc, this)),
      m_recent(new QListWidget(this)), m_method(new QComboBox(this)), m_progress(new QProgressBar(this)),
      m_cancel(new QPushButton(tr("Cancel"), this)), m_status(new QLabel(this))
{
    setWindowTitle(tr("AttriScope"));
    setAcceptDrops(true);
    resize(1280, 820);

    m_pages->addWidget(createWelcomePage());
    m_pages->addWidget(m_data);
    m_pages->addWidget(m_attribute);
    m_pages->addWidget(m_explore);
    m_pages->addWidget(m_sensitivity);
    m_pages->addWidget(m_recommend);
    for (const QString& name : {tr("Welcome"), tr("Data && model"), tr("Attribute"), tr("Explore"),
                                tr("Sensitivity"), tr("Recommend")})
        m_nav->addItem(QString(name).replace(QStringLiteral("&&"), QStringLiteral("&")));
    m_nav->setFixedWidth(150);
    m_nav->setCurrentRow(0);
    auto* central = new QWidget(this);
    auto* layout = new QHBoxLayout(central);
    layout->addWidget(m_nav);
    layout->addWidget(m_pages, 1);
    setCentralWidget(central);

    auto* toolbar = addToolBar(tr("Experiment"));
    toolbar->setObjectName(QStringLiteral("experimentToolbar"));
    toolbar->addWidget(new QLabel(tr(" Method: "), this));
    m_method->setMinimumWidth(140);
    toolbar->addWidget(m_method);

    m_progress->setVisible(false);
    m_progress->setMaximumWidth(260);
    m_cancel->setVisible(false);
    statusBar()->addWidget(m_status, 1);
    statusBar()->addPermanentWidget(m_progress);
    statusBar()->addPermanentWidget(m_cancel);
    createMenus();

    connect(m_nav, &QListWidget::currentRowChanged, m_pages, &QStackedWidget::setCurrentIndex);
    connect(m_cancel, &QPushButton::clicked, m_runner, &JobRunner::cancel);
    connect(m_method, &QComboBox::activated, this, [this] { m_doc->setMethod(m_method->currentText()); });

    connect(m_runner, &JobRunner::started, this, [this](const QString& name) {
        m_status->setText(tr("%1…").arg(name));
        m_progress->setRange(0, 0);
        m_progress->setVisible(true);
        m_cancel->setVisible(true);
    });
    connect(m_runner, &JobRunner::progress, this, [this](const QString& stage, qint64 done, qint64 total) {
        m_progress->setRange(0, static_cast<int>(total));
        m_progress->setValue(static_cast<int>(done));
        m_progress->setFormat(stage + QStringLiteral(" %p%"));
    });
    connect(m_runner, &JobRunner::message, m_status, &QLabel::setText);
    auto done = [this] {
        const bool running = m_runner->isRunning();
        m_progress->setVisible(running);
        m_cancel->setVisible(running);
    };
    connect(m_runner, &JobRunner::finished, this, [this, done](const QString& name) {
        done();
        if (!m_runner->isRunning())
            m_status->setText(tr("%1: done").arg(name));
    });
    connect(m_runner, &JobRunner::failed, this, [this, done](const QString& name, const QString& error) {
        done();
        showError(tr("%1 failed: %2").arg(name, error));
    });
    connect(m_runner, &JobRunner::damaged, this, &MainWindow::onDamaged);
    connect(m_runner, &JobRunner::cancelled, this, [this, done](const QString& name) {
        done();
        m_status->setText(tr("%1 cancelled").arg(name));
    });
    connect(m_doc, &ExperimentDocument::opened, this, [this](const QString& path) {
        rememberRecentFile(path);
        refreshRecentFiles();
        setWindowTitle(tr("AttriScope — %1").arg(QFileInfo(path).fileName()));
        m_status->setText(tr("Opened %1").arg(path));
        if (currentPage() == WelcomePage)
            showPage(m_doc->methods().isEmpty() ? DataPage : ExploringPage);
        Q_EMIT experimentShown(path);
    });
    connect(m_doc, &ExperimentDocument::storeFailed, this, &MainWindow::showError);
    connect(m_doc, &ExperimentDocument::acceptedStored, this,
            [this](const QString& path) { m_status->setText(tr("Accepted λ stored in %1").arg(path)); });
    connect(m_doc, &ExperimentDocument::contentChanged, this, &MainWindow::refreshMethods);
    connect(m_doc, &ExperimentDocument::methodChanged, this, &MainWindow::refreshMethods);
    connect(m_doc, &ExperimentDocument::sessionLoadingChanged, this, [this](bool loading) {
        if (loading)
            m_status->setText(tr("Loading %1 at k = %2 (features and eigendecomposition)…")
                                  .arg(m_doc->method())
                                  .arg(m_doc->k()));
        else if (m_doc->session())
            m_status->setText(tr("%1 at k = %2 ready").arg(m_doc->method()).arg(m_doc->k()));
    });

    const QByteArray geometry = settings::windowGeometry.get();
    if (!geometry.isEmpty())
        restoreGeometry(geometry);
    restoreState(settings::windowState.get());
    if (settings::presentationMode.get())
        setPresentationMode(true);
}

MainWindow::~MainWindow() = default;

QWidget* MainWindow::createWelcomePage()
{
    auto* page = new QWidget(this);
    auto* layout = new QVBoxLayout(page);
    auto* title =
        new QLabel(tr("<h1>AttriScope</h1><p>Which training points made the model predict this? "
                      "Training-data attribution (influence functions, TRAK, TracIn) with a damping λ "
                      "recommended <b>without retraining</b>.</p>"
                      "<p>Open an experiment file (or drop one here), train a new one, or run the demo "
                      "(Fashion-MNIST subset, logistic regression: trains, attributes and opens in a "
                      "minute or two).</p>"),
                   page);
    title->setWordWrap(true);
    auto* openButton = new QPushButton(tr("Open experiment…"), page);
    auto* newButton = new QPushButton(tr("New experiment…"), page);
    auto* demoButton = new QPushButton(tr("Run the demo"), page);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(openButton);
    buttons->addWidget(newButton);
    buttons->addWidget(demoButton);
    buttons->addStretch();
    layout->addWidget(title);
    layout->addLayout(buttons);
    layout->addWidget(new QLabel(tr("<b>Recent experiments</b>"), page));
    layout->addWidget(m_recent, 1);
    refreshRecentFiles();
    connect(openButton, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open experiment"), QString(),
                                                          tr("Experiment files (*.h5);;All files (*)"));
        if (!path.isEmpty())
            openExperiment(path);
    });
    connect(newButton, &QPushButton::clicked, this, [this] { showPage(DataPage); });
    connect(demoButton, &QPushButton::clicked, this,
            [this] { runDemo(defaultDemoPath()); });
    connect(m_recent, &QListWidget::itemActivated, this,
            [this](QListWidgetItem* item) { openExperiment(item->text()); });
    return page;
}

void MainWindow::createMenus()
{
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open…"));
    open->setShortcut(QKeySequence::Open);
    connect(open, &QAction::triggered, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open experiment"), QString(),
                                                          tr("Experiment files (*.h5);;All files (*)"));
        if (!path.isEmpty())
            openExperiment(path);
    });
    QMenu* recent = file->addMenu(tr("Open &recent"));
    connect(recent, &QMenu::aboutToShow, this, [this, recent] {
        recent->clear();
        for (const QString& path : settings::recentFiles.get())
            recent->addAction(path, this, [this, path] { openExperiment(path); });
    });
    QMenu* exportMenu = file->addMenu(tr("&Export figure"));
    connect(exportMenu, &QMenu::aboutToShow, this, [this, exportMenu] {
        exportMenu->clear();
        const QList<Figure> figures = currentFigures();
        if (figures.isEmpty())
            exportMenu->addAction(tr("(this page has no figures)"))->setEnabled(false);
        for (const Figure& f : figures)
            exportMenu->addAction(f.name + QStringLiteral("…"), this,
                                  [this, f] { exportWithDialog(this, f); });
    });
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"));
    quit->setShortcut(QKeySequence::Quit);
    connect(quit, &QAction::triggered, this, &QWidget::close);

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    QAction* undo = m_doc->undoStack()->createUndoAction(this, tr("&Undo"));
    undo->setShortcut(QKeySequence::Undo);
    QAction* redo = m_doc->undoStack()->createRedoAction(this, tr("&Redo"));
    redo->setShortcut(QKeySequence::Redo);
    edit->addAction(undo);
    edit->addAction(redo);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    for (int i = 0; i < m_nav->count(); ++i) {
        QAction* a =
            view->addAction(m_nav->item(i)->text(), this, [this, i] { showPage(static_cast<Page>(i)); });
        a->setShortcut(QKeySequence(Qt::CTRL | static_cast<Qt::Key>(Qt::Key_1 + i)));
    }
    view->addSeparator();
    QAction* presentation = view->addAction(tr("&Presentation mode (large fonts)"));
    presentation->setCheckable(true);
    presentation->setChecked(settings::presentationMode.get());
    presentation->setShortcut(QKeySequence(Qt::Key_F11));
    connect(presentation, &QAction::toggled, this, [this](bool on) {
        settings::presentationMode.set(on);
        setPresentationMode(on);
    });
    m_classroomAction = view->addAction(tr("&Classroom mode (guided, large tiles)"));
    m_classroomAction->setCheckable(true);
    m_classroomAction->setShortcut(QKeySequence(Qt::Key_F10));
    connect(m_classroomAction, &QAction::toggled, this, &MainWindow::setClassroomMode);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About AttriScope"), this, [this] {
        QMessageBox::about(
            this, tr("About AttriScope"),
            tr("AttriScope %1\nTraining-data attribution with retraining-free damping selection.\n\n%2")
                .arg(QApplication::applicationVersion(), QString::fromStdString(attri::buildInfo())));
    });
}

void MainWindow::setPresentationMode(bool on)
{
    QFont font = QApplication::font();
    const double before = font.pointSizeF();
    font.setPointSizeF(on ? 16.0 : 10.0);
    QApplication::setFont(font);
    // Charts keep the fonts they were made with: scale them along.
    if (before > 0)
        for (QChartView* view : findChildren<QChartView*>())
            scaleChartFonts(view->chart(), font.pointSizeF() / before);
}

void MainWindow::setClassroomMode(bool on)
{
    if (m_classroom == on)
        return;
    m_classroom = on;
    if (m_classroomAction) {
        QSignalBlocker block(m_classroomAction);
        m_classroomAction->setChecked(on);
    }
    setPresentationMode(on || settings::presentationMode.get());
    m_nav->setVisible(!on);
    m_explore->setClassroomMode(on);
    if (on)
        showPage(ExploringPage);
}

void MainWindow::refreshRecentFiles()
{
    m_recent->clear();
    m_recent->addItems(settings::recentFiles.get());
}

void MainWindow::refreshMethods()
{
    QSignalBlocker block(m_method);
    m_method->clear();
    m_method->addItems(m_doc->methods());
    m_method->setCurrentText(m_doc->method());
    m_method->setEnabled(m_method->count() > 1);
}

void MainWindow::openExperiment(const QString& path)
{
    if (!QFileInfo::exists(path)) {
        showError(tr("%1 does not exist").arg(path));
        return;
    }
    m_doc->open(path);
}

void MainWindow::runDemo(const QString& outPath, DemoOptions options)
{
    options.path = outPath.toStdString();
    m_runner->start(
        tr("Running the demo"),
        [options](ProgressSink& progress, const CancelToken& cancel) {
            attri::runDemo(options, progress, cancel);
        },
        JobLane::Task, this, [this, outPath]() { openExperiment(outPath); });
}

QString MainWindow::defaultDemoPath()
{
    return QDir::home().filePath(QStringLiteral("attriscope-demo/demo.h5"));
}

void MainWindow::showPage(Page page)
{
    m_nav->setCurrentRow(static_cast<int>(page));
}

MainWindow::Page MainWindow::currentPage() const
{
    return static_cast<Page>(m_pages->currentIndex());
}

QList<Figure> MainWindow::currentFigures() const
{
    switch (currentPage()) {
    case DataPage:
        return m_data->figures();
    case ExploringPage:
        return m_explore->figures();
    case SensitivityAnalysisPage:
        return m_sensitivity->figures();
    case RecommendationPage:
        return m_recommend->figures();
    default:
        return {};
    }
}

QStringList MainWindow::saveScreenshots(const QString& dir)
{
    QDir().mkpath(dir);
    QStringList written;
    const Page before = currentPage();
    for (int i = 0; i < m_pages->count(); ++i) {
        showPage(static_cast<Page>(i));
        const QString path = QDir(dir).filePath(QStringLiteral("%1-%2.png")
                                                    .arg(i + 1, 2, 10, QLatin1Char('0'))
                                                    .arg(QLatin1String(kPageNames[i])));
        if (grab().save(path))
            written << path;
    }
    // Classroom mode at a projector's 1280 × 720, on the test image shown.
    if (m_doc->session() && !m_classroom) {
        const QSize size = this->size();
        setClassroomMode(true);
        resize(1280, 720);
        // The tiles are scored in the background: wait (briefly) until they show classroom's count.
        QElapsedTimer waited;
        waited.start();
        while (waited.elapsed() < 5000
               && m_explore->proponents()->tiles().size() != ExplorePage::kClassroomTiles)
            QApplication::processEvents(QEventLoop::AllEvents, 50);
        QApplication::processEvents();
        const QString path = QDir(dir).filePath(QStringLiteral("07-classroom.png"));
        if (grab().save(path))
            written << path;
        setClassroomMode(false);
        resize(size);
    }
    showPage(before);
    return written;
}

QString MainWindow::summaryText() const
{
    auto content = m_doc->content();
    return content ? QString::fromStdString(content->summary) : QString();
}

QString MainWindow::statusText() const
{
    return m_status->text();
}

void MainWindow::showError(const QString& text)
{
    m_status->setText(text);
    if (!qEnvironmentVariableIsSet("ATTRI_NO_DIALOGS")
        && QApplication::platformName() != QLatin1String("offscreen"))
        QMessageBox::warning(this, tr("AttriScope"), text);
}

namespace {

QString remedyText(const DamagedPart& part)
{
    switch (part.remedy) {
    case DamagedPart::Remedy::Features:
    case DamagedPart::Remedy::Attribution:
        return QObject::tr("attribute %1 again (Attribute page)")
            .arg(part.method.empty() ? QObject::tr("the method") : QString::fromStdString(part.method));
    case DamagedPart::Remedy::Recommendation:
        return QObject::tr("recommend again at k = %1 (Recommend page)").arg(part.k);
    case DamagedPart::Remedy::GroundTruth:
        return QObject::tr("compute ground truth again (Recommend page)");
    case DamagedPart::Remedy::Check:
        return QObject::tr("run the check again (attriscope-cli check)");
    case DamagedPart::Remedy::Source:
        break;
    }
    return QObject::tr("nothing in the file can replace it");
}

} // namespace

void MainWindow::onDamaged(const QString& file, const QString& object, const QString& error)
{
    m_status->setText(tr("%1: %2 is damaged").arg(QFileInfo(file).fileName(), object));
    if (qEnvironmentVariableIsSet("ATTRI_NO_DIALOGS") || QApplication::platformName() == QLatin1String("offscreen"))
        return;
    const auto answer = QMessageBox::warning(
        this, tr("AttriScope: damaged file"),
        tr("%1\n\nPart of this experiment file is damaged (a failing disk, an interrupted copy or sync). "
           "AttriScope does not use damaged results.\n\nRemove the damaged parts that can be recomputed and "
           "reopen the file? The damaged file is kept as %2.damaged; `attriscope-cli verify` lists every "
           "damaged part.")
            .arg(error, QFileInfo(file).fileName()),
        QMessageBox::Yes | QMessageBox::No, QMessageBox::Yes);
    if (answer == QMessageBox::Yes)
        repairDamagedFile(file);
}

void MainWindow::repairDamagedFile(const QString& path)
{
    const std::string file = path.toStdString();
    m_runner->start(
        tr("Removing the damaged parts of %1").arg(QFileInfo(path).fileName()),
        [file](ProgressSink&, const CancelToken&) {
            const ExperimentVerification verification = verifyExperimentFile(file);
            if (verification.intact())
                return std::vector<DamagedPart>{};
            const QString backup = QString::fromStdString(file) + QStringLiteral(".damaged");
            QFile::remove(backup);
            if (!QFile::copy(QString::fromStdString(file), backup))
                throw Error("cannot keep a copy of the damaged file as " + backup.toStdString());
            return removeDamagedParts(verification);
        },
        JobLane::Store, this, [this, path](const std::vector<DamagedPart>& removed) {
            QStringList lines;
            for (const DamagedPart& part : removed)
                lines << tr("%1 removed: %2").arg(QString::fromStdString(part.unit), remedyText(part));
            const QString summary = lines.isEmpty() ? tr("%1 has no damaged parts.").arg(path)
                                                    : tr("Damaged parts removed from %1 (the damaged file is kept "
                                                         "as %1.damaged):\n%2")
                                                          .arg(path, lines.join(QLatin1Char('\n')));
            m_status->setText(lines.isEmpty() ? summary : tr("Removed %1 damaged part(s); recompute them").arg(lines.size()));
            Q_EMIT repaired(summary);
            openExperiment(path);
            if (!lines.isEmpty() && !qEnvironmentVariableIsSet("ATTRI_NO_DIALOGS")
                && QApplication::platformName() != QLatin1String("offscreen"))
                QMessageBox::information(this, tr("AttriScope"), summary);
        });
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    settings::windowGeometry.set(saveGeometry());
    settings::windowState.set(saveState());
    m_runner->cancel();
    QMainWindow::closeEvent(event);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event)
{
    for (const QUrl& url : event->mimeData()->urls()) {
        const QString suffix = QFileInfo(url.toLocalFile()).suffix().toLower();
        if (suffix == QLatin1String("h5") || suffix == QLatin1String("pt")) {
            event->acceptProposedAction();
            return;
        }
    }
}

void MainWindow::dropEvent(QDropEvent* event)
{
    for (const QUrl& url : event->mimeData()->urls()) {
        const QString path = url.toLocalFile();
        const QString suffix = QFileInfo(path).suffix().toLower();
        if (suffix == QLatin1String("h5")) {
            openExperiment(path);
            break;
        }
        if (suffix == QLatin1String("pt")) {
            showPage(DataPage);
            m_data->importTorchScript(path);
            break;
        }
    }
}

} // namespace attri::ui
