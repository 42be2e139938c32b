#pragma once

#include <filesystem>
#include <string>

namespace attri::test {

/// A fresh empty directory under the system temp dir, removed when the object dies.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return m_path; }
    std::string file(const std::string& name) const { return (m_path / name).string(); }

private:
    std::filesystem::path m_path;
};

/// Writes bytes to a file (creating parents).
void writeFile(const std::string& path, const std::string& bytes);
std::string readFile(const std::string& path);

/// tests/fixtures/<name>
std::string fixture(const std::string& name);

/// Runs a shell command, returns its exit code; stdout+stderr go to `output` when given.
int runCommand(const std::string& command, std::string* output = nullptr);

} // namespace attri::test
