#pragma once

#include "jobs/progress_sink.h"

#include <chrono>
#include <cstdio>
#include <string>

namespace attri::cli {

/// Progress on stderr: a redrawn bar on a terminal, plain lines otherwise (logs, CI).
class TerminalProgress final : public ProgressSink {
public:
    explicit TerminalProgress(FILE* out = stderr);
    ~TerminalProgress() override;

    void begin(const std::string& stage, int64_t total) override;
    void advance(int64_t done) override;
    void message(const std::string& text) override;

private:
    void finishLine();

    FILE* m_out;
    bool m_tty;
    std::string m_stage;
    int64_t m_total = 0;
    int64_t m_done = 0;
    int m_lastPercentPrinted = -1;
    bool m_barShown = false;
    std::chrono::steady_clock::time_point m_start;
    std::chrono::steady_clock::time_point m_lastDraw;
};

} // namespace attri::cli
