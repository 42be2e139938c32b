#pragma once
// Shared by the libFuzzer harnesses: the contract is that a parser of outside bytes either
// succeeds or throws attri::Error (or a subclass); anything else is a finding.

#include "common/error.h"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <typeinfo>

namespace attri::fuzz {

/// Runs `fn`; returns true when it succeeded, false on a clean attri::Error. Any other exception
/// aborts (libFuzzer then saves the input as a crash).
template <typename Fn> bool expectCleanOutcome(const char* what, Fn&& fn)
{
    try {
        fn();
        return true;
    } catch (const attri::Error&) {
        return false;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "FINDING: %s threw %s (not attri::Error): %s\n", what, typeid(e).name(),
                     e.what());
        std::abort();
    } catch (...) {
        std::fprintf(stderr, "FINDING: %s threw a non-std exception\n", what);
        std::abort();
    }
}

/// A broken promise on a successful parse (e.g. a size that does not match the data).
inline void require(bool condition, const char* what)
{
    if (!condition) {
        std::fprintf(stderr, "FINDING: invariant violated: %s\n", what);
        std::abort();
    }
}

/// One scratch file per process (named after the pid, so parallel jobs do not collide),
/// rewritten for every input and removed at exit.
class ScratchFile {
public:
    explicit ScratchFile(const char* suffix)
    {
        const char* dir = std::getenv("TMPDIR");
        m_path = std::string(dir && *dir ? dir : "/tmp") + "/attri-fuzz-" + std::to_string(getpid()) + suffix;
    }
    ~ScratchFile() { std::remove(m_path.c_str()); }

    const std::string& write(const uint8_t* data, size_t size)
    {
        std::FILE* f = std::fopen(m_path.c_str(), "wb");
        if (!f || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
            std::perror(m_path.c_str());
            std::abort(); // the harness's own environment failed, not the parser
        }
        return m_path;
    }

private:
    std::string m_path;
};

} // namespace attri::fuzz
