#include "data_model_page.h"

#include "checkpoint_model.h"
#include "experiment_content.h"
#include "experiment_document.h"
#include "job_runner.h"

#include "common/error.h"

#include <QChart>
#include <QChartView>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHeaderView>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QLineSeries>
#include <QMenu>
#include <QPainter>
#include <QPlainTextEdit>
#include <QTabWidget>
#include <QTextBrowser>
#include <QPushButton>
#include <QSpinBox>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>
#include <QValueAxis>

#include <cmath>

namespace attri::ui {

QString experimentSummaryHtml(const ExperimentContent& c)
{
    auto row = [](const QString& label, const QString& value) {
        return QStringLiteral("<tr><td style='padding-right:14px; vertical-align:top'><b>%1</b></td><td>%2</td></tr>")
            .arg(label, value);
    };
    auto percent = [](double v) { return QString::number(100.0 * v, 'f', 1) + QLatin1Char('%'); };
    QString rows;
    const DataOptions& data = c.dataRecord.options;
    QString dataset = QString::fromStdString(data.spec).toHtmlEscaped();
    if (c.data && c.data->name != data.spec)
        dataset += QObject::tr(" (%1)").arg(QString::fromStdString(c.data->name).toHtmlEscaped());
    dataset += QObject::tr("<br>%1 training and %2 test images, %3%4")
                   .arg(c.dataRecord.trainIndices.size())
                   .arg(c.dataRecord.testIndices.size())
                   .arg(data.sampleSeed ? QObject::tr("a random sample (seed %1)").arg(*data.sampleSeed)
                                        : QObject::tr("the first of each split"))
                   .arg(data.mean.empty() ? QObject::tr(", not normalized") : QObject::tr(", normalized"));
    if (!c.dataError.empty())
        dataset += QObject::tr("<br><span style='color:#a00'>cannot be reloaded: %1</span>")
                       .arg(QString::fromStdString(c.dataError).toHtmlEscaped());
    rows += row(QObject::tr("Dataset"), dataset);
    const ModelRecord& m = c.modelRecord;
    QString model = QObject::tr("%1, %2 parameters, input %3×%4×%5, %6 classes")
                        .arg(QString::fromStdString(toString(m.architecture)))
                        .arg(m.parameterCount)
                        .arg(m.input.channels)
                        .arg(m.input.height)
                        .arg(m.input.width)
                        .arg(m.numClasses);
    if (!m.torchscriptPath.empty())
        model += QObject::tr("<br>imported from %1").arg(QString::fromStdString(m.torchscriptPath).toHtmlEscaped());
    rows += row(QObject::tr("Model"), model);
    if (m.recipe) {
        const TrainRecipe& r = *m.recipe;
        rows += row(QObject::tr("Recipe"),
                    QObject::tr("%1, learning rate %2%3, batch %4, %5 epochs, weight decay %6%7%8")
                        .arg(QString::fromStdString(r.optimizer))
                        .arg(r.lr, 0, 'g', 4)
                        .arg(r.optimizer == "sgd" ? QObject::tr(", momentum %1").arg(r.momentum, 0, 'g', 3) : QString())
                        .arg(r.batchSize)
                        .arg(r.epochs)
                        .arg(r.weightDecay, 0, 'g', 3)
                        .arg(r.constantRate() ? QString()
                                              : QObject::tr(", %1 schedule").arg(QString::fromStdString(r.scheduleText())))
                        .arg(r.augmented() ? QObject::tr(", augmented (%1)").arg(QString::fromStdString(r.augment))
                                           : QString()));
    } else {
        rows += row(QObject::tr("Recipe"), QObject::tr("none recorded: ground truth and the λ recommendation need one "
                                                      "(import with --lr, --epochs and --batch-size)"));
    }
    QString fit = QObject::tr("training accuracy %1 (loss %2), test accuracy %3 (loss %4)")
                      .arg(percent(m.trainMetrics.accuracy))
                      .arg(m.trainMetrics.meanLoss, 0, 'f', 3)
                      .arg(percent(m.testMetrics.accuracy))
                      .arg(m.testMetrics.meanLoss, 0, 'f', 3);
    if (m.trainSeconds > 0)
        fit += QObject::tr("<br>trained in %1 s%2").arg(m.trainSeconds, 0, 'f', 1)
                   .arg(m.trainDevice.empty() ? QString() : QObject::tr(" on %1").arg(QString::fromStdString(m.trainDevice)));
    rows += row(QObject::tr("Fit"), fit);
    rows += row(QObject::tr("Checkpoints"), QString::number(m.checkpoints.size()));
    QString methods;
    for (const std::string& method : c.methods) {
        QString line = QString::fromStdString(method);
        const std::vector<int64_t> ks = c.ksFor(method);
        if (!ks.empty()) {
            QStringList kText;
            for (int64_t k : ks)
                kText << QString::number(k);
            line += QObject::tr(" at k = %1").arg(kText.join(QStringLiteral(", ")));
        }
        const auto accepted = c.accepted.find(method);
        if (accepted != c.accepted.end())
            line += QObject::tr("; accepted λ = %1 (%2 × mean eigenvalue) at k = %3")
                        .arg(accepted->second.lambda, 0, 'g', 3)
                        .arg(accepted->second.relativeLambda, 0, 'g', 3)
                        .arg(accepted->second.k);
        methods += line + QStringLiteral("<br>");
    }
    rows += row(QObject::tr("Attribution"), methods.isEmpty() ? QObject::tr("none yet (Attribute page)") : methods);
    QString truth = QObject::tr("none yet (Recommend page)");
    if (c.groundTruthSubsets > 0 && c.groundTruthImportedFrom.empty())
        truth = QObject::tr("%1 retrained models").arg(c.groundTruthSubsets);
    else if (c.groundTruthSubsets > 0)
        truth = QObject::tr("%1 models retrained outside AttriScope, imported from %2")
                    .arg(c.groundTruthSubsets)
                    .arg(QString::fromStdString(c.groundTruthImportedFrom).toHtmlEscaped());
    rows += row(QObject::tr("Ground truth"), truth);
    return QObject::tr("<h3>%1</h3><table>%2</table>")
        .arg(QFileInfo(QString::fromStdString(c.path)).fileName().toHtmlEscaped(), rows);
}

DataModelPage::DataModelPage(ExperimentDocument* document, QWidget* parent)
    : QWidget(parent), m_doc(document), m_tabs(new QTabWidget(this)),
      m_summary(new QTextBrowser(this)), m_contents(new QPlainTextEdit(this)), m_spec(new QComboBox(this)),
      m_browseData(new QToolButton(this)), m_checkpoints(new CheckpointModel(this)),
      m_checkpointView(new QTableView(this)),
      m_trainSize(new QSpinBox(this)), m_testSize(new QSpinBox(this)),
      m_normalize(new QCheckBox(tr("subtract the dataset's standard mean, divide by its std"), this)),
      m_architecture(new QComboBox(this)),
      m_epochs(new QSpinBox(this)), m_lr(new QDoubleSpinBox(this)), m_batch(new QSpinBox(this)),
      m_momentum(new QDoubleSpinBox(this)), m_weightDecay(new QDoubleSpinBox(this)),
      m_out(new QLineEdit(QDir::home().filePath(QStringLiteral("attriscope-experiment.h5")), this)),
      m_train(new QPushButton(tr("Train into a new experiment"), this)),
      m_import(new QPushButton(tr("Import TorchScript…"), this)), m_chart(new QChartView(this))
{
    m_contents->setReadOnly(true);
    m_contents->setFont(QFont(QStringLiteral("DejaVu Sans Mono")));
    m_tabs->addTab(m_summary, tr("Summary"));
    m_tabs->addTab(m_contents, tr("File contents"));
    m_spec->setEditable(true);
    m_spec->addItems({QStringLiteral("demo"), QStringLiteral("fashion-mnist"), QStringLiteral("mnist:DIR"),
                      QStringLiteral("cifar2:DIR"), QStringLiteral("cifar10:DIR"),
                      QStringLiteral("h5:FILE")});
    m_spec->setToolTip(tr("Dataset spec, as the CLI takes it; Browse… picks a folder or file"));
    m_browseData->setText(tr("Browse…"));
    m_browseData->setPopupMode(QToolButton::InstantPopup);
    auto* browseMenu = new QMenu(m_browseData);
    struct Choice {
        QString text;
        DatasetSpec::Kind kind;
        bool folder;
    };
    for (const Choice& c : {Choice{tr("MNIST IDX folder…"), DatasetSpec::Kind::Mnist, true},
                            Choice{tr("Fashion-MNIST IDX folder…"), DatasetSpec::Kind::FashionMnist, true},
                            Choice{tr("CIFAR-10 binary folder…"), DatasetSpec::Kind::Cifar10, true},
                            Choice{tr("CIFAR-2 (cats vs dogs) from a CIFAR-10 folder…"), DatasetSpec::Kind::Cifar2, true},
                            Choice{tr("HDF5 dataset file…"), DatasetSpec::Kind::Hdf5, false}}) {
        browseMenu->addAction(c.text, this, [this, c] {
            const QString path =
                c.folder ? QFileDialog::getExistingDirectory(this, c.text)
                         : QFileDialog::getOpenFileName(this, c.text, QString(),
                                                        tr("HDF5 files (*.h5 *.hdf5);;All files (*)"));
            if (!path.isEmpty())
                chooseDataset(c.kind, path);
        });
    }
    m_browseData->setMenu(browseMenu);
    m_checkpoints->setObjectName(QStringLiteral("checkpointModel"));
    m_checkpointView->setModel(m_checkpoints);
    m_checkpointView->verticalHeader()->hide();
    m_checkpointView->horizontalHeader()->setStretchLastSection(true);
    m_checkpointView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_checkpointView->setToolTip(tr("Checkpoints saved during training (TracIn and TRAK use them)"));
    m_trainSize->setRange(-1, 1000000);
    m_trainSize->setValue(5000);
    m_testSize->setRange(-1, 1000000);
    m_testSize->setValue(500);
    m_normalize->setChecked(true);
    m_normalize->setToolTip(tr("Off: pixels stay in [0, 1]. HDF5 datasets have no standard values."));
    m_architecture->addItems(
        {QStringLiteral("lr"), QStringLiteral("mlp"), QStringLiteral("cnn"), QStringLiteral("resnet9")});
    m_epochs->setRange(1, 1000);
    m_lr->setDecimals(5);
    m_lr->setRange(1e-5, 10);
    m_lr->setSingleStep(0.001);
    m_batch->setRange(1, 100000);
    m_momentum->setRange(0, 0.999);
    m_momentum->setSingleStep(0.1);
    m_weightDecay->setDecimals(6);
    m_weightDecay->setRange(0, 1);
    auto applyStandard = [this] {
        const TrainRecipe r =
            TrainRecipe::standardFor(parseArchitecture(m_architecture->currentText().toStdString()));
        m_epochs->setValue(static_cast<int>(r.epochs));
        m_lr->setValue(r.lr);
        m_batch->setValue(static_cast<int>(r.batchSize));
        m_momentum->setValue(r.momentum);
        m_weightDecay->setValue(r.weightDecay);
    };
    applyStandard();
    m_chart->setRenderHint(QPainter::Antialiasing);
    m_chart->setMinimumHeight(220);
    resetLossChart(tr("Training loss"));

    auto* form = new QFormLayout;
    auto* dataRow = new QHBoxLayout;
    dataRow->addWidget(m_spec, 1);
    dataRow->addWidget(m_browseData);
    form->addRow(tr("Dataset"), dataRow);
    form->addRow(tr("Training points, at most (−1: all)"), m_trainSize);
    form->addRow(tr("Test points, at most (−1: all)"), m_testSize);
    form->addRow(tr("Normalization"), m_normalize);
    form->addRow(tr("Model"), m_architecture);
    form->addRow(tr("Epochs"), m_epochs);
    form->addRow(tr("Learning rate"), m_lr);
    form->addRow(tr("Batch size"), m_batch);
    form->addRow(tr("Momentum"), m_momentum);
    form->addRow(tr("Weight decay"), m_weightDecay);
    auto* outRow = new QHBoxLayout;
    auto* browse = new QPushButton(tr("…"), this);
    outRow->addWidget(m_out, 1);
    outRow->addWidget(browse);
    form->addRow(tr("Experiment file"), outRow);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_train);
    buttons->addWidget(m_import);
    buttons->addStretch();
    form->addRow(QString(), buttons);
    auto* box = new QGroupBox(tr("New experiment"), this);
    box->setLayout(form);
    auto* left = new QVBoxLayout;
    left->addWidget(box);
    left->addWidget(m_chart, 1);
    auto* layout = new QHBoxLayout(this);
    layout->addLayout(left, 1);
    auto* right = new QVBoxLayout;
    right->addWidget(m_tabs, 3);
    right->addWidget(m_checkpointView, 1);
    layout->addLayout(right, 1);

