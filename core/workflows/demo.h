#pragma once
// The demo, defined once: what `attriscope-cli demo` and the GUI's "Run the demo" compute. Both
// produce the same experiment file for the same options.

#include "data/data_loader.h"
#include "store/experiment_file.h"
#include "workflows/attribute.h"
#include "workflows/recommend.h"

#include <cstdint>
#include <string>
#include <vector>

namespace attri {

class ProgressSink;
class CancelToken;

/// The demo's settings. The defaults are the demo; smaller sizes serve quick runs and tests.
struct DemoOptions {
    std::string path = "attriscope-demo/demo.h5"; ///< experiment file to create (its folder is created)
    int64_t trainSize = 5000;                      ///< demo training points (at most 5000)
    int64_t testSize = 500;                        ///< demo test points (at most 500)
    std::vector<int64_t> ks = {256, 1024};         ///< projection dimensions (Kronecker)
    int64_t sensitivityTests = 100;                ///< test points behind the λ × k sensitivity tables

    /// Throws ConfigError naming the field.
    void validate() const;
};

/// What the demo computed, for printing or showing.
struct DemoResult {
    ModelRecord model;
    AttributionSummary attribution;
    RecommendResult recommendation;
};

/// The demo's data: the embedded Fashion-MNIST subset, the first `trainSize` and `testSize`
/// images, standardized with the dataset's standard mean and deviation.
DataOptions demoData(int64_t trainSize = 5000, int64_t testSize = 500);

/// Trains logistic regression with its standard recipe on the embedded Fashion-MNIST subset, computes
/// TRAK attributions (Kronecker projection, every k of the options) with their sensitivity tables,
/// and recommends λ at the largest k with the default rule; everything lands in options.path.
DemoResult runDemo(const DemoOptions& options, ProgressSink& progress, const CancelToken& cancel);

} // namespace attri
