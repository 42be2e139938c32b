#pragma once
// A strict reader for the small JSON files users write or scripts emit: a training recipe, an
// import manifest. It reads one object whose values are strings, numbers, true, false or null;
// only keys the caller names may hold one level more (a flat object or an array of flat objects).
// Anything else (a deeper value, a duplicate key, trailing text, NaN, a comment) is an error.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace attri {

class JsonObject;

/// One value of a JSON object. Numbers keep their literal, so integers are read exactly.
struct JsonValue {
    enum class Kind { Null, Bool, Number, String, Object, Array };
    Kind kind = Kind::Null;
    bool boolean = false;
    std::string text;                ///< a string's value or a number's literal
    std::vector<JsonObject> objects; ///< Object: exactly one; Array: its elements (flat objects)
};

/// An object read by JsonObject::parse. Getters throw ConfigError naming the source (the file)
/// and the key, with what was expected.
class JsonObject {
public:
    /// Parses `text`, which must hold exactly one object. `source` names it in errors (a file's
    /// path); syntax errors say "SOURCE:LINE:COLUMN: ...". Top-level keys in `nestable` may hold a
    /// flat object or an array of flat objects. Throws ConfigError.
    static JsonObject parse(const std::string& text, const std::string& source,
                            const std::vector<std::string>& nestable = {});
    /// Reads and parses a file; IoError when it cannot be read.
    static JsonObject readFile(const std::string& path, const std::vector<std::string>& nestable = {});

    const std::string& source() const { return m_source; }
    /// The key as errors name it: "epoch" at the top, "checkpoints[1].epoch" inside.
    std::string qualified(const std::string& key) const { return m_prefix + key; }
    std::vector<std::string> keys() const; ///< in the text's order
    bool has(const std::string& key) const { return find(key) != nullptr; }
    const JsonValue* find(const std::string& key) const;
    /// Throws ConfigError naming the first key not in `known`, and listing `known`.
    void requireKnownKeys(const std::vector<std::string>& known) const;

    std::string getString(const std::string& key) const;
    double getNumber(const std::string& key) const;     ///< finite
    int64_t getInt(const std::string& key) const;       ///< an integer literal within int64
    uint64_t getUnsigned(const std::string& key) const; ///< a non-negative integer literal within uint64
    bool getBool(const std::string& key) const;
    const JsonObject& getObject(const std::string& key) const;
    const std::vector<JsonObject>& getArray(const std::string& key) const;

    /// Throws ConfigError "SOURCE: 'KEY' must be EXPECTED" (with what the value is), for checks
    /// made by the caller.
    [[noreturn]] void fail(const std::string& key, const std::string& expected) const;

private:
    friend class JsonParser;
    const JsonValue& require(const std::string& key) const;
    [[noreturn]] void wrongType(const std::string& key, const std::string& expected) const;

    std::string m_source;
    std::string m_prefix;
    std::vector<std::pair<std::string, JsonValue>> m_members;
};

} // namespace attri
