#include "widgets_test.h"

#include "colormap.h"
#include "experiment_factory.h"
#include "explore_page.h"
#include "figure_export.h"
#include "heatmap_widget.h"
#include "image_util.h"
#include "tile_grid_widget.h"

#include "data/image_set.h"

#include <QFile>
#include <QFileInfo>
#include <QImage>
#include <QPainter>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

using namespace attri::ui;

namespace {
HeatmapData smallTable()
{
    HeatmapData d;
    d.title = QStringLiteral("test");
    d.relativeLambdas = {1e-3, 1e-2, 1e-1};
    d.ks = {64, 128};
    d.values.resize(3, 2);
    d.values << 0.1, 0.2, 0.3, std::nan(""), 0.5, 0.6;
    d.absoluteLambdas = d.values.unaryExpr([](double) { return 1.0; });
    return d;
}
} // namespace

void WidgetsTest::colormapsAreOrderedAndSafe()
{
    for (const QString& name : Colormap::names()) {
        Colormap map(name);
        QCOMPARE(map.name(), name);
        // Luminance increases monotonically along both maps (what makes them readable in grey).
        double previous = -1;
        for (int i = 0; i <= 20; ++i) {
            const QColor c = map.at(i / 20.0);
            const double l = 0.2126 * c.redF() + 0.7152 * c.greenF() + 0.0722 * c.blueF();
            QVERIFY2(l >= previous - 0.02, qPrintable(QStringLiteral("%1 at %2").arg(name).arg(i)));
            previous = l;
        }
        QCOMPARE(map.at(-1), map.at(0));
        QCOMPARE(map.at(2), map.at(1));
    }
    QCOMPARE(Colormap(QStringLiteral("jet")).name(), QStringLiteral("viridis"));
}

void WidgetsTest::heatmapMapsCellsAndClicks()
{
    HeatmapWidget w;
    w.resize(500, 400);
    w.setData(smallTable());
    w.show();
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 2; ++c) {
            auto cell = w.cellAt(w.cellRect(r, c).center());
            QVERIFY(cell);
            QCOMPARE(cell->first, r);
            QCOMPARE(cell->second, c);
        }
    QVERIFY(!w.cellAt(QPointF(2, 2)));
    // Row 0 (smallest λ) is drawn at the bottom.
    QVERIFY(w.cellRect(0, 0).top() > w.cellRect(2, 0).top());
    QSignalSpy clicked(&w, &HeatmapWidget::cellClicked);
    QTest::mouseClick(&w, Qt::LeftButton, {}, w.cellRect(2, 1).center().toPoint());
    QCOMPARE(clicked.count(), 1);
    QCOMPARE(clicked.at(0).at(0).toInt(), 2);
    QCOMPARE(clicked.at(0).at(1).toInt(), 1);
    w.setSelection(0.012, 64);
    QVERIFY(w.selectedCell());
    QCOMPARE(w.selectedCell()->first, 1);
    QCOMPARE(w.selectedCell()->second, 0);
}

void WidgetsTest::heatmapTooltipShowsTheValue()
{
    HeatmapWidget w;
    w.setData(smallTable());
    QVERIFY(w.cellText(2, 1).contains(QStringLiteral("0.6000")));
    QVERIFY(w.cellText(2, 1).contains(QStringLiteral("k = 128")));
    QVERIFY(w.cellText(1, 1).contains(QStringLiteral("undefined")));
}

void WidgetsTest::exportWritesEveryFormat()
{
    QTemporaryDir dir;
    HeatmapWidget heatmap;
    heatmap.setData(smallTable());
    TileGridWidget tiles(QStringLiteral("tiles"), Qt::blue);
    QImage img(28, 28, QImage::Format_Grayscale8);
    img.fill(128);
    tiles.setTiles(
        {Tile{img, 1, 0.5f, QStringLiteral("shirt")}, Tile{img, 2, -0.25f, QStringLiteral("bag")}});
    const QList<Figure> figures = {
        {QStringLiteral("heatmap"), [&](QPainter& p, const QRectF& r) { heatmap.paintFigure(p, r); }},
        {QStringLiteral("tiles"), [&](QPainter& p, const QRectF& r) { tiles.paintFigure(p, r); }}};
    for (const Figure& f : figures)
        for (const QString& ext : {QStringLiteral("png"), QStringLiteral("svg"), QStringLiteral("pdf")}) {
            const QString path = dir.filePath(f.name + QLatin1Char('.') + ext);
            const QString error = exportFigure(f, path, {QSizeF(80, 50), 200});
            QVERIFY2(error.isEmpty(), qPrintable(error));
            QVERIFY(QFileInfo(path).size() > 100);
        }
    QImage png(dir.filePath(QStringLiteral("heatmap.png")));
    QCOMPARE(png.width(), qRound(80 / 25.4 * 200));
    QVERIFY(std::abs(png.dotsPerMeterX() - 200 / 0.0254) < 2);
}

