#include "common/shard.h"

#include "common/error.h"

#include <cctype>

namespace attri {

std::string Shard::toString() const
{
    return std::to_string(rank) + "/" + std::to_string(count);
}

Shard Shard::parse(const std::string& text)
{
    const auto bad = [&] {
        return ConfigError("shard '" + text + "': expected R/N with 0 <= R < N <= 4096 (this process's rank R of N)");
    };
    const auto slash = text.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 >= text.size() || slash > 4 || text.size() - slash - 1 > 4)
        throw bad();
    for (size_t i = 0; i < text.size(); ++i)
        if (i != slash && !std::isdigit(static_cast<unsigned char>(text[i])))
            throw bad();
    Shard s;
    s.rank = std::stoll(text.substr(0, slash));
    s.count = std::stoll(text.substr(slash + 1));
    if (s.count < 1 || s.count > 4096 || s.rank >= s.count)
        throw bad();
    return s;
}

} // namespace attri
