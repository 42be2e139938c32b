#pragma once

#include "jobs/cancel_token.h"

#include <QObject>
#include <QString>

#include <any>
#include <functional>
#include <memory>

namespace attri {
class ProgressSink;
}

namespace attri::ui {

/// Runs every long job off the GUI thread (QtConcurrent), one at a time. Progress arrives as
/// queued signals; exceptions from the core become failed(message); results of a job that was
/// superseded or cancelled are dropped. Never blocks the event loop.
class JobRunner : public QObject {
    Q_OBJECT
public:
    using Job = std::function<std::any(ProgressSink&, const CancelToken&)>;

    explicit JobRunner(QObject* parent = nullptr);
    ~JobRunner() override;

    /// Starts `job` (cancelling any running one). `name` is shown in progress messages.
    void start(const QString& name, Job job);
    void cancel();
    bool isRunning() const { return m_running; }

Q_SIGNALS:
    void started(const QString& name);
    void progress(const QString& stage, qint64 done, qint64 total);
    void message(const QString& text);
    void finished(const QString& name, const std::any& result);
    void failed(const QString& name, const QString& error);
    void cancelled(const QString& name);

private:
    quint64 m_generation = 0;
    bool m_running = false;
    CancelToken m_cancel;
};

} // namespace attri::ui
