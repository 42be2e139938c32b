#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace attri {

/// The machine's cores (at least 1).
inline int hardwareThreads()
{
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

/// Runs fn(begin, end, worker) over [0, count) split into `threads` contiguous parts (one std::thread
/// each; the calling thread only waits), rethrowing the first exception of any worker. For CPU work
/// outside Torch (ranking, sorting), which Torch's intra-op threads do not cover.
template <typename Fn> void parallelFor(int64_t count, int threads, Fn fn)
{
    threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, count)));
    if (threads == 1) {
        fn(int64_t{0}, count, 0);
        return;
    }
    std::vector<std::thread> pool;
    std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
    for (int w = 0; w < threads; ++w) {
        const int64_t begin = count * w / threads;
        const int64_t end = count * (w + 1) / threads;
        pool.emplace_back([&, begin, end, w] {
            try {
                fn(begin, end, w);
            } catch (...) {
                errors[static_cast<size_t>(w)] = std::current_exception();
            }
        });
    }
    for (auto& t : pool)
        t.join();
    for (auto& e : errors)
        if (e)
            std::rethrow_exception(e);
}

} // namespace attri
