#pragma once

#include <cstdint>
#include <string>

namespace attri {

/// This process's share of a job split across processes or machines (MPI ranks, a Slurm array,
/// or `--shard R/N` by hand): work item j belongs to rank j mod count. count 1 is the whole job.
struct Shard {
    int64_t rank = 0;
    int64_t count = 1;

    bool whole() const { return count == 1; }
    bool owns(int64_t item) const { return item % count == rank; }
    /// "R/N".
    std::string toString() const;
    /// Parses "R/N" (0 ≤ R < N, 1 ≤ N ≤ 4096); throws ConfigError naming the text otherwise.
    static Shard parse(const std::string& text);
};

} // namespace attri
