#include "lambda_chart.h"

#include "experiment_content.h"

#include <QChart>
#include <QLegend>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QPen>
#include <QValueAxis>

#include <algorithm>
#include <cmath>
#include <limits>

namespace attri::ui {

LambdaMarkerStyle lambdaMarkerStyle(LambdaMarker kind)
{
    switch (kind) {
    case LambdaMarker::Recommended:
        return {QObject::tr("recommended"), QColor(0x00, 0x9E, 0x73), Qt::DashLine};
    case LambdaMarker::Accepted:
        return {QObject::tr("accepted"), QColor(0xCC, 0x79, 0xA7), Qt::DashDotLine};
    case LambdaMarker::BestLds:
        return {QObject::tr("best LDS"), QColor(0x00, 0x72, 0xB2), Qt::DotLine};
    case LambdaMarker::Current:
        return {QObject::tr("current"), QColor(0xD5, 0x5E, 0x00), Qt::SolidLine};
    }
    return {};
}

std::optional<LambdaCurve> ldsCurve(const ExperimentContent& content, const std::string& method, int64_t k, int* best)
{
    if (best)
        *best = -1;
    const SweepTable* lds = content.sweep(method, "lds");
    if (!lds)
        return std::nullopt;
    for (size_t c = 0; c < lds->ks.size(); ++c) {
        if (lds->ks[c] != k && lds->ks.size() != 1)
            continue;
        LambdaCurve curve{QObject::tr("LDS"), lds->relativeLambdas, {}, QColor(0x00, 0x72, 0xB2)};
        curve.values.resize(lds->relativeLambdas.size());
        double top = -std::numeric_limits<double>::infinity();
        for (size_t r = 0; r < curve.values.size(); ++r) {
            const double v = lds->values(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c));
            curve.values[r] = v;
            if (std::isfinite(v) && v > top) {
                top = v;
                if (best)
                    *best = static_cast<int>(r);
            }
        }
        return curve;
    }
    return std::nullopt;
}

std::optional<LambdaCurve> ruleCurve(const RecommendationRecord& rec)
{
    if (rec.meanXi.empty() || !(rec.relativeLambda > 0) || !(rec.lambda > 0))
        return std::nullopt;
    const double unit = rec.lambda / rec.relativeLambda; // the mean eigenvalue at the record's k
    LambdaCurve curve{rec.rule == "simulated-sgd" ? QObject::tr("mean ξ") : QObject::tr("mean cosine with the unrolled path"),
                      {}, rec.meanXi, QColor(0x00, 0x9E, 0x73)};
    for (double l : rec.lambdas)
        curve.relativeLambdas.push_back(l / unit);
    return curve;
}

QChart* makeLambdaChart(const QString& title, const QString& yTitle, const std::vector<LambdaCurve>& curves,
                        double* yLow, double* yHigh)
{
    auto* chart = new QChart;
    chart->setTitle(title);
    chart->legend()->setAlignment(Qt::AlignBottom);
    auto* x = new QLogValueAxis;
    x->setBase(10);
    x->setLabelFormat(QStringLiteral("%.0e"));
    x->setMinorTickCount(-1);
    x->setMinorGridLineVisible(false);
    x->setTitleText(QObject::tr("relative λ (λ / mean eigenvalue)"));
    auto* y = new QValueAxis;
    y->setTitleText(yTitle);
    y->setLabelFormat(QStringLiteral("%.2f"));
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    double xLow = std::numeric_limits<double>::infinity(), xHigh = -xLow;
    double low = xLow, high = -xLow;
    for (const LambdaCurve& c : curves) {
        auto* s = new QLineSeries;
        s->setName(c.name);
        s->setPen(QPen(c.color, 2.5));
        s->setPointsVisible(true);
        for (size_t i = 0; i < c.relativeLambdas.size() && i < c.values.size(); ++i)
            if (c.relativeLambdas[i] > 0 && std::isfinite(c.relativeLambdas[i]) && std::isfinite(c.values[i])) {
                s->append(c.relativeLambdas[i], c.values[i]);
                low = std::min(low, c.values[i]);
                high = std::max(high, c.values[i]);
                xLow = std::min(xLow, c.relativeLambdas[i]);
                xHigh = std::max(xHigh, c.relativeLambdas[i]);
            }
        chart->addSeries(s);
        s->attachAxis(x);
        s->attachAxis(y);
    }
    if (!(low <= high)) {
        low = 0;
        high = 1;
        xLow = 1e-6;
        xHigh = 1e2;
    }
    const double pad = std::max(0.01, 0.08 * (high - low));
    x->setRange(xLow, xHigh);
    y->setRange(low - pad, high + pad);
    if (yLow)
        *yLow = low - pad;
    if (yHigh)
        *yHigh = high + pad;
    return chart;
}

QLineSeries* addLambdaMarker(QChart* chart, LambdaMarker kind, double relativeLambda, double yLow, double yHigh)
{
    const LambdaMarkerStyle style = lambdaMarkerStyle(kind);
    auto* s = new QLineSeries;
    s->setName(style.name);
    s->setPen(QPen(style.color, 2, style.style));
    moveLambdaMarker(s, relativeLambda, yLow, yHigh);
    chart->addSeries(s);
    for (QAbstractAxis* axis : chart->axes())
        s->attachAxis(axis);
    return s;
}

void moveLambdaMarker(QLineSeries* marker, double relativeLambda, double yLow, double yHigh)
{
    if (relativeLambda > 0 && std::isfinite(relativeLambda))
        marker->replace(QList<QPointF>{QPointF(relativeLambda, yLow), QPointF(relativeLambda, yHigh)});
    else
        marker->clear();
}

void scaleChartFonts(QChart* chart, double factor)
{
    if (!chart || !(factor > 0) || factor == 1.0)
        return;
    auto scaled = [factor](QFont f) {
        if (f.pointSizeF() > 0)
            f.setPointSizeF(f.pointSizeF() * factor);
        else if (f.pixelSize() > 0)
            f.setPixelSize(std::max(1, static_cast<int>(std::lround(f.pixelSize() * factor))));
        return f;
    };
    chart->setTitleFont(scaled(chart->titleFont()));
    if (QLegend* legend = chart->legend())
        legend->setFont(scaled(legend->font()));
    for (QAbstractAxis* axis : chart->axes()) {
        axis->setLabelsFont(scaled(axis->labelsFont()));
        axis->setTitleFont(scaled(axis->titleFont()));
    }
}

QString formatLambda(double value)
{
    if (!std::isfinite(value))
        return QStringLiteral("–");
    const double a = std::abs(value);
    if (a != 0 && (a < 0.01 || a >= 1000))
        return QString::number(value, 'e', 2);
    return QString::number(value, 'g', 3);
}

} // namespace attri::ui
