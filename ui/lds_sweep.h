#pragma once

#include <cstdint>
#include <string>

namespace attri {
class ProgressSink;
class CancelToken;
} // namespace attri

namespace attri::ui {

/// Computes (or resumes) the ground truth, then the "lds" table of every λ method, stored in the
/// file atomically.
void computeGroundTruthAndLds(const std::string& path, int64_t subsets, ProgressSink& progress,
                              const CancelToken& cancel);

} // namespace attri::ui
