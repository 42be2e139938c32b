// The strict JSON reader of recipe files and import manifests (common/json_object.h).

#include "common/error.h"
#include "common/json_object.h"

#include "support/test_support.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace attri {
namespace {

/// The ConfigError message of parsing `text` (fails the test when it parses).
std::string parseError(const std::string& text, const std::vector<std::string>& nestable = {})
{
    try {
        JsonObject::parse(text, "f.json", nestable);
    } catch (const ConfigError& e) {
        return e.what();
    }
    ADD_FAILURE() << "parsed: " << text;
    return "";
}

TEST(JsonObjectTest, ReadsAFlatObject)
{
    const JsonObject o =
        JsonObject::parse("\xEF\xBB\xBF { \"s\": \"a\\\"b\\\\c\\/\\n\\u00e9\\ud83d\\ude00\",\n"
                          "\t\"n\": -12.5e-1, \"i\": 0, \"big\": 9223372036854775807,\r\n"
                          "\"t\": true, \"f\": false, \"z\": null, \"\": 1 }  \n",
                          "f.json");
    EXPECT_EQ(o.keys(), (std::vector<std::string>{"s", "n", "i", "big", "t", "f", "z", ""}));
    EXPECT_EQ(o.getString("s"), "a\"b\\c/\n\xC3\xA9\xF0\x9F\x98\x80");
    EXPECT_DOUBLE_EQ(o.getNumber("n"), -1.25);
    EXPECT_EQ(o.getInt("i"), 0);
    EXPECT_EQ(o.getInt("big"), 9223372036854775807LL);
    EXPECT_EQ(o.getUnsigned("big"), 9223372036854775807ULL);
    EXPECT_DOUBLE_EQ(o.getNumber("i"), 0.0);
    EXPECT_TRUE(o.getBool("t"));
    EXPECT_FALSE(o.getBool("f"));
    EXPECT_EQ(o.find("z")->kind, JsonValue::Kind::Null);
    EXPECT_FALSE(o.has("missing"));
    EXPECT_TRUE(JsonObject::parse("{}", "e.json").keys().empty());
    EXPECT_EQ(o.source(), "f.json");
}

TEST(JsonObjectTest, GettersNameTheFileTheKeyAndTheExpectedType)
{
    const JsonObject o = JsonObject::parse(R"({"s": "x", "n": 1.5, "neg": -3, "b": true})", "f.json");
    auto error = [](auto&& get) {
        try {
            get();
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(error([&] { o.getNumber("s"); }), "f.json: 's' must be a number, got \"x\"");
    EXPECT_EQ(error([&] { o.getInt("n"); }), "f.json: 'n' must be an integer, got 1.5");
    EXPECT_EQ(error([&] { o.getUnsigned("neg"); }), "f.json: 'neg' must be an integer >= 0, got -3");
    EXPECT_EQ(error([&] { o.getString("b"); }), "f.json: 'b' must be a string, got true");
    EXPECT_EQ(error([&] { o.getBool("n"); }), "f.json: 'n' must be true or false, got 1.5");
    EXPECT_EQ(error([&] { o.getString("nope"); }), "f.json: 'nope' is missing");
    EXPECT_EQ(error([&] { o.getObject("s"); }), "f.json: 's' must be an object, got \"x\"");
    EXPECT_EQ(error([&] {
                  o.requireKnownKeys({"s", "n", "neg"});
              }),
              "f.json: unknown key 'b' (known: s, n, neg)");
    EXPECT_NO_THROW(o.requireKnownKeys({"b", "neg", "n", "s"}));
}

// Syntax errors give the line and column where reading stopped.
TEST(JsonObjectTest, MalformedTextIsAnErrorWithLineAndColumn)
{
    EXPECT_EQ(parseError("{\"a\": 1,\n \"b\": }"),
              "f.json:2:7: expected a value for 'b' (a string, number, true, "
              "false or null), got '}'");
    EXPECT_EQ(parseError("{\"a\": 1,}"), "f.json:1:9: expected a key in double quotes, got '}'");
    EXPECT_EQ(parseError("{\"a\": 1 \"b\": 2}"),
              "f.json:1:9: expected ',' or '}' after the value of 'a', got '\"'");
    EXPECT_EQ(parseError(""), "f.json:1:1: expected an object '{', got an empty file");
    EXPECT_EQ(parseError("[1]"), "f.json:1:1: expected an object '{', got '['");
    EXPECT_EQ(parseError("{\"a\": 1} x"), "f.json:1:10: unexpected text after the object");
    EXPECT_EQ(parseError("{\"a\": 1}{}"), "f.json:1:9: unexpected text after the object");
    EXPECT_EQ(parseError("{\"a\": 1"),
              "f.json:1:8: expected ',' or '}' after the value of 'a', got the end of the file");
    EXPECT_EQ(parseError("{\"a\": \"x}"), "f.json:1:10: unterminated string");
    EXPECT_EQ(parseError("{a: 1}"), "f.json:1:2: expected a key in double quotes, got 'a'");
    EXPECT_EQ(parseError("{'a': 1}"), "f.json:1:2: expected a key in double quotes, got '''");
    EXPECT_EQ(parseError("{\"a\" 1}"), "f.json:1:6: expected ':' after the key, got '1'");
    // Numbers: JSON's grammar only.
    for (const char* bad :
         {"01", "+1", ".5", "1.", "1e", "-", "0x10", "NaN", "Infinity", "-Infinity", "True", "nul"})
        EXPECT_NE(parseError(std::string("{\"a\": ") + bad + "}").find("f.json:1:"), std::string::npos)
            << bad;
    // Strings: escapes and control characters.
    EXPECT_NE(parseError("{\"a\": \"\\x\"}").find("unknown escape '\\x'"), std::string::npos);
    EXPECT_NE(parseError("{\"a\": \"\\u12G4\"}").find("four hex digits"), std::string::npos);
    EXPECT_NE(parseError("{\"a\": \"\\udc00\"}").find("low surrogate"), std::string::npos);
    EXPECT_NE(parseError("{\"a\": \"\\ud800x\"}").find("high surrogate"), std::string::npos);
    EXPECT_NE(parseError("{\"a\": \"tab\there\"}").find("control character"), std::string::npos);
    EXPECT_NE(parseError("{\"a\": 1 // comment\n}").find("f.json:1:9"), std::string::npos);
}

TEST(JsonObjectTest, DuplicateKeysAreAnError)
{
    EXPECT_EQ(parseError("{\"lr\": 1,\n  \"lr\": 2}"), "f.json:2:3: duplicate key 'lr'");
    EXPECT_EQ(parseError(R"({"c": [{"e": 1, "e": 2}]})", {"c"}), "f.json:1:17: duplicate key 'c[0].e'");
}

// Only the keys the caller names may hold one more level: a flat object or an array of flat
// objects. Everything deeper, or nested elsewhere, is an error naming the key.
TEST(JsonObjectTest, NestingOnlyWhereAllowedAndOneLevelDeep)
{
    EXPECT_EQ(parseError(R"({"recipe": {"lr": 1}})"), "f.json:1:12: 'recipe' holds an object; only strings, "
                                                      "numbers, true, false and null are allowed here");
    EXPECT_EQ(parseError(R"({"a": [1, 2]})"),
              "f.json:1:7: 'a' holds an array; only strings, numbers, true, false and null are allowed here");
    EXPECT_EQ(
        parseError(R"({"r": {"x": {"y": 1}}})", {"r"}),
        "f.json:1:13: 'r.x' holds an object; only strings, numbers, true, false and null are allowed here");
    EXPECT_EQ(
        parseError(R"({"c": [{"x": [1]}]})", {"c"}),
        "f.json:1:14: 'c[0].x' holds an array; only strings, numbers, true, false and null are allowed here");
    EXPECT_EQ(parseError(R"({"c": [1]})", {"c"}), "f.json:1:8: 'c' must be an array of objects, got '1'");
    EXPECT_EQ(parseError(R"({"c": [{}, ]})", {"c"}), "f.json:1:12: 'c' must be an array of objects, got ']'");

    const JsonObject o = JsonObject::parse(
        R"({"r": {"lr": 0.5}, "c": [{"file": "a.pt", "epoch": 2}, {"file": "b.pt", "epoch": 4}], "e": []})",
        "f.json", {"r", "c", "e"});
    EXPECT_DOUBLE_EQ(o.getObject("r").getNumber("lr"), 0.5);
    ASSERT_EQ(o.getArray("c").size(), 2u);
    EXPECT_EQ(o.getArray("c")[1].getString("file"), "b.pt");
    EXPECT_TRUE(o.getArray("e").empty());
    // Errors inside name the path of the key.
    try {
        o.getArray("c")[1].getString("epoch");
        ADD_FAILURE();
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()), "f.json: 'c[1].epoch' must be a string, got 4");
    }
    try {
        o.getArray("r");
        ADD_FAILURE();
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()), "f.json: 'r' must be an array of objects, got an object");
    }
}

TEST(JsonObjectTest, ReadFileNamesTheFile)
{
    test::TempDir dir;
    test::writeFile(dir.file("r.json"), "{\n  \"lr\": 0.1,\n  \"lr\": 0.2\n}\n");
    try {
        JsonObject::readFile(dir.file("r.json"));
        ADD_FAILURE();
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()), dir.file("r.json") + ":3:3: duplicate key 'lr'");
    }
    EXPECT_THROW(JsonObject::readFile(dir.file("absent.json")), IoError);
}

} // namespace
} // namespace attri
