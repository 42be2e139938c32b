// Option strings a user types: DatasetSpec::parse, LambdaGrid::parse, parseArchitecture,
// parseFeatureTarget, parseProjectionKind, the CLI's ArgParser (app/cli/arg_parser.cpp, which
// compiles on its own), and the JSON of recipe files and import manifests (JsonObject::parse,
// TrainRecipe::fromJson).
//
// Input layout: byte 0 picks the parser ('D' dataset spec, 'L' relative λ grid, 'A' absolute
// λ grid, 'M' architecture, 'T' feature target, 'P' projection, 'C' command line with
// arguments separated by NUL bytes, 'J' a recipe file or manifest); any other byte runs every parser. Byte 1 is ignored (a
// space in the seeds); the text starts at byte 2.

#include "../../app/cli/arg_parser.h"
#include "data/dataset_spec.h"
#include "features/feature_options.h"
#include "fuzz_command_line.h"
#include "fuzz_common.h"
#include "common/json_object.h"
#include "model/architecture.h"
#include "model/train_recipe.h"
#include "tuning/lambda_grid.h"

#include <cmath>
#include <string>
#include <vector>

using namespace attri;
using attri::fuzz::expectCleanOutcome;
using attri::fuzz::require;

namespace {

void datasetSpec(const std::string& text)
{
    expectCleanOutcome("DatasetSpec::parse", [&] {
        const DatasetSpec spec = DatasetSpec::parse(text);
        // The documented promise: toString() round-trips through parse.
        const DatasetSpec again = DatasetSpec::parse(spec.toString());
        require(again.kind == spec.kind && again.path == spec.path, "DatasetSpec::toString round-trips");
        require(spec.standardMean().size() == spec.standardStd().size(), "mean and std have the same length");
    });
}

void lambdaGrid(const std::string& text, bool relative)
{
    expectCleanOutcome("LambdaGrid::parse", [&] {
        const LambdaGrid grid = LambdaGrid::parse(text, relative);
        require(!grid.values.empty() && grid.values.size() <= 10000 + text.size(),
                "a grid has 1 to 10000 values");
        require(grid.relative == relative, "the grid keeps its kind");
        for (double v : grid.values)
            require(v > 0.0 && std::isfinite(v), "λ values are positive and finite");
        require(!grid.toString().empty(), "toString is not empty");
        const std::vector<double> absolute = grid.toAbsolute(2.5);
        require(absolute.size() == grid.values.size(), "toAbsolute keeps every value");
    });
}

void names(const std::string& text)
{
    expectCleanOutcome("parseArchitecture", [&] {
        const Architecture arch = parseArchitecture(text);
        require(parseArchitecture(toString(arch)) == arch, "architecture names round-trip");
    });
    expectCleanOutcome("parseFeatureTarget", [&] { parseFeatureTarget(text); });
    expectCleanOutcome("parseProjectionKind", [&] {
        require(parseProjectionKind(toString(parseProjectionKind(text))) == parseProjectionKind(text),
                "projection names round-trip");
    });
}

void commandLine(const std::string& text)
{
    const std::vector<std::string> args = fuzz::splitArguments(text);
    if (fuzz::asksForHelp(args))
        return; // prints the help text to stdout and returns false: not interesting here

    cli::ArgParser p = fuzz::fuzzedParser();
    if (!expectCleanOutcome("ArgParser::parse",
                            [&] { require(p.parse(args), "parse returns true without --help"); }))
        return;
    expectCleanOutcome("ArgParser::getDouble", [&] {
        if (p.has("lambda"))
            require(std::isfinite(p.getDouble("lambda")), "getDouble is finite");
    });
    expectCleanOutcome("ArgParser::getInt", [&] { p.getInt("n"); });
    expectCleanOutcome("ArgParser::positionalValue", [&] { p.positionalValue("EXP"); });
    for (const std::string& item : cli::splitList(p.get("k")))
        require(!item.empty() && item.find(',') == std::string::npos,
                "splitList items are non-empty, comma-free");
    lambdaGrid(p.get("lambda-grid"), !p.isSet("absolute"));
    datasetSpec(p.get("data"));
}

void json(const std::string& text)
{
    expectCleanOutcome("JsonObject::parse", [&] {
        // As a manifest reads it: "recipe" may hold an object, "checkpoints" an array of them.
        const JsonObject object = JsonObject::parse(text, "fuzz.json", {"recipe", "checkpoints"});
        for (const std::string& key : object.keys())
            require(object.has(key), "every listed key is found");
        const JsonObject& recipe = object.has("recipe") ? object.getObject("recipe") : object;
        expectCleanOutcome("TrainRecipe::fromJson", [&] {
            const TrainRecipe r = TrainRecipe::fromJson(recipe, TrainRecipe{});
            r.validate(); // fromJson promises a valid recipe
        });
    });
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size < 2)
        return 0;
    const std::string text(reinterpret_cast<const char*>(data) + 2, size - 2);
    switch (data[0]) {
    case 'D':
        datasetSpec(text);
        break;
    case 'L':
        lambdaGrid(text, true);
        break;
    case 'A':
        lambdaGrid(text, false);
        break;
    case 'M':
    case 'T':
    case 'P':
        names(text);
        break;
    case 'C':
        commandLine(text);
        break;
    case 'J':
        json(text);
        break;
    default:
        datasetSpec(text);
        lambdaGrid(text, true);
        names(text);
        commandLine(text);
        json(text);
        break;
    }
    return 0;
}
