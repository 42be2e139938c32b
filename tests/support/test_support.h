#pragma once

#include "common/row_matrix.h"
#include "data/image_set.h"
#include "model/architecture.h"

#include <filesystem>
#include <string>
#include <vector>

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

/// n synthetic images of `shape` (pixels uniform in [0,1) or N(0,1), from std::mt19937_64(seed)),
/// labels i mod classes.
enum class Pixels { Uniform, Gaussian };
ImageSet syntheticImages(int64_t n, InputShape shape, int classes, uint64_t seed, Pixels pixels);

/// rows × cols standard normal floats from std::mt19937(seed) (the same matrix for the same seed).
RowMatrixF randomMatrix(int64_t rows, int64_t cols, uint32_t seed);

/// Writes bytes to a file (creating parents).
void writeFile(const std::string& path, const std::string& bytes);
std::string readFile(const std::string& path);

/// tests/fixtures/<name>
std::string fixture(const std::string& name);

/// Runs a shell command, returns its exit code; stdout+stderr go to `output` when given.
int runCommand(const std::string& command, std::string* output = nullptr);

/// A CSV file without quoting (the study's tables): its header and rows, split at commas.
struct Csv {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    /// The header's position of `name`; a test failure (and the header's size) when it has none.
    size_t column(const std::string& name) const;
};
/// Reads `path`; an empty Csv and a test failure when it cannot be opened.
Csv readCsv(const std::string& path);

} // namespace attri::test
