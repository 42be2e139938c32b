#pragma once

#include "jobs/cancel_token.h"

#include <QObject>
#include <QPointer>
#include <QString>
#include <QThreadPool>

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace attri {
class ProgressSink;
}

namespace attri::ui {

/// Where a job runs. Each lane has its own rules, so that a preview of scores never cancels a
/// long attribution and a file write is never cancelled at all.
enum class JobLane {
    Task,    ///< long user-visible work (train, attribute, recommend, load): progress, cancel;
             ///< a new task cancels the running one
    Preview, ///< short interactive work (scores while dragging): a new one supersedes the old,
             ///< no progress, stale results dropped
    Load,    ///< loading a session or a file for viewing: a new one supersedes the old, no progress
    Store,   ///< file writes: run one after the other in order, never cancelled
};

/// Runs every long job off the GUI thread (QtConcurrent), one at a time per lane. Progress of
/// Task jobs arrives as queued signals; exceptions from the core become failed(message); results
/// of a job that was superseded or cancelled are dropped. Never blocks the event loop.
class JobRunner : public QObject {
    Q_OBJECT
public:
    /// Called on the GUI thread with the error message when the job fails (only if `context` lives).
    using Failed = std::function<void(const QString&)>;

    explicit JobRunner(QObject* parent = nullptr);
    ~JobRunner() override;

    /// Starts `job` (callable as R job(ProgressSink&, const CancelToken&), R any value type or
    /// void) on `lane`. `name` is shown in progress messages. When the job succeeds and `context`
    /// (if given) still exists, `onDone` runs on the GUI thread with the result, typed (const R&;
    /// no argument for void), before finished().
    template <class Job, class Done = std::nullptr_t>
    void start(const QString& name, Job job, JobLane lane = JobLane::Task, QObject* context = nullptr,
               Done onDone = nullptr, Failed onFailed = {})
    {
        using R = std::invoke_result_t<Job&, ProgressSink&, const CancelToken&>;
        startErased(
            name,
            [job = std::move(job), onDone = std::move(onDone)](ProgressSink& progress,
                                                               const CancelToken& cancel) mutable -> Delivery {
                if constexpr (std::is_void_v<R>) {
                    job(progress, cancel);
                    if constexpr (std::is_same_v<Done, std::nullptr_t>)
                        return {};
                    else
                        return [onDone] { onDone(); };
                } else {
                    auto result = std::make_shared<const R>(job(progress, cancel));
                    if constexpr (std::is_same_v<Done, std::nullptr_t>)
                        return {};
                    else
                        return [onDone, result] { onDone(*result); };
                }
            },
            lane, context, std::move(onFailed));
    }
    /// Cancels the running Task (and any running preview or load).
    void cancel();
    /// Whether a Task is running.
    bool isRunning() const { return m_lanes[0].running; }
    bool isBusy(JobLane lane) const;
    /// The name of the running Task (empty when none).
    QString currentTask() const { return m_taskName; }

Q_SIGNALS:
    /// Task lane only.
    void started(const QString& name);
    void progress(const QString& stage, qint64 done, qint64 total);
    void message(const QString& text);
    /// A typed measurement of the running Task (ProgressSink::metric), e.g. "train_loss" per epoch.
    void metric(const QString& name, qint64 step, qint64 steps, double value);
    void finished(const QString& name);
    void cancelled(const QString& name);
    /// Any lane.
    void failed(const QString& name, const QString& error);
    /// After failed(), when the job failed on a damaged experiment file (DamagedDataError): which
    /// file and which dataset or group, so the window can offer to remove and recompute it.
    void damaged(const QString& file, const QString& object, const QString& error);
    /// A lane went idle (all its jobs done); lets tests and pages wait without polling.
    void idle(attri::ui::JobLane lane);

private:
    /// What a finished job hands to the GUI thread: the call of onDone with its result (empty: none).
    using Delivery = std::function<void()>;
    using ErasedJob = std::function<Delivery(ProgressSink&, const CancelToken&)>;
    void startErased(const QString& name, ErasedJob job, JobLane lane, QObject* context, Failed onFailed);

    struct LaneState {
        quint64 generation = 0;
        int pending = 0; // jobs started and not yet reported
        bool running = false;
        CancelToken cancel;
    };
    LaneState& lane(JobLane l) { return m_lanes[static_cast<int>(l)]; }
    void report(JobLane l, quint64 generation, const QString& name, const Delivery& deliver,
                const QString& error, bool wasCancelled, QPointer<QObject> context, bool hadContext,
                const Failed& onFailed);

    LaneState m_lanes[4];
    QString m_taskName;
    QThreadPool m_storePool; // one thread: writes happen in order
};

} // namespace attri::ui

Q_DECLARE_METATYPE(attri::ui::JobLane)
