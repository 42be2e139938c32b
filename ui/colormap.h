#pragma once

#include <QColor>
#include <QString>
#include <QStringList>

namespace attri::ui {

/// Perceptually uniform, colour-blind-safe colormaps for heatmaps.
class Colormap {
public:
    /// "viridis" (default) or "cividis"; unknown names give viridis.
    explicit Colormap(const QString& name = QStringLiteral("viridis"));
    static QStringList names() { return {QStringLiteral("viridis"), QStringLiteral("cividis")}; }
    QString name() const { return m_name; }
    /// t in [0,1] (clamped).
    QColor at(double t) const;
    /// Black or white, whichever reads better on top of at(t).
    QColor textOn(double t) const;

private:
    QString m_name;
};

} // namespace attri::ui
