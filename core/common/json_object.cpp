#include "common/json_object.h"

#include "common/error.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <locale>
#include <sstream>

namespace attri {

namespace {

std::string kindName(const JsonValue& v)
{
    switch (v.kind) {
    case JsonValue::Kind::Null:
        return "null";
    case JsonValue::Kind::Bool:
        return v.boolean ? "true" : "false";
    case JsonValue::Kind::Number:
        return v.text;
    case JsonValue::Kind::String:
        return "\"" + v.text + "\"";
    case JsonValue::Kind::Object:
        return "an object";
    case JsonValue::Kind::Array:
        return "an array";
    }
    return "?";
}

void appendUtf8(std::string& out, uint32_t cp)
{
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

} // namespace

/// Recursive descent over RFC 8259, limited to the two levels JsonObject allows.
class JsonParser {
public:
    JsonParser(const std::string& text, const std::string& source) : m_text(text), m_source(source) {}

    JsonObject parseDocument(const std::vector<std::string>& nestable)
    {
        // A UTF-8 byte-order mark, as some Windows editors write, is not part of the text.
        if (m_text.compare(0, 3, "\xEF\xBB\xBF") == 0)
            advance(3);
        skipSpace();
        if (atEnd())
            error("expected an object '{', got an empty file");
        JsonObject top = parseObject("", &nestable);
        skipSpace();
        if (!atEnd())
            error("unexpected text after the object");
        return top;
    }

private:
    const std::string& m_text;
    const std::string& m_source;
    size_t m_pos = 0;
    int m_line = 1;
    int m_column = 1;

