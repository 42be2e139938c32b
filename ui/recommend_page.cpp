#include "recommend_page.h"

#include "app_settings.h"
#include "experiment_content.h"
#include "experiment_document.h"
#include "job_runner.h"
#include "lambda_chart.h"

#include "common/error.h"
#include "tuning/lambda_selector.h"

#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPainter>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTextBrowser>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace attri::ui {

namespace {

QString ruleHelp(SelectorRule rule)
{
    switch (rule) {
    case SelectorRule::PathOrPrior:
        return QObject::tr("The default. Follows the recorded training path where gradient descent is stable on it "
                           "and unrolling it fits the time budget below; otherwise the dynamics prior.");
    case SelectorRule::DynamicsPrior:
        return QObject::tr("The ridge that the recipe's early-stopped training imitates, in the method's units. "
                           "Milliseconds.");
    case SelectorRule::PathMatch:
        return QObject::tr("The λ whose scores best match the influence unrolled along the recorded checkpoints "
                           "(train with checkpoints, then attribute with TracIn).");
    case SelectorRule::SimulatedSgd:
        return QObject::tr("Simulates data subsets in feature space with the recipe's optimizer and picks the λ "
                           "whose scores predict them best (the ξ curve). Seconds.");
    default:
        return QObject::tr("Kept for comparison; docs/lambda-selection.md describes it.");
    }
}

QString row(const QString& label, const QString& value)
{
    return QStringLiteral("<tr><td style='padding-right:12px'>%1</td><td><b>%2</b></td></tr>").arg(label, value);
}

} // namespace

