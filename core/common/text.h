#pragma once
// Small text helpers shared by the parsers of names on the command line and in files, and by
// the messages that describe datasets.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

namespace attri {

/// `s` with ASCII letters in lower case (names are matched case-insensitively).
inline std::string asciiLower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

/// A shape's sizes joined by "×" ("3×5"; empty for a scalar), for messages about datasets.
inline std::string dimsText(const std::vector<int64_t>& shape)
{
    std::string text;
    for (size_t i = 0; i < shape.size(); ++i)
        text += (i ? "×" : "") + std::to_string(shape[i]);
    return text;
}

} // namespace attri
