#include "real_window_test.h"

#include "experiment_document.h"
#include "experiment_factory.h"
#include "explore_page.h"
#include "figure_export.h"
#include "main_window.h"
#include "test_image_model.h"
#include "tile_grid_widget.h"

#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "store/h5_file.h"
#include "workflows/attribute.h"

#include <QGuiApplication>
#include <QImage>
#include <QListView>
#include <QPushButton>
#include <QSignalSpy>
#include <QSlider>
#include <QTest>

#include <cmath>

using namespace attri::ui;

void RealWindowTest::mainFlowWithInputEvents()
{
    if (QGuiApplication::platformName() != QLatin1String("xcb"))
        QSKIP("needs a real X server: run under xvfb-run with QT_QPA_PLATFORM=xcb");
    QVERIFY(m_dir.isValid());
    const QString path = m_dir.filePath(QStringLiteral("real.h5"));
    NewExperiment spec = NewExperiment::demo(path.toStdString(), 500, 40);
    spec.recipe.epochs = 3;
    attri::NullProgress progress;
    attri::CancelToken cancel;
    createTrainedExperiment(spec, progress, cancel);
    attri::AttributionRequest request;
    request.method = "trak";
    request.projection = attri::ProjectionKind::Kronecker;
    request.ks = {32, 64};
    request.sensitivityTests = 10;
    attri::runAttribution(path.toStdString(), request, progress, cancel);

    MainWindow window;
    window.resize(1280, 820);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QSignalSpy shown(&window, &MainWindow::experimentShown);
    window.openExperiment(path);
    QVERIFY(shown.wait(60000));
    ExperimentDocument* doc = window.document();
    QTRY_VERIFY_WITH_TIMEOUT(doc->session() != nullptr, 60000);
    window.showPage(MainWindow::ExploringPage);
    ExplorePage* page = window.explorePage();

    // Pick test image 3 with the mouse.
    QListView* tests = page->testView();
    const QModelIndex third = page->testModel()->index(3, 0);
    tests->scrollTo(third);
    QTest::mouseClick(tests->viewport(), Qt::LeftButton, {}, tests->visualRect(third).center());
    QTRY_COMPARE(doc->selectedTest(), 3);
    QTRY_VERIFY(!page->proponents()->tiles().isEmpty());
    const std::vector<float> before = page->shownScores();

    // Move λ with the keyboard: three pages up on the slider (Xvfb runs no window manager to
    // give the window focus, so the key events go to the slider itself).
    QSlider* slider = page->lambdaSlider();
    const double relativeBefore = doc->relativeLambda();
    for (int i = 0; i < 3; ++i)
        QTest::keyClick(slider, Qt::Key_PageUp);
    QTRY_VERIFY(doc->relativeLambda() > relativeBefore * 1.5);
    QTRY_VERIFY(page->shownScores() != before);

    // Accept with a click: the file holds the λ now shown.
    QSignalSpy stored(doc, &ExperimentDocument::acceptedStored);
    QTRY_VERIFY(page->acceptButton()->isEnabled());
    QTest::mouseClick(page->acceptButton(), Qt::LeftButton);
    QVERIFY(stored.wait(30000));
    {
        attri::H5File file(path.toStdString(), attri::H5File::Mode::ReadOnly);
        const double accepted = file.attrDouble("/attribution/trak/accepted", "relative_lambda");
        QVERIFY2(std::abs(accepted / doc->relativeLambda() - 1) < 1e-9, qPrintable(QString::number(accepted)));
        QCOMPARE(file.attrInt("/attribution/trak/accepted", "k"), int64_t{64});
    }

    // Export the page's first figure (the tiles), as File → Export does, and check it has content.
    const QList<Figure> figures = window.currentFigures();
    QVERIFY(!figures.isEmpty());
    const QString png = m_dir.filePath(QStringLiteral("tiles.png"));
    QCOMPARE(exportFigure(figures.first(), png, ExportOptions{{80.0, 50.0}, 150}), QString());
    const QImage image(png);
    QVERIFY(!image.isNull());
    int dark = 0;
    for (int y = 0; y < image.height(); y += 4)
        for (int x = 0; x < image.width(); x += 4)
            dark += qGray(image.pixel(x, y)) < 128;
    QVERIFY2(dark > 50, "the exported figure is blank");
    // And the real window itself paints.
    QVERIFY(!window.grab().isNull());
}
