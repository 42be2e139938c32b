#pragma once

#include "store/attribution_store.h"
#include "tuning/lambda_grid.h"

#include <string>

namespace attri {
struct GroundTruth;
class ProgressSink;
class CancelToken;
} // namespace attri

namespace attri::ui {

/// The "lds" λ × k table of a method against stored ground truth (the CLI's `lds` command does
/// the same): LDS at every (relative λ of `grid`, stored k).
SweepTable ldsSweepTable(const std::string& path, const std::string& method, const GroundTruth& truth,
                         const LambdaGrid& grid, ProgressSink& progress, const CancelToken& cancel);

/// Computes (or resumes) the ground truth, then the "lds" table of every λ method, stored in the
/// file atomically.
void computeGroundTruthAndLds(const std::string& path, int64_t subsets, ProgressSink& progress,
                              const CancelToken& cancel);

} // namespace attri::ui
