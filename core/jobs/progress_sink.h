#pragma once

#include <cstdint>
#include <string>

namespace attri {

/// A measured value of a job at one of its steps, for plotting (e.g. "train_loss" at epoch 3 of
/// 20). Front ends draw metrics from these, never from the wording of messages.
struct Metric {
    std::string name; ///< what is measured, snake_case ("train_loss")
    int64_t step = 0;  ///< where (1-based: epoch, subset, ...)
    int64_t steps = 0; ///< of how many (0 if unknown)
    double value = 0.0;
};

/// Receives progress from a long job. Implementations must be cheap: jobs call
/// advance() from inner loops (possibly from worker threads, never concurrently for one job).
class ProgressSink {
public:
    virtual ~ProgressSink() = default;
    /// A new stage starts; total is the number of steps (0 if unknown).
    virtual void begin(const std::string& stage, int64_t total) = 0;
    /// done steps of the current stage are finished (absolute, not a delta).
    virtual void advance(int64_t done) = 0;
    /// A line of information for the user (e.g. "epoch 3: loss 0.41").
    virtual void message(const std::string& text) = 0;
    /// A measured value (typed, for charts); sinks that draw nothing ignore it.
    virtual void metric(const Metric& m) { static_cast<void>(m); }
};

/// Discards everything; for tests and callers that do not report.
class NullProgress final : public ProgressSink {
public:
    void begin(const std::string&, int64_t) override {}
    void advance(int64_t) override {}
    void message(const std::string&) override {}
};

} // namespace attri
