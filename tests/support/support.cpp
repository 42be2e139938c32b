#include "support/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>

namespace attri::test {

TempDir::TempDir()
{
    std::random_device rd;
    auto base = std::filesystem::temp_directory_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto candidate = base / ("attri-test-" + std::to_string(rd()));
        if (std::filesystem::create_directory(candidate)) {
            m_path = candidate;
            return;
        }
    }
    throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir()
{
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

void writeFile(const std::string& path, const std::string& bytes)
{
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out)
        throw std::runtime_error("cannot write " + path);
}

std::string readFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

ImageSet syntheticImages(int64_t n, InputShape shape, int classes, uint64_t seed, Pixels pixels)
{
    ImageSet set;
    set.count = n;
    set.channels = shape.channels;
    set.height = shape.height;
    set.width = shape.width;
    std::mt19937_64 rng(seed);
    set.images.resize(static_cast<size_t>(n * shape.size()));
    if (pixels == Pixels::Gaussian) {
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (float& v : set.images)
            v = normal(rng);
    } else {
        std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
        for (float& v : set.images)
            v = uniform(rng);
    }
    for (int64_t i = 0; i < n; ++i)
        set.labels.push_back(i % classes);
    return set;
}

RowMatrixF randomMatrix(int64_t rows, int64_t cols, uint32_t seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    RowMatrixF m(rows, cols);
    for (int64_t i = 0; i < m.size(); ++i)
        m.data()[i] = normal(rng);
    return m;
}

std::string fixture(const std::string& name) { return std::string(ATTRI_FIXTURES_DIR) + "/" + name; }

int runCommand(const std::string& command, std::string* output)
{
    std::string full = command + " 2>&1";
    FILE* pipe = popen(full.c_str(), "r");
    if (!pipe)
        return -1;
    std::array<char, 4096> buf{};
    std::string text;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0)
        text.append(buf.data(), n);
    int status = pclose(pipe);
    if (output)
        *output = text;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

size_t Csv::column(const std::string& name) const
{
    const auto it = std::find(header.begin(), header.end(), name);
    EXPECT_NE(it, header.end()) << "no column " << name;
    return static_cast<size_t>(it - header.begin());
}

Csv readCsv(const std::string& path)
{
    Csv csv;
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << "cannot open " << path;
    const auto split = [](const std::string& line) {
        std::vector<std::string> cells;
        std::stringstream s(line);
        for (std::string c; std::getline(s, c, ',');)
            cells.push_back(c);
        return cells;
    };
    std::string line;
    if (std::getline(in, line))
        csv.header = split(line);
    while (std::getline(in, line))
        csv.rows.push_back(split(line));
    return csv;
}

} // namespace attri::test