RecommendPage::RecommendPage(ExperimentDocument* document, QWidget* parent)
    : QWidget(parent), m_doc(document), m_rule(new QComboBox(this)),
      m_grid(new QLineEdit(QStringLiteral("log:1e-6:1e2:33"), this)), m_subsets(new QSpinBox(this)),
      m_maxTests(new QSpinBox(this)), m_pathBudget(new QDoubleSpinBox(this)), m_ruleHelp(new QLabel(this)),
      m_form(new QFormLayout), m_run(new QPushButton(tr("Recommend λ"), this)), m_result(new QTextBrowser(this)),
      m_chart(new QChartView(this)), m_chartHint(new QLabel(this)), m_acceptor(new QLineEdit(this)),
      m_gtEstimate(new QLabel(this)), m_acceptRecommended(new QPushButton(tr("Accept the recommended λ"), this)),
      m_acceptCurrent(new QPushButton(tr("Accept the current λ"), this)), m_accepted(new QLabel(this)),
      m_gtSubsets(new QSpinBox(this)), m_groundTruth(new QPushButton(tr("Compute ground truth"), this)),
      m_importGroundTruth(new QPushButton(tr("Import ground truth…"), this))
{
    for (SelectorRule r : selectableSelectorRules())
        m_rule->addItem(QString::fromStdString(toString(r)));
    m_ruleHelp->setWordWrap(true);
    m_grid->setToolTip(tr("Relative λ grid the rule chooses from: a list (1e-3,1e-2) or log:low:high:count"));
    m_subsets->setRange(4, 4096);
    m_subsets->setValue(64);
    m_maxTests->setRange(1, 100000);
    m_maxTests->setValue(500);
    m_pathBudget->setRange(0.0, 100.0);
    m_pathBudget->setDecimals(1);
    m_pathBudget->setSuffix(tr(" % of the retraining"));
    m_pathBudget->setValue(100.0 * SelectorOptions{}.pathBudget);
    m_pathBudget->setToolTip(tr("The time unrolling the training path may take, as a share of retraining the ground "
                                "truth's 50 models (estimated from a few timed training steps); past it, the "
                                "dynamics prior. 0: never the path."));
    m_gtSubsets->setRange(2, 1000);
    m_gtSubsets->setValue(50);
    m_gtEstimate->setWordWrap(true);
    m_accepted->setWordWrap(true);
    m_acceptor->setText(acceptorName());
    m_acceptor->setToolTip(tr("Stored with every λ you accept. Your account's name unless you change it."));
    m_chart->setRenderHint(QPainter::Antialiasing);
    m_chart->setMinimumHeight(240);
    m_chart->setChart(new QChart);
    m_chartHint->setWordWrap(true);
    m_chartHint->setAlignment(Qt::AlignCenter);
    m_chartHint->setFrameShape(QFrame::StyledPanel);
    m_chartHint->setMinimumHeight(80);

    m_form->addRow(tr("Rule"), m_rule);
    m_form->addRow(tr("Relative λ grid"), m_grid);
    m_form->addRow(tr("Path budget"), m_pathBudget);
    m_form->addRow(tr("Simulated subsets"), m_subsets);
    m_form->addRow(tr("Test points"), m_maxTests);
    m_form->addRow(QString(), m_run);
    auto* settingsBox = new QGroupBox(tr("Retraining-free recommendation"), this);
    // The rule's explanation sits under the form, not in it: a word-wrapped row in a form whose
    // rows are shown and hidden is measured wrongly by Qt 6.4 after a font change.
    auto* settingsLayout = new QVBoxLayout(settingsBox);
    settingsLayout->addLayout(m_form);
    settingsLayout->addWidget(m_ruleHelp);
    auto* gtForm = new QFormLayout;
    gtForm->addRow(tr("Retrained models (M)"), m_gtSubsets);
    gtForm->addRow(QString(), m_gtEstimate);
    auto* gtButtons = new QHBoxLayout;
    gtButtons->addWidget(m_groundTruth);
    gtButtons->addWidget(m_importGroundTruth);
    gtButtons->addStretch();
    gtForm->addRow(QString(), gtButtons);
    m_importGroundTruth->setToolTip(
        tr("Models retrained outside AttriScope, e.g. by your own PyTorch code: an HDF5 file with masks (M × n) "
           "and test_loss (M × m), as docs/examples/train_in_pytorch.py --ground-truth M writes it "
           "(layout: docs/hdf5-layout.md). The LDS is then judged against them."));
    auto* gtBox = new QGroupBox(tr("Ground truth (LDS): how good a λ is"), this);
    gtBox->setLayout(gtForm);
    auto* acceptForm = new QFormLayout;
    acceptForm->addRow(tr("Accepted by"), m_acceptor);
    acceptForm->addRow(QString(), m_acceptRecommended);
    acceptForm->addRow(QString(), m_acceptCurrent);
    acceptForm->addRow(m_accepted);
    auto* acceptBox = new QGroupBox(tr("Accept"), this);
    acceptBox->setLayout(acceptForm);
    auto* left = new QVBoxLayout;
    left->addWidget(settingsBox);
    left->addWidget(gtBox);
    left->addWidget(acceptBox);
    left->addStretch();
    auto* right = new QVBoxLayout;
    right->addWidget(m_result, 3);
    right->addWidget(m_chart, 4);
    right->addWidget(m_chartHint);
    auto* layout = new QHBoxLayout(this);
    layout->addLayout(left, 2);
    layout->addLayout(right, 3);

    connect(m_rule, &QComboBox::currentTextChanged, this, &RecommendPage::showRuleOptions);
    connect(m_run, &QPushButton::clicked, this, &RecommendPage::runRecommendation);
    connect(m_acceptor, &QLineEdit::editingFinished, this,
            [this] { settings::acceptorName.set(m_acceptor->text().trimmed()); });
    connect(m_acceptRecommended, &QPushButton::clicked, this, [this] {
        settings::acceptorName.set(m_acceptor->text().trimmed());
        if (auto rec = m_doc->recommendation())
            m_doc->acceptLambda(rec->relativeLambda, QString::fromStdString(rec->rule));
    });
    connect(m_acceptCurrent, &QPushButton::clicked, this, [this] {
        settings::acceptorName.set(m_acceptor->text().trimmed());
        m_doc->acceptCurrentLambda();
    });
    connect(m_groundTruth, &QPushButton::clicked, this,
            [this] { m_doc->computeGroundTruth(m_gtSubsets->value()); });
    connect(m_importGroundTruth, &QPushButton::clicked, this, [this] {
        const QString file = QFileDialog::getOpenFileName(this, tr("Ground truth retrained outside AttriScope"),
                                                          QString(), tr("HDF5 files (*.h5 *.hdf5);;All files (*)"));
        if (!file.isEmpty())
            importGroundTruthFrom(file);
    });
    connect(m_gtSubsets, &QSpinBox::valueChanged, this, &RecommendPage::refresh);
    for (auto signal : {&ExperimentDocument::recommendationChanged, &ExperimentDocument::acceptedChanged,
                        &ExperimentDocument::sessionChanged, &ExperimentDocument::contentChanged})
        connect(m_doc, signal, this, &RecommendPage::refresh);
    connect(m_doc, &ExperimentDocument::lambdaChanged, this, &RecommendPage::refresh);
    showRuleOptions();
    refresh();
}

