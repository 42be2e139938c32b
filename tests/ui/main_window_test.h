#pragma once

#include <QObject>

class MainWindowTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void jobRunnerDeliversResult();
    void jobRunnerDeliversTypedMetrics();
    void jobRunnerCancelsWithinASecond();
    void jobRunnerReportsErrors();
    void jobRunnerDropsSupersededPreviews();
    void jobRunnerStoresInOrder();
    void demoTrainsAttributesAndShowsTheExperiment();
    void openingAForeignFileShowsAnError();
    void openingAMissingFileShowsAnError();
};