    connect(m_architecture, &QComboBox::currentTextChanged, this, applyStandard);
    connect(m_train, &QPushButton::clicked, this, &DataModelPage::train);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("New experiment file"), m_out->text(),
                                                          tr("Experiment files (*.h5)"));
        if (!path.isEmpty())
            m_out->setText(path);
    });
    connect(m_import, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("TorchScript model"), QString(),
                                                          tr("TorchScript (*.pt *.pth);;All files (*)"));
        if (!path.isEmpty())
            importTorchScript(path);
    });
    connect(m_doc->runner(), &JobRunner::metric, this,
            [this](const QString& name, qint64 step, qint64, double loss) {
        if (m_training && m_loss && name == QLatin1String("train_loss")) {
            const int epoch = static_cast<int>(step);
            m_loss->append(epoch, loss);
            auto axes = m_chart->chart()->axes();
            if (axes.size() == 2) {
                static_cast<QValueAxis*>(axes[0])->setRange(1, std::max(2, epoch));
                auto* y = static_cast<QValueAxis*>(axes[1]);
                y->setRange(0, std::max(y->max(), loss * 1.1));
            }
        }
    });
    connect(m_doc, &ExperimentDocument::contentChanged, this, &DataModelPage::showContent);
    showContent();
}

void DataModelPage::resetLossChart(const QString& title)
{
    auto* chart = new QChart;
    chart->setTitle(title);
    chart->legend()->hide();
    auto* x = new QValueAxis;
    x->setTitleText(tr("epoch"));
    x->setLabelFormat(QStringLiteral("%d"));
    auto* y = new QValueAxis;
    y->setTitleText(tr("mean training loss"));
    y->setRange(0, 0.1);
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    m_loss = new QLineSeries;
    m_loss->setPen(QPen(QColor(0x00, 0x72, 0xB2), 2.5));
    m_loss->setPointsVisible(true);
    chart->addSeries(m_loss);
    m_loss->attachAxis(x);
    m_loss->attachAxis(y);
    QChart* old = m_chart->chart();
    m_chart->setChart(chart);
    delete old;
}

