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

using attri::ui::JobRunner;
using attri::ui::MainWindow;

class MainWindowTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { qputenv("ATTRI_NO_DIALOGS", "1"); }

    void jobRunnerDeliversResult()
    {
        JobRunner runner;
        QSignalSpy finished(&runner, &JobRunner::finished);
        QSignalSpy progress(&runner, &JobRunner::progress);
        runner.start(QStringLiteral("sum"), [](attri::ProgressSink& p, const attri::CancelToken&) {
            p.begin("sum", 3);
            int s = 0;
            for (int i = 1; i <= 3; ++i) {
                s += i;
                p.advance(i);
            }
            return std::any(s);
        });
        QVERIFY(finished.wait(5000));
        QCOMPARE(std::any_cast<int>(finished.at(0).at(1).value<std::any>()), 6);
        QVERIFY(progress.count() >= 1);
        QVERIFY(!runner.isRunning());
    }

    void jobRunnerCancelsWithinASecond()
    {
        JobRunner runner;
        QSignalSpy cancelled(&runner, &JobRunner::cancelled);
        runner.start(QStringLiteral("spin"), [](attri::ProgressSink&, const attri::CancelToken& token) {
            for (;;) {
                token.throwIfCancelled();
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
            return std::any();
        });
        QTest::qWait(50);
        auto t0 = std::chrono::steady_clock::now();
        runner.cancel();
        QVERIFY(cancelled.wait(1000));
        QVERIFY(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
    }

    void jobRunnerReportsErrors()
    {
        JobRunner runner;
        QSignalSpy failed(&runner, &JobRunner::failed);
        runner.start(QStringLiteral("bad"), [](attri::ProgressSink&, const attri::CancelToken&) -> std::any {
            throw attri::FormatError("x.h5: broken");
        });
        QVERIFY(failed.wait(5000));
        QCOMPARE(failed.at(0).at(1).toString(), QStringLiteral("x.h5: broken"));
    }

    void demoTrainsAndShowsTheExperiment()
    {
        QTemporaryDir dir;
        MainWindow window;
        window.show();
        QSignalSpy shown(&window, &MainWindow::experimentShown);
        QString path = dir.filePath(QStringLiteral("demo.h5"));
        window.runDemo(path);
        QVERIFY(window.jobRunner()->isRunning());
        QVERIFY(shown.wait(120000));
        QVERIFY(QFile::exists(path));
        QVERIFY2(window.summaryText().contains(QStringLiteral("lr")), qPrintable(window.summaryText()));
    }

    void openingAForeignFileShowsAnError()
    {
        QTemporaryDir dir;
        QString path = dir.filePath(QStringLiteral("not-hdf5.h5"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("definitely not an HDF5 file");
        f.close();
        MainWindow window;
        QSignalSpy shown(&window, &MainWindow::experimentShown);
        window.openExperiment(path);
        QCOMPARE(shown.count(), 0);
        QVERIFY2(window.statusText().contains(QStringLiteral("not-hdf5.h5")), qPrintable(window.statusText()));
    }
};

QTEST_MAIN(MainWindowTest)
#include "main_window_test.moc"
