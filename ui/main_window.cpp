#include "main_window.h"

#include "job_runner.h"

#include "data/data_loader.h"
#include "model/trainer.h"
#include "store/experiment_file.h"

#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFileDialog>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QStackedWidget>
#include <QStatusBar>
#include <QVBoxLayout>

namespace attri::ui {

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent),
      m_runner(new JobRunner(this)),
      m_pages(new QStackedWidget(this)),
      m_summary(new QPlainTextEdit(this)),
      m_progress(new QProgressBar(this)),
      m_cancel(new QPushButton(tr("Cancel"), this)),
      m_status(new QLabel(this))
{
    setWindowTitle(tr("AttriScope"));
    resize(1100, 750);

    auto* welcome = new QWidget(this);
    auto* layout = new QVBoxLayout(welcome);
    auto* title = new QLabel(tr("<h1>AttriScope</h1><p>Training-data attribution with a damping (λ) "
                                "recommendation that needs no retraining.</p>"),
                             welcome);
    title->setWordWrap(true);
    auto* openButton = new QPushButton(tr("Open experiment…"), welcome);
    auto* demoButton = new QPushButton(tr("Run the demo"), welcome);
    layout->addWidget(title);
    layout->addWidget(openButton);
    layout->addWidget(demoButton);
    layout->addStretch();
    m_pages->addWidget(welcome);

    m_summary->setReadOnly(true);
    m_summary->setFont(QFont(QStringLiteral("DejaVu Sans Mono")));
    m_pages->addWidget(m_summary);
    setCentralWidget(m_pages);

    m_progress->setVisible(false);
    m_cancel->setVisible(false);
    statusBar()->addWidget(m_status, 1);
    statusBar()->addPermanentWidget(m_progress);
    statusBar()->addPermanentWidget(m_cancel);

    auto* fileMenu = menuBar()->addMenu(tr("&File"));
    QAction* openAction = fileMenu->addAction(tr("&Open…"));
    openAction->setShortcut(QKeySequence::Open);
    QAction* quitAction = fileMenu->addAction(tr("&Quit"));
    quitAction->setShortcut(QKeySequence::Quit);

    auto askOpen = [this] {
        QString path = QFileDialog::getOpenFileName(this, tr("Open experiment"), QString(),
                                                    tr("Experiment files (*.h5);;All files (*)"));
        if (!path.isEmpty())
            openExperiment(path);
    };
    connect(openButton, &QPushButton::clicked, this, askOpen);
    connect(openAction, &QAction::triggered, this, askOpen);
    connect(quitAction, &QAction::triggered, this, &QWidget::close);
    connect(demoButton, &QPushButton::clicked, this,
            [this] { runDemo(QDir::home().filePath(QStringLiteral("attriscope-demo.h5"))); });
    connect(m_cancel, &QPushButton::clicked, m_runner, &JobRunner::cancel);

    connect(m_runner, &JobRunner::started, this, [this](const QString& name) {
        m_status->setText(tr("%1…").arg(name));
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
        m_progress->setVisible(false);
        m_cancel->setVisible(false);
    };
    connect(m_runner, &JobRunner::finished, this, [this, done](const QString&, const std::any& result) {
        done();
        if (auto path = std::any_cast<QString>(&result))
            openExperiment(*path);
    });
    connect(m_runner, &JobRunner::failed, this, [this, done](const QString& name, const QString& error) {
        done();
        showError(tr("%1 failed: %2").arg(name, error));
    });
    connect(m_runner, &JobRunner::cancelled, this, [this, done](const QString& name) {
        done();
        m_status->setText(tr("%1 cancelled").arg(name));
    });
}

void MainWindow::openExperiment(const QString& path)
{
    try {
        m_summary->setPlainText(QString::fromStdString(describeExperimentFile(path.toStdString())));
        m_pages->setCurrentWidget(m_summary);
        setWindowTitle(tr("AttriScope — %1").arg(QFileInfo(path).fileName()));
        m_status->setText(tr("Opened %1").arg(path));
        Q_EMIT experimentShown(path);
    } catch (const std::exception& e) {
        showError(QString::fromStdString(e.what()));
    }
}

void MainWindow::runDemo(const QString& outPath)
{
    std::string out = outPath.toStdString();
    m_runner->start(tr("Training the demo model"), [out, outPath](ProgressSink& progress, const CancelToken& cancel) {
        DataOptions options;
        DatasetSpec spec = DatasetSpec::parse("demo");
        options.mean = spec.standardMean();
        options.std = spec.standardStd();
        DataBundle data = loadData(options);
        InputShape shape{data.train.channels, data.train.height, data.train.width};
        TrainRecipe recipe = TrainRecipe::standardFor(Architecture::LogisticRegression);
        Model init = Model::create(Architecture::LogisticRegression, shape, data.numClasses, recipe.seed);
        TrainResult result = trainModel(init, recipe, data.train, progress, cancel);
        ModelRecord record;
        record.architecture = Architecture::LogisticRegression;
        record.input = shape;
        record.numClasses = data.numClasses;
        record.recipe = recipe;
        record.checkpoints = result.checkpoints;
        record.epochLoss = result.epochLoss;
        record.trainMetrics = evaluateModel(result.model, data.train);
        record.testMetrics = evaluateModel(result.model, data.test);
        record.trainSeconds = result.seconds;
        record.parameterCount = result.model.parameterCount();
        createExperimentFile(out, data, options, record);
        return std::any(outPath);
    });
}

QString MainWindow::summaryText() const { return m_summary->toPlainText(); }

QString MainWindow::statusText() const { return m_status->text(); }

void MainWindow::showError(const QString& text)
{
    m_status->setText(text);
    if (!qEnvironmentVariableIsSet("ATTRI_NO_DIALOGS"))
        QMessageBox::warning(this, tr("AttriScope"), text);
}

} // namespace attri::ui