void RecommendPage::showRuleOptions()
{
    SelectorRule rule = SelectorRule::PathOrPrior;
    try {
        rule = parseSelectorRule(m_rule->currentText().toStdString());
    } catch (const Error&) {
    }
    m_ruleHelp->setText(ruleHelp(rule));
    const bool simulated = rule == SelectorRule::SimulatedSgd;
    const bool path = rule == SelectorRule::PathMatch || rule == SelectorRule::PathOrPrior;
    const std::pair<QWidget*, bool> rows[] = {
        {m_pathBudget, rule == SelectorRule::PathOrPrior}, {m_subsets, simulated}, {m_maxTests, simulated || path}};
    for (const auto& [field, on] : rows) {
        field->setVisible(on);
        if (QWidget* label = m_form->labelForField(field))
            label->setVisible(on);
    }
}

bool RecommendPage::simulationOptionsVisible() const
{
    return !m_subsets->isHidden();
}

bool RecommendPage::chartVisible() const
{
    return !m_chart->isHidden();
}

QString RecommendPage::chartHint() const
{
    return m_chartHint->isHidden() ? QString() : m_chartHint->text();
}

void RecommendPage::runRecommendation()
{
    try {
        SelectorOptions options;
        options.rule = parseSelectorRule(m_rule->currentText().toStdString());
        options.simulatedSubsets = m_subsets->value();
        options.maxTests = m_maxTests->value();
        options.pathBudget = m_pathBudget->value() / 100.0;
        options.validate();
        const LambdaGrid grid = LambdaGrid::parse(m_grid->text().trimmed().toStdString(), true);
        m_doc->recommend(options, grid);
    } catch (const Error& e) {
        m_result->setPlainText(tr("Invalid settings: %1").arg(QString::fromStdString(e.what())));
    }
}

QString RecommendPage::resultText() const
{
    return m_result->toPlainText();
}

