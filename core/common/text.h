#pragma once
// Small text helpers shared by the parsers of names on the command line and in files.

#include <algorithm>
#include <cctype>
#include <string>

namespace attri {

/// `s` with ASCII letters in lower case (names are matched case-insensitively).
inline std::string asciiLower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

} // namespace attri
