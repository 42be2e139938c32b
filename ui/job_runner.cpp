#include "job_runner.h"

#include "common/error.h"
#include "jobs/progress_sink.h"

#include <QMetaObject>
#include <QtConcurrent/QtConcurrentRun>

namespace attri::ui {

namespace {

/// Forwards progress from the worker thread to the runner's signals (queued into the GUI thread).
/// Only Task jobs report; other lanes get a sink that discards.
class SignalProgress final : public ProgressSink {
public:
    SignalProgress(QPointer<JobRunner> runner, bool enabled) : m_runner(std::move(runner)), m_enabled(enabled)
    {
    }
    void begin(const std::string& stage, int64_t total) override
    {
        m_stage = QString::fromStdString(stage);
        m_total = total;
        post(0);
    }
    void advance(int64_t done) override { post(done); }
    void message(const std::string& text) override
    {
        if (!m_enabled)
            return;
        QString t = QString::fromStdString(text);
        QPointer<JobRunner> r = m_runner;
        QMetaObject::invokeMethod(
            r,
            [r, t] {
                if (r)
                    Q_EMIT r->message(t);
            },
            Qt::QueuedConnection);
    }

    void metric(const Metric& m) override
    {
        if (!m_enabled)
            return;
        QPointer<JobRunner> r = m_runner;
        const QString name = QString::fromStdString(m.name);
        const qint64 step = m.step, steps = m.steps;
        const double value = m.value;
        QMetaObject::invokeMethod(
            r,
            [r, name, step, steps, value] {
                if (r)
                    Q_EMIT r->metric(name, step, steps, value);
            },
            Qt::QueuedConnection);
    }

private:
    void post(int64_t done)
    {
        if (!m_enabled)
            return;
        QPointer<JobRunner> r = m_runner;
        QString stage = m_stage;
        qint64 total = m_total;
        QMetaObject::invokeMethod(
            r,
            [r, stage, done, total] {
                if (r)
                    Q_EMIT r->progress(stage, done, total);
            },
            Qt::QueuedConnection);
    }
    QPointer<JobRunner> m_runner;
    bool m_enabled;
    QString m_stage;
    qint64 m_total = 0;
};

} // namespace

JobRunner::JobRunner(QObject* parent) : QObject(parent)
{
    qRegisterMetaType<attri::ui::JobLane>();
    m_storePool.setMaxThreadCount(1);
}

JobRunner::~JobRunner()
{
    for (auto& l : m_lanes)
        l.cancel.cancel();
    m_storePool.waitForDone(); // a started write finishes: the file is never left half-written
}

bool JobRunner::isBusy(JobLane l) const
{
    return m_lanes[static_cast<int>(l)].pending > 0;
}

void JobRunner::cancel()
{
    lane(JobLane::Task).cancel.cancel();
    lane(JobLane::Preview).cancel.cancel();
    lane(JobLane::Load).cancel.cancel();
}

void JobRunner::startErased(const QString& name, ErasedJob job, JobLane l, QObject* context, Failed onFailed)
{
    LaneState& state = lane(l);
    if (l != JobLane::Store) {
        state.cancel.cancel(); // supersede the previous job of this lane
        state.cancel = CancelToken();
    }
    const quint64 generation = ++state.generation;
    state.running = true;
    ++state.pending;
    if (l == JobLane::Task) {
        m_taskName = name;
        Q_EMIT started(name);
    }
    QPointer<JobRunner> self(this);
    QPointer<QObject> ctx(context);
    const bool hadContext = context != nullptr;
    CancelToken token = state.cancel;
    auto work = [self, name, l, job = std::move(job), token, generation, ctx, hadContext,
                 onFailed = std::move(onFailed)]() mutable {
        SignalProgress sink(self, l == JobLane::Task);
        Delivery deliver;
        QString error;
        QString damagedFile, damagedObject;
        bool wasCancelled = false;
        try {
            deliver = job(sink, token);
        } catch (const Cancelled&) {
            wasCancelled = true;
        } catch (const DamagedDataError& e) {
            error = QString::fromStdString(e.what());
            damagedFile = QString::fromStdString(e.file());
            damagedObject = QString::fromStdString(e.object());
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
            if (error.isEmpty())
                error = QStringLiteral("unknown error");
        } catch (...) {
            error = QStringLiteral("unknown error");
        }
        QMetaObject::invokeMethod(
            self,
            [self, l, generation, name, deliver, error, damagedFile, damagedObject, wasCancelled, ctx, hadContext,
             onFailed] {
                if (!self)
                    return;
                self->report(l, generation, name, deliver, error, wasCancelled, ctx, hadContext, onFailed);
                if (!damagedFile.isEmpty())
                    Q_EMIT self->damaged(damagedFile, damagedObject, error);
            },
            Qt::QueuedConnection);
    };
    if (l == JobLane::Store)
        (void)QtConcurrent::run(&m_storePool, std::move(work));
    else
        (void)QtConcurrent::run(std::move(work));
}

void JobRunner::report(JobLane l, quint64 generation, const QString& name, const Delivery& deliver,
                       const QString& error, bool wasCancelled, QPointer<QObject> context, bool hadContext,
                       const Failed& onFailed)
{
    LaneState& state = lane(l);
    --state.pending;
    const bool current = generation == state.generation;
    if (l == JobLane::Store || current) {
        state.running = l == JobLane::Store ? state.pending > 0 : false;
        if (l == JobLane::Task)
            m_taskName.clear();
        if (wasCancelled) {
            if (l == JobLane::Task)
                Q_EMIT cancelled(name);
        } else if (!error.isEmpty()) {
            if (onFailed && (!hadContext || context))
                onFailed(error);
            Q_EMIT failed(name, error);
        } else {
            if (deliver && (!hadContext || context))
                deliver();
            if (l == JobLane::Task)
                Q_EMIT finished(name);
        }
    }
    // Superseded results are dropped silently.
    if (state.pending == 0) {
        state.running = false;
        Q_EMIT idle(l);
    }
}

} // namespace attri::ui