QString RecommendPage::answerHtml() const
{
    const auto rec = m_doc->recommendation();
    if (!rec)
        return {};
    QString html;
    const double meanEig = rec->relativeLambda > 0 ? rec->lambda / rec->relativeLambda : std::nan("");
    html += tr("<h2>Recommended λ = %1</h2>").arg(formatLambda(rec->lambda));
    html += tr("<p><b>%1 × the mean eigenvalue</b> of the curvature (%2) — method %3, k = %4</p>")
                .arg(formatLambda(rec->relativeLambda), formatLambda(meanEig), QString::fromStdString(rec->method))
                .arg(rec->k);
    html += tr("<p>Rule <b>%1</b>. %2</p>")
                .arg(QString::fromStdString(rec->rule), QString::fromStdString(rec->reason).toHtmlEscaped());
    if (std::isfinite(rec->ldsAtRecommended) && std::isfinite(rec->ldsGridBest)) {
        const double ratio = rec->ldsAtRecommended / rec->ldsGridBest;
        html += tr("<p><b>Against ground truth</b> — ground truth: LDS %1 at this λ, best %2 at λ = %3: ratio "
                   "<b>%4</b> (90% interval %5–%6 under the ground truth's own noise).</p>")
                    .arg(rec->ldsAtRecommended, 0, 'f', 3)
                    .arg(rec->ldsGridBest, 0, 'f', 3)
                    .arg(formatLambda(rec->lambdaGridBest))
                    .arg(ratio, 0, 'f', 3)
                    .arg(rec->ldsRatioLow, 0, 'f', 3)
                    .arg(rec->ldsRatioHigh, 0, 'f', 3);
    }
    QString rows;
    auto number = [&](const QString& label, double v, char format = 'g', int precision = 4) {
        if (std::isfinite(v))
            rows += row(label, QString::number(v, format, precision));
    };
    const bool prior = std::isfinite(rec->priorStepSize)
                       || rec->rule.find("prior") != std::string::npos; // older files lack the prior's fields
    number(tr("step size η_eff"), rec->priorStepSize);
    number(tr("subset model's steps T"), rec->priorSteps, 'f', 0);
    number(tr("weight decay"), rec->priorWeightDecay);
    if (std::isfinite(rec->priorStepSize) && std::isfinite(rec->priorSteps) && rec->priorStepSize * rec->priorSteps > 0)
        number(tr("ridge 1/(η_eff·T) + weight decay"),
               1.0 / (rec->priorStepSize * rec->priorSteps) + std::max(0.0, rec->priorWeightDecay));
    if (prior) {
        number(tr("feature scale c"), rec->featureScale);
        number(tr("curvature ratio ρ"), rec->curvatureRatio);
        number(tr("path factor π"), rec->pathFactor);
    }
    number(tr("path stability (step / limit)"), rec->pathStability);
    if (!rec->meanXi.empty()) {
        const auto [lo, hi] = std::minmax_element(rec->meanXi.begin(), rec->meanXi.end());
        rows += row(tr("mean ξ: peak, minimum"), QStringLiteral("%1, %2").arg(*hi, 0, 'f', 3).arg(*lo, 0, 'f', 3));
        number(tr("peakedness"), rec->peakedness);
    }
    rows += row(tr("time"), tr("%1 s").arg(rec->seconds, 0, 'f', 2));
    html += tr("<h4>Inputs</h4><table>%1</table>").arg(rows);
    if (!rec->inputs.empty())
        html += tr("<p style='color:#555'><small>Details: %1</small></p>")
                    .arg(QString::fromStdString(rec->inputs).toHtmlEscaped());
    return html;
}

void RecommendPage::importGroundTruthFrom(const QString& file)
{
    const auto content = m_doc->content();
    if (content && content->groundTruthSubsets > 0 && !qEnvironmentVariableIsSet("ATTRI_NO_DIALOGS")
        && QMessageBox::question(this, tr("Replace the ground truth?"),
                                 tr("The file holds ground truth from %1 models. Replace it with the models in %2?")
                                     .arg(content->groundTruthSubsets)
                                     .arg(file))
               != QMessageBox::Yes)
        return;
    m_doc->importGroundTruth(file);
}

