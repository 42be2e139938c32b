// attriscope: the desktop application.
#include "main_window.h"

#include "common/runtime.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>

int main(int argc, char** argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("AttriScope"));
    QApplication::setOrganizationName(QStringLiteral("AttriScope"));
    QApplication::setApplicationVersion(QStringLiteral(ATTRI_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("AttriScope: training-data attribution"));
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption demo(QStringLiteral("demo"), QStringLiteral("Train the demo model on start."));
    parser.addOption(demo);
    parser.addPositionalArgument(QStringLiteral("experiment"), QStringLiteral("Experiment file to open."));
    parser.process(app);

    attri::initRuntime();
    attri::ui::MainWindow window;
    window.show();
    if (!parser.positionalArguments().isEmpty())
        window.openExperiment(parser.positionalArguments().first());
    else if (parser.isSet(demo))
        window.runDemo(QDir::home().filePath(QStringLiteral("attriscope-demo.h5")));
    return app.exec();
}
