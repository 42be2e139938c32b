#include "attribute_page.h"

#include "experiment_document.h"
#include "job_runner.h"

#include "common/error.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTime>
#include <QVBoxLayout>

namespace attri::ui {

AttributePage::AttributePage(ExperimentDocument* document, QWidget* parent)
    : QWidget(parent), m_doc(document), m_method(new QComboBox(this)), m_projection(new QComboBox(this)),
      m_ks(new QLineEdit(QStringLiteral("128,256,512,1024"), this)),
      m_grid(new QLineEdit(QStringLiteral("log:1e-6:1e2:25"), this)),
      m_relative(new QCheckBox(tr("relative to the mean eigenvalue"), this)),
      m_layers(new QLineEdit(QStringLiteral("all"), this)), m_seed(new QSpinBox(this)),
      m_tests(new QSpinBox(this)), m_batch(new QSpinBox(this)),
      m_run(new QPushButton(tr("Run attribution"), this)), m_cancel(new QPushButton(tr("Cancel"), this)),
      m_error(new QLabel(this)), m_log(new QPlainTextEdit(this))
{
    m_method->addItems({QStringLiteral("if"), QStringLiteral("trak"), QStringLiteral("tracin"),
                        QStringLiteral("graddot"), QStringLiteral("gradcos"), QStringLiteral("unrolled"),
                        QStringLiteral("kfac"), QStringLiteral("ekfac")});
    m_method->setToolTip(
        tr("if: influence functions (explicit Hessian for LR without projection, else projected "
           "Fisher); trak: TRAK; tracin; graddot/gradcos: no curvature; unrolled: no λ, the SGD run "
           "unrolled along its checkpoints (train with checkpoints first); kfac/ekfac: IF with the "
           "Kronecker-factored (eigenvalue-corrected) true Fisher of the Linear/Conv2d layers, unprojected"));
    m_projection->addItems({QStringLiteral("kron"), QStringLiteral("gaussian"), QStringLiteral("rademacher"),
                            QStringLiteral("none")});
    m_ks->setToolTip(tr("Projection dimensions, comma-separated; features are computed once at the largest"));
    m_grid->setToolTip(tr("λ grid of the sensitivity tables: a list (1e-3,1e-2) or log:low:high:count"));
    m_relative->setChecked(true);
    m_layers->setToolTip(tr("all, last, or comma-separated layer names"));
    m_seed->setRange(0, 1000000);
    m_tests->setRange(1, 100000);
    m_tests->setValue(100);
    m_batch->setRange(1, 100000);
    m_batch->setValue(250);
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: #D55E00"));
    m_log->setReadOnly(true);
    m_cancel->setEnabled(false);

    auto* form = new QFormLayout;
    form->addRow(tr("Method"), m_method);
    form->addRow(tr("Projection"), m_projection);
    form->addRow(tr("k values"), m_ks);
    auto* gridRow = new QHBoxLayout;
    gridRow->addWidget(m_grid, 1);
    gridRow->addWidget(m_relative);
    form->addRow(tr("λ grid"), gridRow);
    form->addRow(tr("Layers"), m_layers);
    form->addRow(tr("Projection seed"), m_seed);
    form->addRow(tr("Test points in the sweep"), m_tests);
    form->addRow(tr("Batch size"), m_batch);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_run);
    buttons->addWidget(m_cancel);
    buttons->addStretch();
    form->addRow(QString(), buttons);
    form->addRow(QString(), m_error);
    auto* box = new QGroupBox(tr("Attribution settings"), this);
    box->setLayout(form);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(box);
    layout->addWidget(new QLabel(tr("Log"), this));
    layout->addWidget(m_log, 1);

    JobRunner* runner = m_doc->runner();
    connect(m_run, &QPushButton::clicked, this, &AttributePage::run);
    connect(m_cancel, &QPushButton::clicked, runner, &JobRunner::cancel);
    auto log = [this](const QString& text) {
        m_log->appendPlainText(QTime::currentTime().toString(QStringLiteral("HH:mm:ss  ")) + text);
    };
    connect(runner, &JobRunner::started, this, [this, log](const QString& name) {
        m_cancel->setEnabled(true);
        log(name + QStringLiteral("…"));
    });
    connect(runner, &JobRunner::message, this, log);
    connect(runner, &JobRunner::finished, this, [this, log](const QString& name) {
        m_cancel->setEnabled(m_doc->runner()->isRunning());
        log(tr("%1: done").arg(name));
    });
    connect(runner, &JobRunner::failed, this, [this, log](const QString& name, const QString& error) {
        m_cancel->setEnabled(m_doc->runner()->isRunning());
        log(tr("%1 failed: %2").arg(name, error));
    });
    connect(runner, &JobRunner::cancelled, this, [this, log](const QString& name) {
        m_cancel->setEnabled(m_doc->runner()->isRunning());
        log(tr("%1 cancelled (the file is unchanged)").arg(name));
    });
    auto updateEnabled = [this] { m_run->setEnabled(m_doc->isOpen()); };
    connect(m_doc, &ExperimentDocument::contentChanged, this, updateEnabled);
    updateEnabled();
}

AttributionRequest AttributePage::request() const
{
    AttributionRequest r;
    r.method = m_method->currentText().toStdString();
    r.projection = parseProjectionKind(m_projection->currentText().toStdString());
    r.ks.clear();
    for (const QString& part : m_ks->text().split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        bool ok = false;
        const qlonglong k = part.trimmed().toLongLong(&ok);
        if (!ok || k <= 0)
            throw ConfigError("k values: '" + part.trimmed().toStdString() + "' is not a positive integer");
        r.ks.push_back(k);
    }
    if (r.ks.empty())
        throw ConfigError("k values: give at least one projection dimension, e.g. 128,256");
    r.grid = LambdaGrid::parse(m_grid->text().trimmed().toStdString(), m_relative->isChecked());
    r.layers = m_layers->text().trimmed().toStdString();
    r.seed = static_cast<uint64_t>(m_seed->value());
    r.sensitivityTests = m_tests->value();
    r.batchSize = m_batch->value();
    r.validate();
    return r;
}

void AttributePage::setForm(const QString& method, const QString& projection, const QString& ks,
                            const QString& grid, const QString& layers, int sensitivityTests)
{
    m_method->setCurrentText(method);
    m_projection->setCurrentText(projection);
    m_ks->setText(ks);
    m_grid->setText(grid);
    m_layers->setText(layers);
    m_tests->setValue(sensitivityTests);
}

bool AttributePage::run()
{
    try {
        const AttributionRequest r = request();
        m_error->clear();
        m_doc->runAttribution(r);
        return true;
    } catch (const Error& e) {
        m_error->setText(QString::fromStdString(e.what()));
        return false;
    }
}

} // namespace attri::ui
