#pragma once

#include <QColor>
#include <QElapsedTimer>
#include <QImage>
#include <QVector>
#include <QWidget>

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

    QSize sizeHint() const override { return {520, 260}; }
    QSize minimumSizeHint() const override { return {200, 120}; }

Q_SIGNALS:
    /// Emitted at the end of every paint (the Explore page measures change → repaint with it).
    void painted();

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    QString m_title;
    QColor m_accent;
    QVector<Tile> m_tiles;
};

} // namespace attri::ui
