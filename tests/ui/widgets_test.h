#pragma once

#include <QObject>

class WidgetsTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void colormapsAreOrderedAndSafe();
    void heatmapMapsCellsAndClicks();
    void heatmapTooltipShowsTheValue();
    void exportWritesEveryFormat();
    void exportRejectsUnknownFormats();
    void sliderMapsLogLambda();
    void imagesAreUnnormalized();
    void tilesAreLargeAndSayWhichImageTheyAre();
};
