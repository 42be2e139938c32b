#pragma once

#include <cstdint>
#include <string>

namespace attri {

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
};

/// Discards everything; for tests and callers that do not report.
class NullProgress final : public ProgressSink {
public:
    void begin(const std::string&, int64_t) override {}
    void advance(int64_t) override {}
    void message(const std::string&) override {}
};

} // namespace attri
