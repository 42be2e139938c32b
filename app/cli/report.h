#pragma once
// How the CLI prints the results of the workflows (core/workflows); shared by the commands and the
// demo, so that one result always reads the same.

#include <cstdint>
#include <string>

namespace attri {
class AttributionSession;
struct AttributionSummary;
struct RecommendResult;
struct SweepTable;
struct TopKOverlap;
} // namespace attri

namespace attri::cli {

/// What `attribute` prints: timings, feature groups, spectra and the rank-stability table.
void printAttributionSummary(const AttributionSummary& summary, const std::string& path);

/// What `recommend` prints: λ, the rule's inputs, the path budget, warnings, ξ and the evidence.
/// `pathBudget` is the share the request allowed (for the budget line).
void printRecommendation(const RecommendResult& result, double pathBudget);

/// What `topk` prints: the strongest proponents and opponents of one test point at `lambda`.
void printTopK(const AttributionSession& session, int64_t test, double lambda, int64_t n);

/// What `topk --across` prints: the overlap of each (λ, k) top-N set with the reference one, and in
/// how many settings each reference proponent stays.
void printTopKOverlap(const TopKOverlap& overlap);

/// What `lds` prints for one "lds" table: each k's best LDS and λ, and with `curve` the whole curve.
void printLdsTable(const SweepTable& table, bool curve);

} // namespace attri::cli