void WidgetsTest::exportRejectsUnknownFormats()
{
    QTemporaryDir dir;
    Figure f{QStringLiteral("x"), [](QPainter&, const QRectF&) {}};
    QVERIFY(!exportFigure(f, dir.filePath(QStringLiteral("x.bmpx")), {}).isEmpty());
    QVERIFY(!exportFigure(f, dir.filePath(QStringLiteral("x.png")), {QSizeF(0, 10), 300}).isEmpty());

    // A symbolic link at the export path is refused and its target left alone.
    const QString victim = dir.filePath(QStringLiteral("victim.txt"));
    {
        QFile v(victim);
        QVERIFY(v.open(QIODevice::WriteOnly));
        v.write("keep me");
    }
    const QString link = dir.filePath(QStringLiteral("figure.svg"));
    QVERIFY(QFile::link(victim, link));
    const QString error = exportFigure(f, link, {QSizeF(80, 50), 200});
    QVERIFY2(error.contains(QStringLiteral("symbolic link")), qPrintable(error));
    QFile v(victim);
    QVERIFY(v.open(QIODevice::ReadOnly));
    QCOMPARE(v.readAll(), QByteArray("keep me"));
}

void WidgetsTest::sliderMapsLogLambda()
{
    for (double c : {1e-6, 1e-3, 0.1, 1.0, 100.0})
        QVERIFY(std::abs(ExplorePage::relativeLambdaFor(ExplorePage::sliderValueFor(c)) / c - 1) < 1e-9);
    QCOMPARE(ExplorePage::sliderValueFor(10.0), ExplorePage::kStepsPerDecade);
}

void WidgetsTest::tilesAreLargeAndSayWhichImageTheyAre()
{
    // Six tiles in the Explore panel's size at the default window (about 780 × 210 px): one
    // row of tiles of at least 96 px, and each tile names its training image on hover.
    TileGridWidget grid(QStringLiteral("Top proponents"), Qt::blue);
    grid.resize(780, 210);
    QVector<Tile> tiles;
    for (int i = 0; i < 6; ++i) {
        QImage image(28, 28, QImage::Format_Grayscale8);
        image.fill(i * 40);
        tiles.append(Tile{image, 100 + i, 0.01f / (i + 1), QStringLiteral("Sneaker")});
    }
    grid.setTiles(tiles);
    const QVector<QRectF> rects = grid.tileRects(QRectF(grid.rect()));
    QCOMPARE(rects.size(), 6);
    for (const QRectF& r : rects) {
        QVERIFY2(r.width() >= 96, qPrintable(QString::number(r.width())));
        QVERIFY(QRectF(grid.rect()).contains(r));
    }
    const QString tip = grid.tileToolTip(rects[2].center().toPoint());
    QVERIFY2(tip.contains(QStringLiteral("training image 102")) && tip.contains(QStringLiteral("Sneaker")),
             qPrintable(tip));
    QVERIFY(grid.tileToolTip(QPoint(2, 2)).isEmpty());
}

void WidgetsTest::imagesAreUnnormalized()
{
    attri::ImageSet set;
    set.count = 1;
    set.channels = 1;
    set.height = 1;
    set.width = 3;
    // Normalized with mean 0.5, std 0.25: raw values 0, 0.5 and 1.5 (clamped to 1).
    set.images = {-2.0f, 0.0f, 4.0f};
    set.labels = {0};
    const QImage img = toQImage(set, 0, {0.5f}, {0.25f});
    QCOMPARE(img.width(), 3);
    QCOMPARE(qGray(img.pixel(0, 0)), 0);
    QCOMPARE(qGray(img.pixel(1, 0)), 128);
    QCOMPARE(qGray(img.pixel(2, 0)), 255);
    QVERIFY(toQImage(set, 5, {}, {}).isNull());
}
