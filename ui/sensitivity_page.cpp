#include "sensitivity_page.h"

#include "app_settings.h"
#include "experiment_content.h"
#include "lambda_chart.h"
#include "experiment_document.h"
#include "heatmap_widget.h"
#include "job_runner.h"

#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QPushButton>
#include <QPainter>
#include <QPushButton>
#include <QScatterSeries>
#include <QSignalBlocker>
#include <QSplitter>
#include <QVBoxLayout>
#include <QValueAxis>

#include <algorithm>
#include <cmath>
#include <limits>

namespace attri::ui {

namespace {
QString describeQuantity(const QString& q)
{
    if (q == QLatin1String("lds"))
        return QObject::tr("LDS (ground truth)");
    if (q == QLatin1String("spearman_next_lambda"))
        return QObject::tr("rank stability (not quality): Spearman with the next λ");
    if (q == QLatin1String("jaccard_next_lambda"))
        return QObject::tr("top-k stability (not quality): Jaccard with the next λ");
    if (q == QLatin1String("spearman_next_k"))
        return QObject::tr("rank stability (not quality): Spearman with the next k");
    if (q == QLatin1String("jaccard_next_k"))
        return QObject::tr("top-k stability (not quality): Jaccard with the next k");
    if (q == QLatin1String("mean_xi"))
        return QObject::tr("mean ξ (simulated-sgd indicator, no retraining)");
    if (q == QLatin1String(SensitivityPage::kOverlapQuantity))
        return QObject::tr("top-%1 overlap of the selected test image (robustness, not quality)")
            .arg(SensitivityPage::kOverlapCount);
    return q;
}

/// How a quantity's colours are anchored, and the sentence that says so.
struct Scale {
    double low, high;
    QString title, note;
};

Scale scaleFor(const QString& q, double dataLow)
{
    const double nan = std::numeric_limits<double>::quiet_NaN();
    if (q == QLatin1String("lds"))
        return {std::min(0.0, dataLow), nan, QObject::tr("LDS"),
                QObject::tr("Colour: LDS, how well the scores predict retrained models; the scale starts at 0 (no "
                            "agreement) and tops out at the best cell.")};
    if (q.startsWith(QLatin1String("spearman")))
        return {0.0, 1.0, QObject::tr("Spearman"),
                QObject::tr("Colour: rank correlation with the neighbouring setting, 0 to 1 (1: the same ranking). "
                            "Stable is not the same as right: LDS measures quality.")};
    if (q.startsWith(QLatin1String("jaccard")))
        return {0.0, 1.0, QObject::tr("Jaccard"),
                QObject::tr("Colour: share of the top set kept from the neighbouring setting, 0 to 1. Stable is "
                            "not the same as right: LDS measures quality.")};
    if (q == QLatin1String("mean_xi"))
        return {nan, nan, QObject::tr("mean ξ"),
                QObject::tr("Colour: mean ξ from its smallest to its largest value here; the rule reads its peak, "
                            "not its level.")};
    return {nan, nan, QString(), QString()};
}
} // namespace

SensitivityPage::SensitivityPage(ExperimentDocument* document, QWidget* parent)
    : QWidget(parent), m_doc(document), m_quantity(new QComboBox(this)), m_colormap(new QComboBox(this)),
      m_note(new QLabel(this)), m_heatmap(new HeatmapWidget(this)), m_chartView(new QChartView(this)),
      m_computeXi(new QPushButton(tr("Compute mean ξ at every k"), this)), m_chartHint(new QLabel(this))
{
    m_computeXi->setToolTip(tr("The simulated-sgd indicator ξ̄(λ) at every stored k, as a λ × k table: "
                               "seconds per k, no retraining (docs/lambda-selection.md)"));
    m_colormap->addItems(Colormap::names());
    m_colormap->setCurrentText(settings::heatmapColormap.get());
    m_heatmap->setColormap(m_colormap->currentText());
    m_note->setWordWrap(true);
    m_chartView->setRenderHint(QPainter::Antialiasing);
    m_chartView->setMinimumSize(320, 240);
    m_chartView->setChart(new QChart);
    m_chartHint->setWordWrap(true);
    m_chartHint->setAlignment(Qt::AlignCenter);
    m_chartHint->setText(tr("No LDS(λ) curve yet: compute ground truth on the Recommend page (it retrains the "
                            "model on random halves of the data), or run a rule with a ξ curve there."));

    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Quantity"), this));
    controls->addWidget(m_quantity, 1);
    controls->addWidget(new QLabel(tr("Colormap"), this));
    controls->addWidget(m_colormap);
    controls->addWidget(m_computeXi);
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(m_heatmap);
    auto* side = new QWidget(this);
    auto* sideLayout = new QVBoxLayout(side);
    sideLayout->setContentsMargins(0, 0, 0, 0);
    sideLayout->addWidget(m_chartView, 1);
    sideLayout->addWidget(m_chartHint);
    sideLayout->addStretch();
    split->addWidget(side);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    m_chartView->setMinimumWidth(420);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(split, 1);
    layout->addWidget(m_note);

    connect(m_doc, &ExperimentDocument::contentChanged, this, &SensitivityPage::onContentChanged);
    connect(m_doc, &ExperimentDocument::methodChanged, this, &SensitivityPage::onContentChanged);
    connect(m_doc, &ExperimentDocument::recommendationChanged, this, &SensitivityPage::rebuildChart);
    connect(m_doc, &ExperimentDocument::acceptedChanged, this, &SensitivityPage::rebuildChart);
    connect(m_doc, &ExperimentDocument::kChanged, this, &SensitivityPage::rebuildChart);
    connect(m_doc, &ExperimentDocument::lambdaChanged, this, &SensitivityPage::updateCurrentMarker);
    connect(m_doc, &ExperimentDocument::sessionChanged, this, &SensitivityPage::updateCurrentMarker);
    connect(m_quantity, &QComboBox::currentIndexChanged, this, &SensitivityPage::showTable);
    // The overlap follows the selected test image and the reference setting.
    auto refreshOverlap = [this] {
        if (m_quantity->currentData().toString() == QLatin1String(kOverlapQuantity))
            showOverlap();
    };
    connect(m_doc, &ExperimentDocument::selectedTestChanged, this, refreshOverlap);
    connect(m_doc, &ExperimentDocument::acceptedChanged, this, refreshOverlap);
    connect(m_doc->runner(), &JobRunner::finished, this, refreshOverlap);
    // A computation another task cancelled or superseded reports nothing: ask again later.
    connect(m_doc->runner(), &JobRunner::cancelled, this, [this] { m_overlapRunning = false; });
    connect(m_doc->runner(), &JobRunner::started, this, [this](const QString& name) {
        if (!name.startsWith(QStringLiteral("Top-")))
            m_overlapRunning = false;
    });
    connect(m_colormap, &QComboBox::currentTextChanged, this, [this](const QString& name) {
        settings::heatmapColormap.set(name);
        m_heatmap->setColormap(name);
    });
    connect(m_heatmap, &HeatmapWidget::cellClicked, this, &SensitivityPage::onCellClicked);
    connect(m_computeXi, &QPushButton::clicked, m_doc, &ExperimentDocument::computeMeanXiTable);
    onContentChanged();
}

void SensitivityPage::onContentChanged()
{
    m_overlap.reset(); // another file, or the same one recomputed
    const QString previous = m_quantity->currentData().toString();
    const bool hadLds = m_quantity->findData(QStringLiteral("lds")) >= 0;
    {
        QSignalBlocker block(m_quantity);
        m_quantity->clear();
        auto content = m_doc->content();
        if (content)
            for (const SweepTable* t : content->sweepsFor(m_doc->method().toStdString())) {
                const QString q = QString::fromStdString(t->quantity);
                m_quantity->addItem(describeQuantity(q), q);
            }
        if (m_doc->isOpen() && m_doc->methodUsesLambda() && !m_doc->availableKs().isEmpty())
            m_quantity->addItem(describeQuantity(QLatin1String(kOverlapQuantity)), QLatin1String(kOverlapQuantity));
        m_computeXi->setEnabled(content && !content->sweepsFor(m_doc->method().toStdString()).empty());
        // LDS (quality) is shown whenever it is new: ground truth just computed, or another file.
        const int lds = m_quantity->findData(QStringLiteral("lds"));
        int index = lds >= 0 && !hadLds ? lds : m_quantity->findData(previous);
        if (index < 0)
            index = lds;
        if (index < 0)
            index = m_quantity->findData(QStringLiteral("spearman_next_lambda"));
        m_quantity->setCurrentIndex(std::max(0, index));
    }
    showTable();
    rebuildChart();
}

void SensitivityPage::showTable()
{
    const QString quantity = m_quantity->currentData().toString();
    if (quantity == QLatin1String(kOverlapQuantity)) {
        showOverlap();
        return;
    }
    auto content = m_doc->content();
    const SweepTable* t = content ? content->sweep(m_doc->method().toStdString(), quantity.toStdString())
                                  : nullptr;
    if (!t) {
        m_heatmap->clear();
        m_note->setText(m_doc->isOpen() ? tr("This method has no sweep tables: run Attribute with a λ grid.")
                                        : tr("Open an experiment."));
        return;
    }
    HeatmapData d;
    d.title = tr("%1 — %2").arg(describeQuantity(QString::fromStdString(t->quantity)), m_doc->method());
    d.relativeLambdas = t->relativeLambdas;
    d.ks.assign(t->ks.begin(), t->ks.end());
    d.values = t->values;
    d.absoluteLambdas = t->absoluteLambdas;
    double dataLow = std::numeric_limits<double>::infinity();
    for (Eigen::Index i = 0; i < d.values.size(); ++i)
        if (std::isfinite(d.values.data()[i]))
            dataLow = std::min(dataLow, d.values.data()[i]);
    const Scale scale = scaleFor(quantity, std::isfinite(dataLow) ? dataLow : 0.0);
    d.scaleLow = scale.low;
    d.scaleHigh = scale.high;
    d.scaleTitle = scale.title;
    m_heatmap->setData(std::move(d));
    m_heatmap->setSelection(m_doc->relativeLambda(), m_doc->k());
    m_note->setText(
        tr("%1 Click a cell to explore that λ and k; hatched cells are undefined.%2")
            .arg(scale.note, content->hasGroundTruth ? QString() : tr(" LDS needs ground truth (Recommend page).")));
}

SensitivityPage::OverlapKey SensitivityPage::currentOverlapKey() const
{
    const TopKOverlapRequest r = m_doc->topKOverlapRequest(kOverlapCount);
    return {m_doc->method(), static_cast<int>(r.test), r.referenceRelativeLambda, r.referenceK};
}

void SensitivityPage::showOverlap()
{
    const OverlapKey key = currentOverlapKey();
    if (!m_overlap || !(m_overlapKey == key)) {
        m_heatmap->clear();
        if (m_overlapRunning)
            return;
        if (m_doc->runner()->isRunning()) {
            m_note->setText(tr("The top-%1 overlap is computed when “%2” finishes.")
                                .arg(kOverlapCount)
                                .arg(m_doc->runner()->currentTask()));
            return;
        }
        m_note->setText(tr("Finding the top %1 proponents of test image %2 at every λ and k…")
                            .arg(kOverlapCount)
                            .arg(key.test));
        m_overlapRunning = true;
        m_doc->computeTopKOverlap(
            kOverlapCount, this,
            [this, key](const TopKOverlap& result) {
                m_overlapRunning = false;
                m_overlap = result;
                m_overlapKey = key;
                if (m_quantity->currentData().toString() == QLatin1String(kOverlapQuantity))
                    showOverlap();
            },
            [this](const QString& error) {
                m_overlapRunning = false;
                m_note->setText(tr("The top-%1 overlap failed: %2").arg(kOverlapCount).arg(error));
            });
        return;
    }
    const TopKOverlap& o = *m_overlap;
    HeatmapData d;
    d.title = tr("Test image %1: its top %2 proponents kept").arg(key.test).arg(o.reference.size());
    d.relativeLambdas = o.relativeLambdas;
    d.ks.assign(o.ks.begin(), o.ks.end());
    d.values = o.overlap;
    d.scaleLow = 0.0;
    d.scaleHigh = 1.0;
    d.scaleTitle = tr("share kept");
    m_heatmap->setData(std::move(d));
    m_heatmap->setSelection(m_doc->relativeLambda(), m_doc->k());
    std::vector<size_t> order(o.reference.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return o.cellsKept[a] > o.cellsKept[b]; });
    QStringList kept;
    for (size_t i : order)
        kept << tr("#%1 %2%")
                    .arg(o.reference[i].index)
                    .arg(std::lround(100.0 * static_cast<double>(o.cellsKept[i]) /
                                     static_cast<double>(std::max<int64_t>(1, o.cells()))));
    m_note->setText(tr("Colour: share of the top %1 proponents at the reference setting (λ = %2 × mean eigenvalue, "
                       "k = %3, %4) still in the top %1 at each λ and k, 0 to 1. Robustness, not quality. Settings "
                       "that keep each proponent: %5.")
                        .arg(o.reference.size())
                        .arg(formatLambda(o.referenceRelativeLambda))
                        .arg(o.referenceK)
                        .arg(m_doc->accepted() ? tr("the accepted one") : tr("the current one"))
                        .arg(kept.join(QStringLiteral(", "))));
}

