#include "main_window_test.h"

#include "experiment_document.h"
#include "job_runner.h"
#include "main_window.h"

#include "common/error.h"
#include "jobs/progress_sink.h"

#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <chrono>
#include <thread>

using attri::ui::JobLane;
using attri::ui::JobRunner;
using attri::ui::MainWindow;

void MainWindowTest::initTestCase()
{
    qputenv("ATTRI_NO_DIALOGS", "1");
}

void MainWindowTest::jobRunnerDeliversResult()
{
    JobRunner runner;
    QSignalSpy finished(&runner, &JobRunner::finished);
    QSignalSpy progress(&runner, &JobRunner::progress);
    int viaCallback = 0;
    runner.start(
        QStringLiteral("sum"),
        [](attri::ProgressSink& p, const attri::CancelToken&) {
            p.begin("sum", 3);
            int s = 0;
            for (int i = 1; i <= 3; ++i) {
                s += i;
                p.advance(i);
            }
            return s;
        },
        JobLane::Task, &runner, [&](const int& r) { viaCallback = r; });
    QVERIFY(finished.wait(5000));
    QCOMPARE(finished.at(0).at(0).toString(), QStringLiteral("sum"));
    QCOMPARE(viaCallback, 6);
    QVERIFY(progress.count() >= 1);
    QVERIFY(!runner.isRunning());
}

void MainWindowTest::jobRunnerDeliversTypedMetrics()
{
    JobRunner runner;
    QSignalSpy metric(&runner, &JobRunner::metric);
    QSignalSpy finished(&runner, &JobRunner::finished);
    runner.start(QStringLiteral("train"), [](attri::ProgressSink& p, const attri::CancelToken&) {
        p.message("words that no chart reads");
        for (int e = 1; e <= 3; ++e)
            p.metric({"train_loss", e, 3, 1.0 / e});
    });
    QVERIFY(finished.wait(5000));
    QTRY_COMPARE(metric.count(), 3);
    for (int e = 1; e <= 3; ++e) {
        QCOMPARE(metric.at(e - 1).at(0).toString(), QStringLiteral("train_loss"));
        QCOMPARE(metric.at(e - 1).at(1).toLongLong(), qint64(e));
        QCOMPARE(metric.at(e - 1).at(2).toLongLong(), qint64(3));
        QCOMPARE(metric.at(e - 1).at(3).toDouble(), 1.0 / e);
    }
}

void MainWindowTest::jobRunnerCancelsWithinASecond()
{
    JobRunner runner;
    QSignalSpy cancelled(&runner, &JobRunner::cancelled);
    runner.start(QStringLiteral("spin"), [](attri::ProgressSink&, const attri::CancelToken& token) {
        for (;;) {
            token.throwIfCancelled();
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });
    QTest::qWait(50);
    auto t0 = std::chrono::steady_clock::now();
    runner.cancel();
    QVERIFY(cancelled.wait(1000));
    QVERIFY(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
}

void MainWindowTest::jobRunnerReportsErrors()
{
    JobRunner runner;
    QSignalSpy failed(&runner, &JobRunner::failed);
    QString viaCallback;
    runner.start(
        QStringLiteral("bad"),
        [](attri::ProgressSink&, const attri::CancelToken&) -> void {
            throw attri::FormatError("x.h5: broken");
        },
        JobLane::Task, nullptr, {}, [&](const QString& e) { viaCallback = e; });
    QVERIFY(failed.wait(5000));
    QCOMPARE(failed.at(0).at(1).toString(), QStringLiteral("x.h5: broken"));
    QCOMPARE(viaCallback, QStringLiteral("x.h5: broken"));
}

void MainWindowTest::jobRunnerDropsSupersededPreviews()
{
    JobRunner runner;
    QList<int> delivered;
    for (int i = 0; i < 5; ++i)
        runner.start(
            QStringLiteral("preview"),
            [i](attri::ProgressSink&, const attri::CancelToken&) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                return i;
            },
            JobLane::Preview, &runner, [&](const int& r) { delivered << r; });
    QSignalSpy idle(&runner, &JobRunner::idle);
    QTRY_VERIFY_WITH_TIMEOUT(!runner.isBusy(JobLane::Preview), 5000);
    QCOMPARE(delivered, QList<int>{4}); // only the latest preview counts
}

void MainWindowTest::jobRunnerStoresInOrder()
{
    JobRunner runner;
    QList<int> order;
    for (int i = 0; i < 4; ++i)
        runner.start(
            QStringLiteral("store"),
            [i](attri::ProgressSink&, const attri::CancelToken&) {
                std::this_thread::sleep_for(std::chrono::milliseconds(i == 0 ? 40 : 1));
                return i;
            },
            JobLane::Store, &runner, [&](const int& r) { order << r; });
    runner.cancel(); // never cancels writes
    QTRY_VERIFY_WITH_TIMEOUT(!runner.isBusy(JobLane::Store), 5000);
    QCOMPARE(order, (QList<int>{0, 1, 2, 3}));
}

void MainWindowTest::demoTrainsAttributesAndShowsTheExperiment()
{
    QTemporaryDir dir;
    MainWindow window;
    window.show();
    QSignalSpy shown(&window, &MainWindow::experimentShown);
    QString path = dir.filePath(QStringLiteral("demo.h5"));
    attri::DemoOptions options;
    options.trainSize = 300;
    options.testSize = 30;
    options.ks = {32};
    options.sensitivityTests = 10;
    window.runDemo(path, options);
    QVERIFY(window.jobRunner()->isRunning());
    QVERIFY(shown.wait(120000));
    QVERIFY(QFile::exists(path));
    QVERIFY2(window.summaryText().contains(QStringLiteral("lr")), qPrintable(window.summaryText()));
    QCOMPARE(window.currentPage(), MainWindow::ExploringPage);
    QVERIFY(window.document()->methods().contains(QStringLiteral("trak")));
    // The demo recommends λ as the CLI demo does, and the slider starts there.
    QVERIFY(window.document()->recommendation().has_value());
}

void MainWindowTest::openingAForeignFileShowsAnError()
{
    QTemporaryDir dir;
    QString path = dir.filePath(QStringLiteral("not-hdf5.h5"));
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("definitely not an HDF5 file");
    f.close();
    MainWindow window;
    QSignalSpy shown(&window, &MainWindow::experimentShown);
    QSignalSpy failed(window.document(), &attri::ui::ExperimentDocument::openFailed);
    window.openExperiment(path);
    QVERIFY(failed.wait(10000));
    QCOMPARE(shown.count(), 0);
    QVERIFY2(window.statusText().contains(QStringLiteral("not-hdf5.h5")), qPrintable(window.statusText()));
    QVERIFY(!window.document()->isOpen());
}

void MainWindowTest::openingAMissingFileShowsAnError()
{
    MainWindow window;
    window.openExperiment(QStringLiteral("/nonexistent/exp.h5"));
    QVERIFY(window.statusText().contains(QStringLiteral("/nonexistent/exp.h5")));
}
