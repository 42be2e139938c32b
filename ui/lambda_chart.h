#pragma once

#include "store/attribution_store.h"

#include <QColor>
#include <QString>

#include <optional>
#include <string>
#include <vector>

class QChart;
class QLineSeries;

namespace attri::ui {

struct ExperimentContent;

/// A curve over the relative λ grid (λ / mean eigenvalue), e.g. LDS(λ) or mean ξ(λ).
struct LambdaCurve {
    QString name;
    std::vector<double> relativeLambdas;
    std::vector<double> values; ///< NaN where undefined
    QColor color;
};

/// The λ a page marks on a curve. Every page draws each kind the same way (lambdaMarkerStyle).
enum class LambdaMarker { Recommended, Accepted, BestLds, Current };

struct LambdaMarkerStyle {
    QString name;
    QColor color;
    Qt::PenStyle style;
};
LambdaMarkerStyle lambdaMarkerStyle(LambdaMarker kind);

/// The stored LDS(λ) of a method at k (the column of its "lds" sweep table; a table with one
/// column serves every k), or nullopt without ground truth. `best` receives the row of the best
/// finite LDS (−1 when none).
std::optional<LambdaCurve> ldsCurve(const ExperimentContent& content, const std::string& method, int64_t k,
                                    int* best = nullptr);

/// The recommendation's own curve over λ: mean ξ (simulated-sgd) or the mean cosine with the
/// unrolled path (path-match); nullopt for rules without one.
std::optional<LambdaCurve> ruleCurve(const RecommendationRecord& rec);

/// A log-λ chart of `curves` with vertical markers. The y range covers the curves with a margin;
/// `yLow`/`yHigh` receive it (for markers moved later, see moveMarker).
QChart* makeLambdaChart(const QString& title, const QString& yTitle, const std::vector<LambdaCurve>& curves,
                        double* yLow = nullptr, double* yHigh = nullptr);
/// Adds a vertical marker at `relativeLambda` (nothing drawn where it is not positive and finite).
QLineSeries* addLambdaMarker(QChart* chart, LambdaMarker kind, double relativeLambda, double yLow, double yHigh);
/// Moves a marker made by addLambdaMarker.
void moveLambdaMarker(QLineSeries* marker, double relativeLambda, double yLow, double yHigh);

/// Multiplies every font of `chart` (title, legend, axis labels and titles) by `factor`.
void scaleChartFonts(QChart* chart, double factor);

/// One number format for λ on every page: 3 significant digits, scientific outside [0.01, 1000).
QString formatLambda(double value);

} // namespace attri::ui
