#include "job_runner.h"

#include "common/error.h"
#include "jobs/progress_sink.h"

#include <QMetaObject>
#include <QPointer>
#include <QtConcurrent/QtConcurrentRun>

namespace attri::ui {

namespace {

/// Forwards progress from the worker thread to the runner's signals (queued into the GUI thread).
class SignalProgress final : public ProgressSink {
public:
    SignalProgress(QPointer<JobRunner> runner) : m_runner(std::move(runner)) {}
    void begin(const std::string& stage, int64_t total) override
    {
        m_stage = QString::fromStdString(stage);
        m_total = total;
        post(0);
    }
    void advance(int64_t done) override { post(done); }
    void message(const std::string& text) override
    {
        QString t = QString::fromStdString(text);
        QPointer<JobRunner> r = m_runner;
        QMetaObject::invokeMethod(r, [r, t] { if (r) Q_EMIT r->message(t); }, Qt::QueuedConnection);
    }

private:
    void post(int64_t done)
    {
        QPointer<JobRunner> r = m_runner;
        QString stage = m_stage;
        qint64 total = m_total;
        QMetaObject::invokeMethod(r, [r, stage, done, total] { if (r) Q_EMIT r->progress(stage, done, total); },
                                  Qt::QueuedConnection);
    }
    QPointer<JobRunner> m_runner;
    QString m_stage;
    qint64 m_total = 0;
};

} // namespace

JobRunner::JobRunner(QObject* parent) : QObject(parent) {}

JobRunner::~JobRunner() { m_cancel.cancel(); }

void JobRunner::cancel()
{
    m_cancel.cancel();
}

void JobRunner::start(const QString& name, Job job)
{
    m_cancel.cancel();
    m_cancel = CancelToken();
    const quint64 generation = ++m_generation;
    m_running = true;
    Q_EMIT started(name);
    QPointer<JobRunner> self(this);
    CancelToken token = m_cancel;
    (void)QtConcurrent::run([self, name, job = std::move(job), token, generation] {
        SignalProgress sink(self);
        std::any result;
        QString error;
        bool wasCancelled = false;
        try {
            result = job(sink, token);
        } catch (const Cancelled&) {
            wasCancelled = true;
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        } catch (...) {
            error = QStringLiteral("unknown error");
        }
        QMetaObject::invokeMethod(
            self,
            [self, name, result, error, wasCancelled, generation] {
                if (!self || generation != self->m_generation)
                    return; // superseded: drop the stale result
                self->m_running = false;
                if (wasCancelled)
                    Q_EMIT self->cancelled(name);
                else if (!error.isEmpty())
                    Q_EMIT self->failed(name, error);
                else
                    Q_EMIT self->finished(name, result);
            },
            Qt::QueuedConnection);
    });
}

} // namespace attri::ui
