#include "tuning/lambda_grid.h"

#include "common/error.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace attri {

namespace {

std::string formatValue(double v)
{
    std::ostringstream out;
    out.precision(6);
    out << v;
    return out.str();
}

/// Parses a whole token as a double; throws ConfigError naming the spec otherwise.
double parseNumber(const std::string& token, const std::string& spec, const char* what)
{
    const char* begin = token.c_str();
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(begin, &end);
    std::string rest(end ? end : "");
    bool trailingOnlySpace = rest.find_first_not_of(" \t") == std::string::npos;
    if (token.find_first_not_of(" \t") == std::string::npos || end == begin || !trailingOnlySpace
        || errno == ERANGE)
        throw ConfigError("λ grid \"" + spec + "\": " + what + " \"" + token + "\" is not a number");
    return v;
}

std::vector<std::string> split(const std::string& s, char sep)
{
    std::vector<std::string> parts;
    std::string cur;
    for (char ch : s) {
        if (ch == sep) {
            parts.push_back(cur);
            cur.clear();
        } else {
            cur += ch;
        }
    }
    parts.push_back(cur);
    return parts;
}

} // namespace

LambdaGrid LambdaGrid::defaultRelative()
{
    return logSpaced(1e-6, 1e2, 25, true);
}

LambdaGrid LambdaGrid::logSpaced(double low, double high, int count, bool relative)
{
    if (!(low > 0.0) || !std::isfinite(low) || !(high >= low) || !std::isfinite(high))
        throw ConfigError("λ grid: a log-spaced range needs 0 < low ≤ high, finite; got low "
                          + formatValue(low) + ", high " + formatValue(high));
    if (count < 1)
        throw ConfigError("λ grid: a log-spaced range needs at least 1 point, got " + std::to_string(count));
    LambdaGrid grid;
    grid.relative = relative;
    const double a = std::log10(low);
    const double b = std::log10(high);
    for (int i = 0; i < count; ++i) {
        if (count == 1) {
            grid.values.push_back(low);
            break;
        }
        // Endpoints exactly as given, interior points by interpolation in log space.
        if (i == 0)
            grid.values.push_back(low);
        else if (i == count - 1)
            grid.values.push_back(high);
        else
            grid.values.push_back(std::pow(10.0, a + (b - a) * i / (count - 1)));
    }
    return grid;
}

LambdaGrid LambdaGrid::parse(const std::string& spec, bool relative)
{
    LambdaGrid grid;
    if (spec.rfind("log:", 0) == 0) {
        const std::vector<std::string> parts = split(spec.substr(4), ':');
        if (parts.size() != 3)
            throw ConfigError("λ grid \"" + spec + "\": expected log:LOW:HIGH:COUNT, e.g. log:1e-6:1e2:25");
        const double low = parseNumber(parts[0], spec, "low");
        const double high = parseNumber(parts[1], spec, "high");
        const double count = parseNumber(parts[2], spec, "count");
        if (count != std::floor(count) || count < 1 || count > 10000)
            throw ConfigError("λ grid \"" + spec + "\": count must be an integer from 1 to 10000, got "
                              + parts[2]);
        grid = logSpaced(low, high, static_cast<int>(count), relative);
    } else {
        grid.relative = relative;
        for (const std::string& token : split(spec, ','))
            grid.values.push_back(parseNumber(token, spec, "value"));
    }
    grid.validate();
    return grid;
}

std::vector<double> LambdaGrid::toAbsolute(double meanEigenvalue) const
{
    validate();
    if (!relative)
        return values;
    if (!(meanEigenvalue > 0.0) || !std::isfinite(meanEigenvalue))
        throw ConfigError("λ grid: a relative grid needs a positive finite mean eigenvalue, got "
                          + formatValue(meanEigenvalue) + " (is the curvature zero?)");
    std::vector<double> out;
    out.reserve(values.size());
    for (double c : values)
        out.push_back(c * meanEigenvalue);
    return out;
}

std::string LambdaGrid::toString() const
{
    std::string out = relative ? "relative " : "absolute ";
    for (size_t i = 0; i < values.size(); ++i)
        out += (i ? "," : "") + formatValue(values[i]);
    return out;
}

void LambdaGrid::validate() const
{
    if (values.empty())
        throw ConfigError("λ grid: no values (expected e.g. \"1e-3,1e-2\" or \"log:1e-6:1e2:25\")");
    for (size_t i = 0; i < values.size(); ++i)
        if (!(values[i] > 0.0) || !std::isfinite(values[i]))
            throw ConfigError("λ grid: value " + std::to_string(i + 1) + " is " + formatValue(values[i])
                              + "; every λ must be positive and finite");
}

} // namespace attri
