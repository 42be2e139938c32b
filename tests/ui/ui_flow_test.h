#pragma once

#include <QObject>
#include <QTemporaryDir>

/// The real flow on the demo with small settings: train LR (core API) → attribute (Kronecker,
/// k 64 and 128) → open in the app → select a test image → move the λ slider → tiles change →
/// heatmap click → recommend → accept (the file holds it; undo removes it) → ground truth → the
/// recommendation's LDS evidence → export → screenshots.
class UiFlowTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void modelsPassTheModelTester();
    void dataPageListsCheckpointsAndBuildsDatasetSpecs();
    void exploreUpdatesTilesWithTheSlider();
    void kComboAndUndo();
    void heatmapClickDrivesTheDocument();
    void recommendAndAcceptStoreTheLambda();
    void sensitivityShowsTheTopKOverlapOfTheSelectedImage();
    void meanXiTableFromTheSensitivityPage();
    void groundTruthThenRecommendShowsTheEvidence();
    void acceptDuringAnAttributionKeepsBoth();
    void unrolledMethodExploresWithoutLambda();
    void exploreRetrainsWithoutTheProponents();
    void everyFigureExports();
    void attributeFormValidatesAndCancelLeavesTheFileIntact();
    void classroomModeGuidesTheFlow();
    void aDamagedFileIsReportedAndRepaired();
    void screenshotsRenderEveryPage();
    void sliderBenchmarkOnAFullExperiment();
    void cleanupTestCase();

private:
    QTemporaryDir m_dir;
    QString m_path;
    class Fixture;
    Fixture* m_fixture = nullptr;
};
