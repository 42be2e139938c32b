#pragma once
// The command-line part of the spec-strings harness, shared with its replay in the normal test
// suite (tests/core/fuzz_regression_test.cpp): how an input becomes argv, and the option set
// the CLI's ArgParser is exercised with.

#include "cli/arg_parser.h"

#include <algorithm>
#include <string>
#include <vector>

namespace attri::fuzz {

/// The input split at NUL bytes into arguments (one argument when there is none).
inline std::vector<std::string> splitArguments(const std::string& text)
{
    std::vector<std::string> args(1);
    for (char c : text) {
        if (c == '\0')
            args.emplace_back();
        else
            args.back() += c;
    }
    return args;
}

/// Whether the arguments ask for help (ArgParser then prints it and parses nothing).
inline bool asksForHelp(const std::vector<std::string>& args)
{
    return std::any_of(args.begin(), args.end(), [](const std::string& a) { return a == "--help" || a == "-h"; });
}

/// An ArgParser with options of every kind the CLI uses.
inline cli::ArgParser fuzzedParser()
{
    cli::ArgParser p("attriscope-cli fuzz", "Fuzzing the option parser.");
    p.option("k", "K,K", "k list", "256,1024")
        .option("lambda", "L", "damping")
        .option("lambda-grid", "SPEC", "grid", "log:1e-6:1e2:25")
        .option("n", "N", "count", "10")
        .option("data", "SPEC", "dataset", "demo")
        .flag("absolute", "absolute grid")
        .positional("EXP", "experiment file");
    return p;
}

} // namespace attri::fuzz
