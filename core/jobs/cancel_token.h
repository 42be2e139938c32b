#pragma once

#include <atomic>
#include <memory>

namespace attri {

/// Shared cancellation flag. Copies observe the same flag; any copy may cancel.
/// Jobs poll it in inner loops through throwIfCancelled().
class CancelToken {
public:
    CancelToken() : m_flag(std::make_shared<std::atomic<bool>>(false)) {}

    void cancel() const { m_flag->store(true, std::memory_order_relaxed); }
    bool isCancelled() const { return m_flag->load(std::memory_order_relaxed); }
    /// Throws attri::Cancelled when cancellation was requested.
    void throwIfCancelled() const;

private:
    std::shared_ptr<std::atomic<bool>> m_flag;
};

} // namespace attri