void DataModelPage::showContent()
{
    auto content = m_doc->content();
    if (!content) {
        m_summary->setPlainText(tr("No experiment is open. Train one with the form, or open a file."));
        m_contents->clear();
        m_checkpoints->setRows({});
        return;
    }
    m_summary->setHtml(experimentSummaryHtml(*content));
    m_contents->setPlainText(QString::fromStdString(content->summary));
    std::vector<CheckpointModel::Row> rows;
    const auto& checkpoints = content->modelRecord.checkpoints;
    const auto& recipe = content->modelRecord.recipe;
    const int64_t trainCount = static_cast<int64_t>(content->dataRecord.trainIndices.size());
    const int64_t stepsPerEpoch = recipe && recipe->batchSize > 0 ? (trainCount + recipe->batchSize - 1) / recipe->batchSize : 0;
    for (size_t i = 0; i < checkpoints.size(); ++i)
        rows.push_back({checkpoints[i].epochsAt(stepsPerEpoch), checkpoints[i].lr,
                        i < content->checkpointNorms.size() ? content->checkpointNorms[i] : std::nan("")});
    m_checkpoints->setRows(std::move(rows));
    if (m_training)
        return;
    resetLossChart(tr("Training loss of the open experiment"));
    const auto& losses = content->modelRecord.epochLoss;
    double hi = 0.1;
    for (size_t i = 0; i < losses.size(); ++i) {
        m_loss->append(static_cast<double>(i + 1), losses[i]);
        hi = std::max(hi, losses[i] * 1.1);
    }
    auto axes = m_chart->chart()->axes();
    static_cast<QValueAxis*>(axes[0])->setRange(1, std::max<double>(2, static_cast<double>(losses.size())));
    static_cast<QValueAxis*>(axes[1])->setRange(0, hi);
}