    [[noreturn]] void error(const std::string& what) const
    {
        throw ConfigError(m_source + ":" + std::to_string(m_line) + ":" + std::to_string(m_column) + ": "
                          + what);
    }
    bool atEnd() const { return m_pos >= m_text.size(); }
    char peek() const { return atEnd() ? '\0' : m_text[m_pos]; }
    void advance(size_t n = 1)
    {
        for (size_t i = 0; i < n && !atEnd(); ++i, ++m_pos) {
            if (m_text[m_pos] == '\n') {
                ++m_line;
                m_column = 1;
            } else {
                ++m_column;
            }
        }
    }
    void skipSpace()
    {
        while (!atEnd() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
            advance();
    }
    std::string describeHere() const
    {
        if (atEnd())
            return "the end of the file";
        const unsigned char c = static_cast<unsigned char>(peek());
        if (c < 0x20 || c >= 0x7F)
            return "byte " + std::to_string(c);
        return std::string("'") + peek() + "'";
    }
    void expect(char c, const char* what)
    {
        skipSpace();
        if (peek() != c)
            error(std::string("expected ") + what + ", got " + describeHere());
        advance();
    }

    /// `nestable`: the keys that may hold one more level (top level only); null inside.
    JsonObject parseObject(const std::string& prefix, const std::vector<std::string>* nestable)
    {
        JsonObject obj;
        obj.m_source = m_source;
        obj.m_prefix = prefix;
        expect('{', "an object '{'");
        skipSpace();
        if (peek() == '}') {
            advance();
            return obj;
        }
        while (true) {
            skipSpace();
            if (peek() != '"')
                error("expected a key in double quotes, got " + describeHere());
            const int keyLine = m_line, keyColumn = m_column;
            std::string key = parseString();
            for (const auto& member : obj.m_members)
                if (member.first == key) {
                    m_line = keyLine;
                    m_column = keyColumn;
                    error("duplicate key '" + prefix + key + "'");
                }
            expect(':', "':' after the key");
            skipSpace();
            const bool mayNest =
                nestable && std::find(nestable->begin(), nestable->end(), key) != nestable->end();
            obj.m_members.emplace_back(key, parseValue(prefix + key, mayNest));
            skipSpace();
            if (peek() == ',') {
                advance();
                continue;
            }
            if (peek() == '}') {
                advance();
                return obj;
            }
            error("expected ',' or '}' after the value of '" + prefix + key + "', got " + describeHere());
        }
    }

    JsonValue parseValue(const std::string& qualifiedKey, bool mayNest)
    {
        JsonValue v;
        const char c = peek();
        if (c == '{' || c == '[') {
            if (!mayNest)
                error("'" + qualifiedKey + "' holds " + (c == '{' ? "an object" : "an array")
                      + "; only strings, numbers, true, false and null are allowed here");
            if (c == '{') {
                v.kind = JsonValue::Kind::Object;
                v.objects.push_back(parseObject(qualifiedKey + ".", nullptr));
                return v;
            }
            v.kind = JsonValue::Kind::Array;
            advance();
            skipSpace();
            if (peek() == ']') {
                advance();
                return v;
            }
            while (true) {
                skipSpace();
                if (peek() != '{')
                    error("'" + qualifiedKey + "' must be an array of objects, got " + describeHere());
                v.objects.push_back(
                    parseObject(qualifiedKey + "[" + std::to_string(v.objects.size()) + "].", nullptr));
                skipSpace();
                if (peek() == ',') {
                    advance();
                    continue;
                }
                if (peek() == ']') {
                    advance();
                    return v;
                }
                error("expected ',' or ']' in '" + qualifiedKey + "', got " + describeHere());
            }
        }
        if (c == '"') {
            v.kind = JsonValue::Kind::String;
            v.text = parseString();
            return v;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            v.kind = JsonValue::Kind::Number;
            v.text = parseNumber();
            return v;
        }
        for (const char* word : {"true", "false", "null"}) {
            const std::string w = word;
            if (m_text.compare(m_pos, w.size(), w) == 0) {
                advance(w.size());
                v.kind = w == "null" ? JsonValue::Kind::Null : JsonValue::Kind::Bool;
                v.boolean = w == "true";
                return v;
            }
        }
        error("expected a value for '" + qualifiedKey + "' (a string, number, true, false or null), got "
              + describeHere());
    }

    std::string parseNumber()
    {
        const size_t start = m_pos;
        auto digits = [&]() {
            const size_t from = m_pos;
            while (peek() >= '0' && peek() <= '9')
                advance();
            return m_pos - from;
        };
        if (peek() == '-')
            advance();
        if (peek() == '0') {
            advance();
            if (peek() >= '0' && peek() <= '9')
                error("a number may not start with 0 (leading zeros are not JSON)");
        } else if (digits() == 0) {
            error("expected a digit, got " + describeHere());
        }
        if (peek() == '.') {
            advance();
            if (digits() == 0)
                error("expected a digit after '.', got " + describeHere());
        }
        if (peek() == 'e' || peek() == 'E') {
            advance();
            if (peek() == '+' || peek() == '-')
                advance();
            if (digits() == 0)
                error("expected a digit in the exponent, got " + describeHere());
        }
        return m_text.substr(start, m_pos - start);
    }

    uint32_t hex4()
    {
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = peek();
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= static_cast<uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= static_cast<uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= static_cast<uint32_t>(c - 'A' + 10);
            else
                error("expected four hex digits after \\u, got " + describeHere());
            advance();
        }
        return v;
    }