bool SensitivityPage::showQuantity(const QString& quantity)
{
    const int index = m_quantity->findData(quantity);
    if (index < 0)
        return false;
    m_quantity->setCurrentIndex(index);
    return true;
}

QString SensitivityPage::noteText() const
{
    return m_note->text();
}

void SensitivityPage::onCellClicked(int row, int col)
{
    const HeatmapData& d = m_heatmap->data();
    if (row < 0 || col < 0 || row >= static_cast<int>(d.relativeLambdas.size())
        || col >= static_cast<int>(d.ks.size()))
        return;
    m_doc->selectCell(d.relativeLambdas[static_cast<size_t>(row)], d.ks[static_cast<size_t>(col)]);
}

void SensitivityPage::rebuildChart()
{
    std::vector<LambdaCurve> curves;
    int best = -1;
    auto content = m_doc->content();
    const std::string method = m_doc->method().toStdString();
    std::optional<LambdaCurve> lds = content ? ldsCurve(*content, method, m_doc->k(), &best) : std::nullopt;
    if (lds)
        curves.push_back(*lds);
    const auto rec = m_doc->recommendation();
    if (auto curve = rec ? ruleCurve(*rec) : std::nullopt)
        curves.push_back(std::move(*curve));
    m_currentMarker = nullptr;
    if (curves.empty()) {
        // No empty panel: say what would fill it.
        m_chartView->hide();
        m_chartHint->setVisible(m_doc->isOpen() && m_doc->methodUsesLambda());
        return;
    }
    m_chartHint->hide();
    m_chartView->show();
    QChart* chart = makeLambdaChart(lds ? tr("LDS(λ) at k = %1").arg(m_doc->k()) : tr("mean ξ(λ) at k = %1").arg(m_doc->k()),
                                    tr("correlation"), curves, &m_yLow, &m_yHigh);
    if (rec)
        addLambdaMarker(chart, LambdaMarker::Recommended, rec->relativeLambda, m_yLow, m_yHigh);
    if (auto a = m_doc->accepted())
        addLambdaMarker(chart, LambdaMarker::Accepted, a->relativeLambda, m_yLow, m_yHigh);
    if (lds && best >= 0)
        addLambdaMarker(chart, LambdaMarker::BestLds, lds->relativeLambdas[static_cast<size_t>(best)], m_yLow,
                        m_yHigh);
    m_currentMarker = addLambdaMarker(chart, LambdaMarker::Current, m_doc->relativeLambda(), m_yLow, m_yHigh);
    for (QAbstractAxis* axis : chart->axes(Qt::Horizontal))
        axis->setLabelsAngle(-60); // a decade a label, in a narrow panel
    QChart* old = m_chartView->chart();
    m_chartView->setChart(chart);
    delete old;
    updateCurrentMarker();
}

void SensitivityPage::updateCurrentMarker()
{
    m_heatmap->setSelection(m_doc->relativeLambda(), m_doc->k());
    if (!m_currentMarker)
        return;
    const double rel = m_doc->relativeLambda();
    moveLambdaMarker(m_currentMarker, rel, m_yLow, m_yHigh);
}

QString SensitivityPage::chartHint() const
{
    return m_chartHint->isHidden() ? QString() : m_chartHint->text();
}

QStringList SensitivityPage::seriesNames() const
{
    QStringList out;
    for (auto* s : m_chartView->chart()->series())
        out << s->name();
    return out;
}

QList<Figure> SensitivityPage::figures() const
{
    auto* heatmap = m_heatmap;
    return {
        {QStringLiteral("heatmap"), [heatmap](QPainter& p, const QRectF& r) { heatmap->paintFigure(p, r); }},
        chartFigure(QStringLiteral("lds-xi-curves"), m_chartView)};
}

} // namespace attri::ui