void DataModelPage::chooseDataset(DatasetSpec::Kind kind, const QString& path)
{
    DatasetSpec spec;
    spec.kind = kind;
    spec.path = path.toStdString();
    m_spec->setCurrentText(QString::fromStdString(spec.toString()));
}

QString DataModelPage::datasetSpec() const
{
    return m_spec->currentText().trimmed();
}

NewExperiment DataModelPage::newExperiment() const
{
    NewExperiment e;
    e.path = m_out->text().trimmed().toStdString();
    if (e.path.empty())
        throw ConfigError("experiment file: choose where to create it");
    const std::string spec = m_spec->currentText().trimmed().toStdString();
    const DatasetSpec parsed = DatasetSpec::parse(spec);
    e.data.spec = parsed.toString();
    e.data.trainSize = m_trainSize->value();
    e.data.testSize = m_testSize->value();
    e.data.trainSizeIsLimit = e.data.testSizeIsLimit = true; // a smaller dataset is taken whole
    if (m_normalize->isChecked()) {
        e.data.mean = parsed.standardMean();
        e.data.std = parsed.standardStd();
    }
    e.architecture = parseArchitecture(m_architecture->currentText().toStdString());
    e.recipe = TrainRecipe::standardFor(e.architecture);
    e.recipe.epochs = m_epochs->value();
    e.recipe.lr = m_lr->value();
    e.recipe.batchSize = m_batch->value();
    e.recipe.momentum = m_momentum->value();
    e.recipe.weightDecay = m_weightDecay->value();
    e.data.validate();
    e.recipe.validate();
    return e;
}

