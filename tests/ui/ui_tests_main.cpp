// Runs every UI test class; QT_QPA_PLATFORM=offscreen is set by CTest (and defaulted here).
// Test function names on the command line run only the classes that have them.
#include "main_window_test.h"
#include "real_window_test.h"
#include "ui_flow_test.h"
#include "widgets_test.h"

#include "common/runtime.h"

#include <QApplication>
#include <QMetaMethod>
#include <QTest>

namespace {
/// Whether `object` has every test function named on the command line (options start with '-').
bool wanted(const QObject& object, int argc, char** argv)
{
    for (int i = 1; i < argc; ++i) {
        const QByteArray arg(argv[i]);
        if (arg.startsWith('-'))
            return true; // options (-v2, -o …): run everything, QTest handles them
        const QByteArray name = arg.split(':').first();
        if (object.metaObject()->indexOfMethod(name + "()") < 0)
            return false;
    }
    return true;
}

template <typename T> int run(int argc, char** argv)
{
    T test;
    return wanted(test, argc, argv) ? QTest::qExec(&test, argc, argv) : 0;
}
} // namespace

int main(int argc, char** argv)
{
    attri::restartWithBetterBlasKernels(argv);
    if (!qEnvironmentVariableIsSet("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("AttriScopeTests"));
    QApplication::setApplicationName(QStringLiteral("attri_ui_tests"));
    attri::initRuntime();
    int failures = 0;
    failures += run<WidgetsTest>(argc, argv);
    failures += run<MainWindowTest>(argc, argv);
    failures += run<UiFlowTest>(argc, argv);
    failures += run<RealWindowTest>(argc, argv);
    return failures == 0 ? 0 : 1;
}
