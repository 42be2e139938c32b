#include "terminal_progress.h"

#include <unistd.h>

namespace attri::cli {

TerminalProgress::TerminalProgress(FILE* out) : m_out(out), m_tty(isatty(fileno(out)) != 0) {}

TerminalProgress::~TerminalProgress() { finishLine(); }

void TerminalProgress::finishLine()
{
    if (m_barShown) {
        std::fputc('\n', m_out);
        m_barShown = false;
    }
}

void TerminalProgress::begin(const std::string& stage, int64_t total)
{
    finishLine();
    m_stage = stage;
    m_total = total;
    m_done = 0;
    m_lastPercentPrinted = -1;
    m_start = std::chrono::steady_clock::now();
    m_lastDraw = {};
    if (!m_tty)
        std::fprintf(m_out, "%s: started (%lld steps)\n", stage.c_str(), static_cast<long long>(total));
    std::fflush(m_out);
}

void TerminalProgress::advance(int64_t done)
{
    m_done = done;
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - m_start).count();
    int percent = m_total > 0 ? static_cast<int>(100 * done / m_total) : 0;
    if (m_tty) {
        if (done < m_total && now - m_lastDraw < std::chrono::milliseconds(100))
            return;
        m_lastDraw = now;
        const int width = 30;
        int filled = m_total > 0 ? static_cast<int>(width * done / m_total) : 0;
        std::string bar(static_cast<size_t>(filled), '#');
        bar.resize(width, '.');
        std::fprintf(m_out, "\r%-12s [%s] %3d%% %lld/%lld %.1fs", m_stage.c_str(), bar.c_str(), percent,
                     static_cast<long long>(done), static_cast<long long>(m_total), elapsed);
        m_barShown = true;
    } else {
        // Plain lines at every 10% so logs stay short.
        int decile = percent / 10 * 10;
        if (decile == m_lastPercentPrinted && done < m_total)
            return;
        m_lastPercentPrinted = decile;
        std::fprintf(m_out, "%s: %d%% (%lld/%lld, %.1fs)\n", m_stage.c_str(), percent,
                     static_cast<long long>(done), static_cast<long long>(m_total), elapsed);
    }
    std::fflush(m_out);
}

void TerminalProgress::message(const std::string& text)
{
    finishLine();
    std::fprintf(m_out, "%s\n", text.c_str());
    std::fflush(m_out);
}

} // namespace attri::cli
