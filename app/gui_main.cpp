// attriscope: the desktop application.
#include "main_window.h"
#include "screenshot_tour.h"

#include "common/error.h"
#include "common/runtime.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>

#include <cstdio>

int main(int argc, char** argv)
{
    attri::restartWithBetterBlasKernels(argv);
    // Screenshots render headlessly: choose the offscreen platform before Qt starts.
    for (int i = 1; i < argc; ++i)
        if (QByteArray(argv[i]) == "--screenshots" && !qEnvironmentVariableIsSet("QT_QPA_PLATFORM"))
            qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("AttriScope"));
    QApplication::setOrganizationName(QStringLiteral("AttriScope"));
    QApplication::setApplicationVersion(QStringLiteral(ATTRI_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("AttriScope: training-data attribution"));
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption demo(QStringLiteral("demo"),
                            QStringLiteral("Run the demo (train, attribute, open) on start."));
    QCommandLineOption screenshots(
        QStringLiteral("screenshots"),
        QStringLiteral("Render every page to DIR/NN-page.png (offscreen) and exit; uses "
                       "DIR/demo.h5, creating it with the demo when missing."),
        QStringLiteral("DIR"));
    QCommandLineOption small(
        QStringLiteral("small-demo"),
        QStringLiteral("With --demo/--screenshots: a quick demo (1000 train, 100 test, k 64,256)."));
    parser.addOption(demo);
    parser.addOption(screenshots);
    QCommandLineOption device(
        QStringLiteral("device"),
        QStringLiteral("Where training, retraining and featurization run: auto (a CUDA GPU when this "
                       "LibTorch has CUDA and sees one, else the CPU), cpu or cuda. Default: auto."),
        QStringLiteral("D"), QStringLiteral("auto"));
    QCommandLineOption classroom(
        QStringLiteral("classroom"),
        QStringLiteral("Classroom mode: large type and tiles and a guided sequence on the Explore page "
                       "(with no experiment given, runs the demo)."));
    parser.addOption(small);
    parser.addOption(classroom);
    parser.addOption(device);
    parser.addPositionalArgument(QStringLiteral("experiment"), QStringLiteral("Experiment file to open."));
    parser.process(app);

    attri::initRuntime();
    try {
        attri::selectDevice(attri::parseDeviceChoice(parser.value(device).toStdString()));
    } catch (const attri::ConfigError& e) {
        std::fprintf(stderr, "attriscope: %s\n", e.what());
        return 2;
    }
    attri::DemoOptions options;
    if (parser.isSet(small)) {
        options.trainSize = 1000;
        options.testSize = 100;
        options.ks = {64, 256};
        options.sensitivityTests = 50;
    }
    attri::ui::MainWindow window;
    window.show();
    if (parser.isSet(screenshots)) {
        auto* tour = new attri::ui::ScreenshotTour(&window, parser.value(screenshots), options);
        QObject::connect(tour, &attri::ui::ScreenshotTour::finished, &app,
                         [](int code) { QApplication::exit(code); });
        tour->start();
        return app.exec();
    }
    if (parser.isSet(classroom))
        window.setClassroomMode(true);
    if (!parser.positionalArguments().isEmpty())
        window.openExperiment(parser.positionalArguments().first());
    else if (parser.isSet(demo) || parser.isSet(classroom))
        window.runDemo(attri::ui::MainWindow::defaultDemoPath(), options);
    return app.exec();
}
