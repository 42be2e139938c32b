#pragma once

#include "lambda_chart.h"

#include <QSlider>

#include <map>

namespace attri::ui {

/// The Explore page's log-λ slider, with the recommended λ drawn above its groove and the accepted
/// λ below it, as small triangles in the marker colours every page uses (lambdaMarkerStyle). Positions are
/// relative λ (λ / mean eigenvalue); the slider maps log10 of it to `stepsPerDecade` steps.
class LambdaSlider : public QSlider {
    Q_OBJECT
public:
    LambdaSlider(int stepsPerDecade, QWidget* parent = nullptr);

    /// Draws `kind` at `relativeLambda`; a value that is not positive and finite removes it.
    void setMarker(LambdaMarker kind, double relativeLambda);
    /// The marker's relative λ, or NaN when not shown.
    double marker(LambdaMarker kind) const;
    /// The marker's x in widget coordinates (−1 when not shown or outside the range).
    int markerX(LambdaMarker kind) const;
    /// A legend for the markers shown: coloured triangles with their names and values.
    QString legendHtml() const;

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    int xForValue(int sliderValue) const;

    int m_stepsPerDecade;
    std::map<LambdaMarker, double> m_markers;
};

} // namespace attri::ui
