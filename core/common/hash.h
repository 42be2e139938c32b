#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace attri {

/// Incremental SHA-256 (FIPS 180-4), for content hashes of datasets and checkpoint files.
class Sha256 {
public:
    Sha256();
    void update(const void* data, size_t size);
    /// Length-prefixed string, so that concatenations cannot collide.
    void updateString(const std::string& text);
    void updateInt(int64_t value) { update(&value, sizeof value); }
    void updateDouble(double value) { update(&value, sizeof value); }
    /// Lower-case hex digest; the object must not be updated afterwards.
    std::string hexDigest();

private:
    void block(const uint8_t* p);
    uint32_t m_state[8];
    uint8_t m_buffer[64];
    size_t m_bufferSize = 0;
    uint64_t m_totalBytes = 0;
};

/// SHA-256 of a whole file; throws IoError naming the file when it cannot be read.
std::string sha256File(const std::string& path);

} // namespace attri
