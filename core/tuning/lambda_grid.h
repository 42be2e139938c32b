#pragma once

#include <string>
#include <vector>

namespace attri {

/// A set of damping values λ to sweep, either absolute or relative to the curvature's mean
/// eigenvalue (λ = c · tr(C)/d, see the attribution notes §1). Values are kept in the order given.
struct LambdaGrid {
    std::vector<double> values; ///< λ (absolute) or c (relative); positive, finite; no default values
    bool relative = true;       ///< true: values are multiples of the mean eigenvalue

    /// 25 log-spaced relative values from 1e-6 to 1e2 (both included).
    static LambdaGrid defaultRelative();
    /// `count` log-spaced values from `low` to `high` inclusive (count ≥ 1; count 1 gives `low`).
    /// Throws ConfigError unless 0 < low ≤ high, both finite.
    static LambdaGrid logSpaced(double low, double high, int count, bool relative = true);
    /// Parses "1e-3,1e-2,0.1" (a list) or "log:1e-6:1e2:25" (log-spaced, low:high:count).
    /// Throws ConfigError quoting the spec and what was expected.
    static LambdaGrid parse(const std::string& spec, bool relative = true);

    /// Absolute λ values: values × meanEigenvalue when relative, values unchanged otherwise.
    /// Throws ConfigError when a relative grid meets a non-positive or non-finite mean eigenvalue.
    std::vector<double> toAbsolute(double meanEigenvalue) const;
    /// "relative 1e-06,…" or "absolute 0.1,1": the kind and the comma list (for files and logs).
    std::string toString() const;
    /// Throws ConfigError when empty or when a value is not positive and finite (naming it).
    void validate() const;
};

} // namespace attri
