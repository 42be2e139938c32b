#pragma once

#include <QColor>
#include <QElapsedTimer>
#include <QFont>
#include <QImage>
#include <QVector>
#include <QWidget>

#include <limits>

class QFontMetricsF;

namespace attri::ui {

/// One training point shown as a tile.
struct Tile {
    QImage image;
    qint64 index = 0; ///< training index
    float score = 0;  ///< attribution score
    QString label;    ///< class name
};

/// A grid of image tiles (rank, score, label), e.g. a test point's top proponents. Painting is
/// a function of a target rectangle so export draws the same figure at any size.
class TileGridWidget : public QWidget {
    Q_OBJECT
public:
    explicit TileGridWidget(const QString& title, QColor accent, QWidget* parent = nullptr);

    void setTiles(QVector<Tile> tiles);
    const QVector<Tile>& tiles() const { return m_tiles; }
    void setTitle(const QString& title);
    QString title() const { return m_title; }

    void paintFigure(QPainter& painter, const QRectF& area) const;
    /// Where each tile's image is drawn inside `area` (the layout paintFigure uses).
    QVector<QRectF> tileRects(const QRectF& area) const;
    /// The tooltip of the tile at `pos` (empty when there is none there).
    QString tileToolTip(const QPoint& pos) const;

    /// Tiles whose caption (score or label) does not fit under the tile at the current size, even
    /// in its shortest form.
    int clippedCaptions() const;

    /// The smallest tile side the layout asks room for (a row of tiles at least this large).
    static constexpr double kMinTileSide = 96;

    QSize sizeHint() const override { return {520, 260}; }
    QSize minimumSizeHint() const override;

Q_SIGNALS:
    /// Emitted at the end of every paint (the Explore page measures change → repaint with it).
    void painted();

protected:
    void paintEvent(QPaintEvent* event) override;
    bool event(QEvent* event) override;

private:
    QFont captionFont() const;
    /// Tile i's score line: the longest form that fits `width`.
    QString scoreCaption(int i, const QFontMetricsF& metrics, double width) const;

    QString m_title;
    QColor m_accent;
    QVector<Tile> m_tiles;
};

/// Two horizontal bars from a zero line: how much a test image's loss rose when the model was
/// retrained without its top proponents, and without as many random training images.
class LossChangeBars : public QWidget {
public:
    explicit LossChangeBars(QWidget* parent = nullptr);
    /// NaN hides the bars.
    void setChanges(double withoutProponents, double withoutRandom, int count);
    QSize sizeHint() const override { return {360, 52}; }

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    double m_proponents = std::numeric_limits<double>::quiet_NaN();
    double m_random = std::numeric_limits<double>::quiet_NaN();
    int m_count = 0;
};

} // namespace attri::ui
