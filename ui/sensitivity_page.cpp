#include "sensitivity_page.h"

#include "app_settings.h"
#include "experiment_document.h"
#include "heatmap_widget.h"

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

#include <cmath>
#include <limits>

namespace attri::ui {

namespace {
QString describeQuantity(const QString& q)
{
    if (q == QLatin1String("lds"))
        return QObject::tr("LDS (ground truth)");
    if (q == QLatin1String("spearman_next_lambda"))
        return QObject::tr("rank stability: Spearman with the next λ");
    if (q == QLatin1String("jaccard_next_lambda"))
        return QObject::tr("top-k Jaccard with the next λ");
    if (q == QLatin1String("spearman_next_k"))
        return QObject::tr("rank stability: Spearman with the next k");
    if (q == QLatin1String("jaccard_next_k"))
        return QObject::tr("top-k Jaccard with the next k");
    if (q == QLatin1String("mean_xi"))
        return QObject::tr("mean ξ (simulated-sgd indicator, no retraining)");
    return q;
}
} // namespace

SensitivityPage::SensitivityPage(ExperimentDocument* document, QWidget* parent)
    : QWidget(parent), m_doc(document), m_quantity(new QComboBox(this)), m_colormap(new QComboBox(this)),
      m_note(new QLabel(this)), m_heatmap(new HeatmapWidget(this)), m_chartView(new QChartView(this)),
      m_computeXi(new QPushButton(tr("Compute mean ξ at every k"), this))
{
    m_computeXi->setToolTip(tr("The simulated-sgd indicator ξ̄(λ) at every stored k, as a λ × k table: "
                               "seconds per k, no retraining (docs/lambda-selection.md)"));
    m_colormap->addItems(Colormap::names());
    m_colormap->setCurrentText(settings::heatmapColormap.get());
    m_heatmap->setColormap(m_colormap->currentText());
    m_note->setWordWrap(true);
    m_chartView->setRenderHint(QPainter::Antialiasing);
    m_chartView->setMinimumSize(320, 240);
    auto* chart = new QChart;
    chart->setTitle(tr("LDS(λ) and ξ(λ)"));
    m_chartView->setChart(chart);

    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Quantity"), this));
    controls->addWidget(m_quantity, 1);
    controls->addWidget(new QLabel(tr("Colormap"), this));
    controls->addWidget(m_colormap);
    controls->addWidget(m_computeXi);
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(m_heatmap);
    split->addWidget(m_chartView);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    m_chartView->setMinimumWidth(420);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(split, 1);
    layout->addWidget(m_note);

    connect(m_doc, &ExperimentDocument::contentChanged, this, &SensitivityPage::onContentChanged);
    connect(m_doc, &ExperimentDocument::methodChanged, this, &SensitivityPage::onContentChanged);
    connect(m_doc, &ExperimentDocument::recommendationChanged, this, &SensitivityPage::rebuildChart);
    connect(m_doc, &ExperimentDocument::kChanged, this, &SensitivityPage::rebuildChart);
    connect(m_doc, &ExperimentDocument::lambdaChanged, this, &SensitivityPage::updateCurrentMarker);
    connect(m_doc, &ExperimentDocument::sessionChanged, this, &SensitivityPage::updateCurrentMarker);
    connect(m_quantity, &QComboBox::currentIndexChanged, this, &SensitivityPage::showTable);
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
    const QString previous = m_quantity->currentData().toString();
    {
        QSignalBlocker block(m_quantity);
        m_quantity->clear();
        if (auto content = m_doc->content())
            for (const SweepTable* t : content->sweepsFor(m_doc->method().toStdString())) {
                const QString q = QString::fromStdString(t->quantity);
                m_quantity->addItem(describeQuantity(q), q);
            }
        m_computeXi->setEnabled(m_doc->isOpen() && m_quantity->count() > 0);
        int index = m_quantity->findData(previous);
        if (index < 0)
            index = m_quantity->findData(QStringLiteral("lds"));
        if (index < 0)
            index = m_quantity->findData(QStringLiteral("spearman_next_lambda"));
        m_quantity->setCurrentIndex(std::max(0, index));
    }
    showTable();
    rebuildChart();
}

void SensitivityPage::showTable()
{
    auto content = m_doc->content();
    const SweepTable* t = content ? content->sweep(m_doc->method().toStdString(),
                                                   m_quantity->currentData().toString().toStdString())
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
    m_heatmap->setData(std::move(d));
    m_heatmap->setSelection(m_doc->relativeLambda(), m_doc->k());
    m_note->setText(
        tr("Click a cell to explore that λ and k. Hatched cells are undefined.%1")
            .arg(content->hasGroundTruth ? QString() : tr(" LDS needs ground truth (Recommend page).")));
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
    auto* chart = new QChart;
    chart->setTitle(tr("LDS(λ) and mean ξ(λ) at k = %1").arg(m_doc->k()));
    chart->legend()->setAlignment(Qt::AlignBottom);
    auto* x = new QLogValueAxis;
    x->setBase(10);
    x->setLabelFormat(QStringLiteral("%.0e"));
    x->setLabelsAngle(-60);
    x->setMinorTickCount(-1);
    x->setMinorGridLineVisible(false);
    x->setTitleText(tr("relative λ (c = λ / mean eigenvalue)"));
    auto* y = new QValueAxis;
    y->setTitleText(tr("correlation"));
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    double xLow = 1e-6, xHigh = 1e2;
    double yLow = std::numeric_limits<double>::infinity(), yHigh = -yLow;
    auto addCurve = [&](const QString& name, const std::vector<double>& xs, const std::vector<double>& ys,
                        QColor color) {
        auto* s = new QLineSeries;
        s->setName(name);
        s->setPen(QPen(color, 2.5));
        s->setPointsVisible(true);
        for (size_t i = 0; i < xs.size() && i < ys.size(); ++i)
            if (xs[i] > 0 && std::isfinite(ys[i])) {
                s->append(xs[i], ys[i]);
                yLow = std::min(yLow, ys[i]);
                yHigh = std::max(yHigh, ys[i]);
                xLow = std::min(xLow, xs[i]);
                xHigh = std::max(xHigh, xs[i]);
            }
        chart->addSeries(s);
        s->attachAxis(x);
        s->attachAxis(y);
    };
    double bestRel = std::nan(""), recRel = std::nan("");
    auto content = m_doc->content();
    const std::string method = m_doc->method().toStdString();
    if (const SweepTable* lds = content ? content->sweep(method, "lds") : nullptr) {
        for (size_t c = 0; c < lds->ks.size(); ++c)
            if (lds->ks[c] == m_doc->k() || lds->ks.size() == 1) {
                std::vector<double> ys(lds->relativeLambdas.size());
                double best = -2;
                for (size_t r = 0; r < ys.size(); ++r) {
                    ys[r] = lds->values(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c));
                    if (std::isfinite(ys[r]) && ys[r] > best) {
                        best = ys[r];
                        bestRel = lds->relativeLambdas[r];
                    }
                }
                addCurve(tr("LDS"), lds->relativeLambdas, ys, QColor(0x00, 0x72, 0xB2));
                break;
            }
    }
    if (auto rec = m_doc->recommendation()) {
        recRel = rec->relativeLambda;
        if (!rec->meanXi.empty() && rec->lambda > 0) {
            const double unit = rec->lambda / rec->relativeLambda; // mean eigenvalue at that k
            std::vector<double> xs;
            for (double l : rec->lambdas)
                xs.push_back(l / unit);
            addCurve(tr("mean ξ (%1)").arg(QString::fromStdString(rec->rule)), xs, rec->meanXi,
                     QColor(0x00, 0x9E, 0x73));
        }
    }
    if (!std::isfinite(yLow)) {
        yLow = -1;
        yHigh = 1;
        chart->setTitle(tr("No LDS table or ξ curve yet: compute ground truth or run Recommend"));
    }
    const double pad = std::max(0.02, 0.08 * (yHigh - yLow));
    m_yLow = yLow - pad;
    m_yHigh = yHigh + pad;
    x->setRange(xLow, xHigh);
    y->setRange(m_yLow, m_yHigh);
    auto addMarker = [&](const QString& name, double rel, QColor color, Qt::PenStyle style) {
        auto* s = new QLineSeries;
        s->setName(name);
        s->setPen(QPen(color, 2, style));
        if (rel > 0 && std::isfinite(rel)) {
            s->append(rel, m_yLow);
            s->append(rel, m_yHigh);
        }
        chart->addSeries(s);
        s->attachAxis(x);
        s->attachAxis(y);
        return s;
    };
    if (std::isfinite(recRel))
        addMarker(tr("recommended"), recRel, QColor(0x00, 0x9E, 0x73), Qt::DashLine);
    if (std::isfinite(bestRel))
        addMarker(tr("best LDS"), bestRel, QColor(0x00, 0x72, 0xB2), Qt::DotLine);
    m_currentMarker =
        addMarker(tr("current"), m_doc->relativeLambda(), QColor(0xD5, 0x5E, 0x00), Qt::SolidLine);
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
    m_currentMarker->replace(QList<QPointF>{QPointF(rel, m_yLow), QPointF(rel, m_yHigh)});
    m_currentMarker->setName(tr("current (c = %1)").arg(rel, 0, 'g', 3));
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