void DataModelPage::train()
{
    NewExperiment e;
    try {
        e = newExperiment();
    } catch (const Error& err) {
        m_summary->setPlainText(tr("Invalid settings: %1").arg(QString::fromStdString(err.what())));
        m_tabs->setCurrentWidget(m_summary);
        return;
    }
    m_training = true;
    resetLossChart(
        tr("Training %1 on %2")
            .arg(QString::fromStdString(toString(e.architecture)), QString::fromStdString(e.data.spec)));
    m_doc->trainNew(e, this, [this] { m_training = false; });
}

void DataModelPage::importTorchScript(const QString& torchscriptPath)
{
    DataOptions options;
    try {
        const DatasetSpec parsed = DatasetSpec::parse(m_spec->currentText().trimmed().toStdString());
        options.spec = parsed.toString();
        options.trainSize = m_trainSize->value();
        options.testSize = m_testSize->value();
        options.trainSizeIsLimit = options.testSizeIsLimit = true;
        if (m_normalize->isChecked()) {
            options.mean = parsed.standardMean();
            options.std = parsed.standardStd();
        }
        options.validate();
    } catch (const Error& err) {
        m_summary->setPlainText(tr("Invalid settings: %1").arg(QString::fromStdString(err.what())));
        m_tabs->setCurrentWidget(m_summary);
        return;
    }
    m_doc->importNew(m_out->text().trimmed().toStdString(), torchscriptPath.toStdString(), options);
}

int DataModelPage::lossPointCount() const
{
    return m_loss ? m_loss->count() : 0;
}

QList<Figure> DataModelPage::figures() const
{
    return {chartFigure(QStringLiteral("training-loss"), m_chart)};
}

} // namespace attri::ui