    std::string parseString()
    {
        advance(); // the opening quote
        std::string out;
        while (true) {
            if (atEnd())
                error("unterminated string");
            const char c = peek();
            if (c == '"') {
                advance();
                return out;
            }
            if (static_cast<unsigned char>(c) < 0x20)
                error("control character (byte " + std::to_string(static_cast<int>(c))
                      + ") inside a string; write it escaped");
            if (c != '\\') {
                out += c;
                advance();
                continue;
            }
            advance();
            const char e = peek();
            advance();
            switch (e) {
            case '"':
            case '\\':
            case '/':
                out += e;
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 't':
                out += '\t';
                break;
            case 'u': {
                uint32_t cp = hex4();
                if (cp >= 0xD800 && cp < 0xDC00) {
                    if (m_text.compare(m_pos, 2, "\\u") != 0)
                        error("a \\u high surrogate must be followed by a \\u low surrogate");
                    advance(2);
                    const uint32_t low = hex4();
                    if (low < 0xDC00 || low >= 0xE000)
                        error("a \\u high surrogate must be followed by a \\u low surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    error("a \\u low surrogate without a high one");
                }
                appendUtf8(out, cp);
                break;
            }
            default:
                error(std::string("unknown escape '\\") + (e == '\0' ? std::string("end") : std::string(1, e))
                      + "' in a string");
            }
        }
    }
};

JsonObject JsonObject::parse(const std::string& text, const std::string& source,
                             const std::vector<std::string>& nestable)
{
    return JsonParser(text, source).parseDocument(nestable);
}

JsonObject JsonObject::readFile(const std::string& path, const std::vector<std::string>& nestable)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw IoError(path + ": cannot open for reading");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad())
        throw IoError(path + ": read failed");
    return parse(text.str(), path, nestable);
}

std::vector<std::string> JsonObject::keys() const
{
    std::vector<std::string> out;
    for (const auto& member : m_members)
        out.push_back(member.first);
    return out;
}

const JsonValue* JsonObject::find(const std::string& key) const
{
    for (const auto& member : m_members)
        if (member.first == key)
            return &member.second;
    return nullptr;
}

void JsonObject::requireKnownKeys(const std::vector<std::string>& known) const
{
    for (const auto& member : m_members)
        if (std::find(known.begin(), known.end(), member.first) == known.end()) {
            std::string list;
            for (const auto& k : known)
                list += (list.empty() ? "" : ", ") + k;
            throw ConfigError(m_source + ": unknown key '" + qualified(member.first) + "' (known: " + list
                              + ")");
        }
}

const JsonValue& JsonObject::require(const std::string& key) const
{
    const JsonValue* v = find(key);
    if (!v)
        throw ConfigError(m_source + ": '" + qualified(key) + "' is missing");
    return *v;
}

void JsonObject::fail(const std::string& key, const std::string& expected) const
{
    const JsonValue* v = find(key);
    throw ConfigError(m_source + ": '" + qualified(key) + "' must be " + expected
                      + (v ? ", got " + kindName(*v) : std::string(", but it is missing")));
}

void JsonObject::wrongType(const std::string& key, const std::string& expected) const
{
    fail(key, expected);
}

std::string JsonObject::getString(const std::string& key) const
{
    const JsonValue& v = require(key);
    if (v.kind != JsonValue::Kind::String)
        wrongType(key, "a string");
    return v.text;
}

double JsonObject::getNumber(const std::string& key) const
{
    const JsonValue& v = require(key);
    if (v.kind != JsonValue::Kind::Number)
        wrongType(key, "a number");
    std::istringstream in(v.text);
    in.imbue(std::locale::classic());
    double out = 0.0;
    in >> out;
    if (!in || !std::isfinite(out))
        wrongType(key, "a finite number");
    return out;
}

int64_t JsonObject::getInt(const std::string& key) const
{
    const JsonValue& v = require(key);
    if (v.kind != JsonValue::Kind::Number || v.text.find_first_of(".eE") != std::string::npos)
        wrongType(key, "an integer");
    errno = 0;
    char* end = nullptr;
    const long long out = std::strtoll(v.text.c_str(), &end, 10);
    if (errno == ERANGE || *end != '\0')
        wrongType(key, "an integer within 64 bits");
    return out;
}

uint64_t JsonObject::getUnsigned(const std::string& key) const
{
    const JsonValue& v = require(key);
    if (v.kind != JsonValue::Kind::Number || v.text.find_first_of(".eE-") != std::string::npos)
        wrongType(key, "an integer >= 0");
    errno = 0;
    char* end = nullptr;
    const unsigned long long out = std::strtoull(v.text.c_str(), &end, 10);
    if (errno == ERANGE || *end != '\0')
        wrongType(key, "an integer within 64 bits");
    return out;
}

bool JsonObject::getBool(const std::string& key) const
{
    const JsonValue& v = require(key);
    if (v.kind != JsonValue::Kind::Bool)
        wrongType(key, "true or false");
    return v.boolean;
}

const JsonObject& JsonObject::getObject(const std::string& key) const
{
    const JsonValue& v = require(key);
    if (v.kind != JsonValue::Kind::Object)
        wrongType(key, "an object");
    return v.objects.front();
}

const std::vector<JsonObject>& JsonObject::getArray(const std::string& key) const
{
    const JsonValue& v = require(key);
    if (v.kind != JsonValue::Kind::Array)
        wrongType(key, "an array of objects");
    return v.objects;
}

} // namespace attri