void RecommendPage::refresh()
{
    const bool ready = m_doc->session() != nullptr && m_doc->methodUsesLambda();
    m_run->setEnabled(ready);
    m_acceptCurrent->setEnabled(ready);
    m_groundTruth->setEnabled(m_doc->isOpen());
    m_importGroundTruth->setEnabled(m_doc->isOpen());
    // The box starts at the file's own M, so that "Compute ground truth" reads it back: a smaller
    // M is refused, a larger one trains more models.
    const auto content = m_doc->content();
    const int64_t stored = content ? content->groundTruthSubsets : 0;
    if (stored > 0 && stored != m_shownStoredSubsets) {
        QSignalBlocker block(m_gtSubsets);
        m_gtSubsets->setValue(static_cast<int>(std::min<int64_t>(stored, m_gtSubsets->maximum())));
    }
    m_shownStoredSubsets = stored;
    const double perFifty =
        content ? estimatedRetrainSeconds(content->modelRecord.trainSeconds, content->modelRecord.trainThreads)
                : std::nan("");
    const int64_t more = std::max<int64_t>(0, m_gtSubsets->value() - stored);
    if (!content)
        m_gtEstimate->clear();
    else if (!content->groundTruthImportedFrom.empty())
        m_gtEstimate->setText(tr("The file holds %1 models retrained outside AttriScope (imported from %2); "
                                 "they cannot be extended here.")
                                  .arg(stored)
                                  .arg(QString::fromStdString(content->groundTruthImportedFrom)));
    else if (more == 0)
        m_gtEstimate->setText(tr("The file holds %1 retrained models.").arg(stored));
    else if (std::isfinite(perFifty))
        m_gtEstimate->setText(tr("%1 more models: about %2 minutes (resumable; Cancel keeps finished models).")
                                  .arg(more)
                                  .arg(std::max(1.0, std::ceil(perFifty * static_cast<double>(more) / 50.0 / 60.0)),
                                       0, 'f', 0));
    else
        m_gtEstimate->setText(tr("%1 more models, each trained with the run's recipe on half the data (resumable; "
                                 "Cancel keeps finished models).")
                                  .arg(more));

    const auto rec = m_doc->recommendation();
    m_acceptRecommended->setEnabled(ready && rec.has_value());
    if (!m_doc->isOpen()) {
        m_result->setPlainText(tr("Open an experiment with attribution results."));
    } else if (!m_doc->methodUsesLambda()) {
        m_result->setPlainText(tr("Method %1 has no λ.").arg(m_doc->method()));
    } else if (!rec) {
        m_result->setHtml(tr("<p>No recommendation for <b>%1</b> at k = %2 yet. Choose a rule and press "
                             "<i>Recommend λ</i>: it uses only the full-data model (features, curvature, "
                             "training recipe), no retraining.</p>")
                              .arg(m_doc->method())
                              .arg(m_doc->k()));
    } else {
        m_result->setHtml(answerHtml());
    }
    rebuildChart();
    if (auto a = m_doc->accepted())
        m_accepted->setText(tr("<b>Accepted</b> for %1: λ = %2 (%3 × mean eigenvalue) at k = %4 — rule %5, by %6, "
                               "%7 (Edit → Undo reverts it, in the file too)")
                                .arg(QString::fromStdString(a->method), formatLambda(a->lambda),
                                     formatLambda(a->relativeLambda))
                                .arg(a->k)
                                .arg(QString::fromStdString(a->rule), QString::fromStdString(a->user),
                                     QString::fromStdString(a->time)));
    else
        m_accepted->setText(tr("No λ accepted yet."));
}

void RecommendPage::rebuildChart()
{
    const auto content = m_doc->content();
    const auto rec = m_doc->recommendation();
    const std::string method = m_doc->method().toStdString();
    const int64_t k = rec ? rec->k : m_doc->k();
    std::vector<LambdaCurve> curves;
    int best = -1;
    std::optional<LambdaCurve> lds =
        content && m_doc->methodUsesLambda() ? ldsCurve(*content, method, k, &best) : std::nullopt;
    if (lds)
        curves.push_back(*lds);
    if (auto curve = rec ? ruleCurve(*rec) : std::nullopt)
        curves.push_back(std::move(*curve));
    if (curves.empty()) {
        m_chart->hide();
        m_chartHint->show();
        if (!m_doc->isOpen() || !m_doc->methodUsesLambda())
            m_chartHint->hide();
        else
            m_chartHint->setText(tr("No ground truth yet, so no LDS(λ) curve to judge this λ by. "
                                    "Compute ground truth (left) to draw it with the recommended, accepted "
                                    "and best λ marked."));
        return;
    }
    m_chartHint->hide();
    m_chart->show();
    double low = 0, high = 1;
    const QString title = lds ? tr("LDS(λ) at k = %1: ground truth from %2 retrained models")
                                    .arg(k)
                                    .arg(content ? content->groundTruthSubsets : 0)
                              : tr("The rule's curve at k = %1 (no ground truth yet)").arg(k);
    QChart* chart = makeLambdaChart(title, lds ? tr("LDS (rank correlation)") : tr("correlation"), curves, &low, &high);
    if (rec)
        addLambdaMarker(chart, LambdaMarker::Recommended, rec->relativeLambda, low, high);
    if (auto a = m_doc->accepted())
        addLambdaMarker(chart, LambdaMarker::Accepted, a->relativeLambda, low, high);
    if (lds && best >= 0)
        addLambdaMarker(chart, LambdaMarker::BestLds, lds->relativeLambdas[static_cast<size_t>(best)], low, high);
    addLambdaMarker(chart, LambdaMarker::Current, m_doc->relativeLambda(), low, high);
    QChart* old = m_chart->chart();
    m_chart->setChart(chart);
    delete old;
}

QList<Figure> RecommendPage::figures() const
{
    return {chartFigure(QStringLiteral("lambda-curve"), m_chart)};
}

} // namespace attri::ui
