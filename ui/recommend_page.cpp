#include "recommend_page.h"

#include "experiment_document.h"
#include "job_runner.h"

#include "common/error.h"
#include "tuning/lambda_selector.h"

#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QMessageBox>
#include <QPainter>
#include <QPushButton>
#include <QSpinBox>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <QValueAxis>

#include <algorithm>
#include <cmath>

namespace attri::ui {

RecommendPage::RecommendPage(ExperimentDocument* document, QWidget* parent)
    : QWidget(parent), m_doc(document), m_rule(new QComboBox(this)),
      m_grid(new QLineEdit(QStringLiteral("log:1e-6:1e2:33"), this)), m_subsets(new QSpinBox(this)),
      m_maxTests(new QSpinBox(this)), m_run(new QPushButton(tr("Recommend λ"), this)),
      m_result(new QTextBrowser(this)), m_chart(new QChartView(this)),
      m_acceptRecommended(new QPushButton(tr("Accept the recommended λ"), this)),
      m_acceptCurrent(new QPushButton(tr("Accept the current λ"), this)), m_accepted(new QLabel(this)),
      m_gtSubsets(new QSpinBox(this)), m_groundTruth(new QPushButton(tr("Compute ground truth"), this))
{
    for (SelectorRule r : selectableSelectorRules())
        m_rule->addItem(QString::fromStdString(toString(r)));
    m_rule->setToolTip(tr("path-or-prior (the default): path-match where the training path is recorded, gradient "
                          "descent is stable on it and unrolling it takes under 4% of the retraining it replaces; "
                          "dynamics-prior otherwise. dynamics-prior: from the recipe and the features. path-match: the "
                          "λ whose scores best match the influence unrolled along the recorded checkpoints (train with "
                          "checkpoints, then run TracIn). docs/lambda-selection.md compares them."));
    m_grid->setToolTip(tr("Relative λ grid the rule chooses from: a list (1e-3,1e-2) or log:low:high:count"));
    m_subsets->setRange(4, 4096);
    m_subsets->setValue(64);
    m_maxTests->setRange(1, 100000);
    m_maxTests->setValue(500);
    m_gtSubsets->setRange(2, 1000);
    m_gtSubsets->setValue(50);
    m_accepted->setWordWrap(true);
    m_chart->setRenderHint(QPainter::Antialiasing);
    m_chart->setMinimumHeight(220);
    m_chart->setChart(new QChart);

    auto* form = new QFormLayout;
    form->addRow(tr("Rule"), m_rule);
    form->addRow(tr("Relative λ grid"), m_grid);
    form->addRow(tr("Simulated subsets"), m_subsets);
    form->addRow(tr("Test points for ξ"), m_maxTests);
    form->addRow(QString(), m_run);
    auto* settingsBox = new QGroupBox(tr("Retraining-free recommendation"), this);
    settingsBox->setLayout(form);
    auto* acceptRow = new QHBoxLayout;
    acceptRow->addWidget(m_acceptRecommended);
    acceptRow->addWidget(m_acceptCurrent);
    acceptRow->addStretch();
    auto* gtForm = new QFormLayout;
    gtForm->addRow(tr("Retrained models (M)"), m_gtSubsets);
    gtForm->addRow(QString(), m_groundTruth);
    auto* gtBox =
        new QGroupBox(tr("Ground truth (LDS; long: resumable, cancel keeps finished models)"), this);
    gtBox->setLayout(gtForm);
    auto* left = new QVBoxLayout;
    left->addWidget(settingsBox);
    left->addWidget(gtBox);
    left->addStretch();
    auto* right = new QVBoxLayout;
    right->addWidget(m_result, 1);
    right->addWidget(m_chart, 1);
    right->addLayout(acceptRow);
    right->addWidget(m_accepted);
    auto* layout = new QHBoxLayout(this);
    layout->addLayout(left, 1);
    layout->addLayout(right, 2);

    connect(m_run, &QPushButton::clicked, this, &RecommendPage::runRecommendation);
    connect(m_acceptRecommended, &QPushButton::clicked, this, [this] {
        if (auto rec = m_doc->recommendation())
            m_doc->acceptLambda(rec->relativeLambda, QString::fromStdString(rec->rule));
    });
    connect(m_acceptCurrent, &QPushButton::clicked, m_doc, &ExperimentDocument::acceptCurrentLambda);
    connect(m_groundTruth, &QPushButton::clicked, this,
            [this] { m_doc->computeGroundTruth(m_gtSubsets->value()); });
    for (auto signal : {&ExperimentDocument::recommendationChanged, &ExperimentDocument::acceptedChanged,
                        &ExperimentDocument::sessionChanged, &ExperimentDocument::contentChanged})
        connect(m_doc, signal, this, &RecommendPage::refresh);
    connect(m_doc, &ExperimentDocument::lambdaChanged, this, &RecommendPage::refresh);
    refresh();
}

void RecommendPage::runRecommendation()
{
    try {
        SelectorOptions options;
        options.rule = parseSelectorRule(m_rule->currentText().toStdString());
        options.simulatedSubsets = m_subsets->value();
        options.maxTests = m_maxTests->value();
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

void RecommendPage::refresh()
{
    const bool ready = m_doc->session() != nullptr && m_doc->methodUsesLambda();
    m_run->setEnabled(ready);
    m_acceptCurrent->setEnabled(ready);
    m_groundTruth->setEnabled(m_doc->isOpen());
    // The box starts at the file's own M, so that "Compute ground truth" reads it back: a smaller
    // M is refused, a larger one trains more models.
    const auto content = m_doc->content();
    const int64_t stored = content ? content->groundTruthSubsets : 0;
    if (stored > 0 && stored != m_shownStoredSubsets)
        m_gtSubsets->setValue(static_cast<int>(std::min<int64_t>(stored, m_gtSubsets->maximum())));
    m_shownStoredSubsets = stored;
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
        QString xi;
        if (!rec->meanXi.empty()) {
            const auto [lo, hi] = std::minmax_element(rec->meanXi.begin(), rec->meanXi.end());
            xi = tr("<li>mean ξ: peak %1, minimum %2, peakedness %3</li>")
                     .arg(*hi, 0, 'f', 4)
                     .arg(*lo, 0, 'f', 4)
                     .arg(rec->peakedness, 0, 'f', 4);
        }
        if (std::isfinite(rec->ldsAtRecommended) && std::isfinite(rec->ldsGridBest)) {
            const double ratio = rec->ldsAtRecommended / rec->ldsGridBest;
            xi += tr("<li>ground truth: LDS %1 here, best %2 at λ = %3 (ratio %4; 90% interval under "
                     "ground-truth noise %5–%6)</li>")
                      .arg(rec->ldsAtRecommended, 0, 'f', 4)
                      .arg(rec->ldsGridBest, 0, 'f', 4)
                      .arg(rec->lambdaGridBest, 0, 'g', 3)
                      .arg(ratio, 0, 'f', 3)
                      .arg(rec->ldsRatioLow, 0, 'f', 3)
                      .arg(rec->ldsRatioHigh, 0, 'f', 3);
        }
        m_result->setHtml(tr("<h3>Recommended λ = %1</h3><ul><li>relative: c = %2 × mean eigenvalue</li>"
                             "<li>rule: %3</li>%4<li>cost: %5 s</li><li>method %6, k = %7</li>"
                             "<li>inputs: %8</li></ul>")
                              .arg(rec->lambda, 0, 'g', 4)
                              .arg(rec->relativeLambda, 0, 'g', 4)
                              .arg(QString::fromStdString(rec->rule))
                              .arg(xi)
                              .arg(rec->seconds, 0, 'f', 2)
                              .arg(m_doc->method())
                              .arg(rec->k)
                              .arg(QString::fromStdString(rec->inputs).toHtmlEscaped()));
    }
    // ξ(λ) chart.
    auto* chart = new QChart;
    chart->setTitle(tr("mean ξ(λ)"));
    chart->legend()->setAlignment(Qt::AlignBottom);
    if (rec && !rec->meanXi.empty() && rec->relativeLambda > 0) {
        const double unit = rec->lambda / rec->relativeLambda;
        auto* x = new QLogValueAxis;
        x->setLabelFormat(QStringLiteral("%.0e"));
        x->setTitleText(tr("relative λ"));
        auto* y = new QValueAxis;
        y->setTitleText(tr("mean ξ"));
        chart->addAxis(x, Qt::AlignBottom);
        chart->addAxis(y, Qt::AlignLeft);
        auto* curve = new QLineSeries;
        curve->setName(tr("mean ξ"));
        curve->setPen(QPen(QColor(0x00, 0x9E, 0x73), 2.5));
        double lo = 1e9, hi = -1e9;
        for (size_t i = 0; i < rec->lambdas.size() && i < rec->meanXi.size(); ++i)
            if (std::isfinite(rec->meanXi[i])) {
                curve->append(rec->lambdas[i] / unit, rec->meanXi[i]);
                lo = std::min(lo, rec->meanXi[i]);
                hi = std::max(hi, rec->meanXi[i]);
            }
        chart->addSeries(curve);
        curve->attachAxis(x);
        curve->attachAxis(y);
        if (lo > hi) {
            lo = -1;
            hi = 1;
        }
        const double pad = std::max(0.01, 0.1 * (hi - lo));
        y->setRange(lo - pad, hi + pad);
        auto marker = [&](const QString& name, double rel, QColor color, Qt::PenStyle style) {
            auto* s = new QLineSeries;
            s->setName(name);
            s->setPen(QPen(color, 2, style));
            s->append(rel, lo - pad);
            s->append(rel, hi + pad);
            chart->addSeries(s);
            s->attachAxis(x);
            s->attachAxis(y);
        };
        marker(tr("recommended"), rec->relativeLambda, QColor(0x00, 0x9E, 0x73), Qt::DashLine);
        marker(tr("current"), m_doc->relativeLambda(), QColor(0xD5, 0x5E, 0x00), Qt::SolidLine);
    }
    QChart* old = m_chart->chart();
    m_chart->setChart(chart);
    delete old;
    if (auto a = m_doc->accepted())
        m_accepted->setText(tr("<b>Accepted</b> for %1: λ = %2 (c = %3) at k = %4 — rule %5, by %6, %7 "
                               "(Edit → Undo reverts it, in the file too)")
                                .arg(QString::fromStdString(a->method))
                                .arg(a->lambda, 0, 'g', 4)
                                .arg(a->relativeLambda, 0, 'g', 3)
                                .arg(a->k)
                                .arg(QString::fromStdString(a->rule), QString::fromStdString(a->user),
                                     QString::fromStdString(a->time)));
    else
        m_accepted->setText(tr("No λ accepted yet."));
}

QList<Figure> RecommendPage::figures() const
{
    return {chartFigure(QStringLiteral("xi-curve"), m_chart)};
}

} // namespace attri::ui
