#include "arg_parser.h"

#include "common/error.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace attri::cli {

ArgParser::ArgParser(std::string command, std::string summary)
    : m_command(std::move(command)), m_summary(std::move(summary))
{
}

ArgParser& ArgParser::option(const std::string& name, const std::string& valueName, const std::string& help,
                             std::optional<std::string> defaultValue)
{
    m_options.push_back({name, valueName, help, std::move(defaultValue), false});
    return *this;
}

ArgParser& ArgParser::repeatable(const std::string& name, const std::string& valueName, const std::string& help)
{
    m_options.push_back({name, valueName, help + " (may be given several times)", std::nullopt, false, true});
    return *this;
}

std::vector<std::string> ArgParser::getAll(const std::string& name) const
{
    const auto it = m_repeated.find(name);
    return it == m_repeated.end() ? std::vector<std::string>{} : it->second;
}

ArgParser& ArgParser::flag(const std::string& name, const std::string& help)
{
    m_options.push_back({name, "", help, std::nullopt, true});
    return *this;
}

ArgParser& ArgParser::positional(const std::string& name, const std::string& help)
{
    m_positionals.emplace_back(name, help);
    return *this;
}

const ArgParser::Option* ArgParser::find(const std::string& name) const
{
    for (const auto& o : m_options)
        if (o.name == name)
            return &o;
    return nullptr;
}

bool ArgParser::parse(const std::vector<std::string>& args)
{
    size_t positionalIndex = 0;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << help();
            return false;
        }
        if (arg.rfind("--", 0) == 0) {
            std::string name = arg.substr(2);
            std::optional<std::string> inlineValue;
            if (auto eq = name.find('='); eq != std::string::npos) {
                inlineValue = name.substr(eq + 1);
                name = name.substr(0, eq);
            }
            const Option* opt = find(name);
            if (!opt)
                throw ConfigError(m_command + ": unknown option --" + name + " (see " + m_command + " --help)");
            if (opt->isFlag) {
                if (inlineValue)
                    throw ConfigError(m_command + ": --" + name + " takes no value");
                m_values[name] = "1";
            } else {
                if (!inlineValue && i + 1 >= args.size())
                    throw ConfigError(m_command + ": --" + name + " needs a value (" + opt->valueName + ")");
                const std::string value = inlineValue ? *inlineValue : args[++i];
                m_values[name] = value;
                if (opt->repeatable)
                    m_repeated[name].push_back(value);
            }
            continue;
        }
        if (positionalIndex >= m_positionals.size())
            throw ConfigError(m_command + ": unexpected argument '" + arg + "'");
        m_positionalValues[m_positionals[positionalIndex++].first] = arg;
    }
    if (positionalIndex < m_positionals.size())
        throw ConfigError(m_command + ": missing " + m_positionals[positionalIndex].first + " (see " + m_command
                          + " --help)");
    return true;
}

namespace {

/// Display width of UTF-8 text: its code points (the help has no wide characters).
size_t displayWidth(const std::string& s)
{
    size_t n = 0;
    for (unsigned char c : s)
        n += (c & 0xC0) != 0x80;
    return n;
}

/// `text` reflowed at word boundaries (line breaks in it count as spaces) into lines of at most
/// `width` columns after an indent of six spaces.
std::string indentedHelp(const std::string& text, size_t width = 94)
{
    const std::string indent = "      ";
    std::ostringstream out;
    out << indent;
    std::istringstream words(text);
    size_t used = 0;
    for (std::string word; words >> word;) {
        if (used > 0 && used + 1 + displayWidth(word) > width) {
            out << "\n" << indent;
            used = 0;
        }
        if (used > 0) {
            out << ' ';
            ++used;
        }
        out << word;
        used += displayWidth(word);
    }
    return out.str();
}

} // namespace

std::string ArgParser::help() const
{
    std::ostringstream out;
    out << "Usage: " << m_command;
    for (const auto& [name, _] : m_positionals)
        out << " " << name;
    if (!m_options.empty())
        out << " [options]";
    out << "\n\n" << m_summary << "\n";
    if (!m_positionals.empty()) {
        out << "\nArguments:\n";
        for (const auto& [name, text] : m_positionals)
            out << "  " << name << "\n" << indentedHelp(text) << "\n";
    }
    if (!m_options.empty()) {
        out << "\nOptions:\n";
        for (const auto& o : m_options) {
            out << "  --" << o.name;
            if (!o.isFlag)
                out << " " << o.valueName;
            std::string text = o.help;
            if (o.defaultValue && !o.defaultValue->empty())
                text += " (default: " + *o.defaultValue + ")";
            out << "\n" << indentedHelp(text) << "\n";
        }
    }
    out << "  --help\n      Show this help.\n";
    return out.str();
}

bool ArgParser::has(const std::string& name) const
{
    if (m_values.count(name))
        return true;
    const Option* o = find(name);
    return o && o->defaultValue.has_value();
}

bool ArgParser::isSet(const std::string& name) const { return m_values.count(name) > 0; }

std::optional<std::string> ArgParser::getOptional(const std::string& name) const
{
    if (auto it = m_values.find(name); it != m_values.end())
        return it->second;
    if (const Option* o = find(name); o && o->defaultValue)
        return o->defaultValue;
    return std::nullopt;
}

std::string ArgParser::get(const std::string& name) const
{
    auto v = getOptional(name);
    if (!v)
        throw ConfigError(m_command + ": --" + name + " is required (see " + m_command + " --help)");
    return *v;
}

double ArgParser::getDouble(const std::string& name) const
{
    std::string text = get(name);
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
        throw ConfigError(m_command + ": --" + name + " expects a number, got '" + text + "'");
    return v;
}

int64_t ArgParser::getInt(const std::string& name) const
{
    std::string text = get(name);
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE)
        throw ConfigError(m_command + ": --" + name + " expects an integer, got '" + text + "'");
    return v;
}

std::string ArgParser::positionalValue(const std::string& name) const
{
    auto it = m_positionalValues.find(name);
    if (it == m_positionalValues.end())
        throw ConfigError(m_command + ": missing " + name);
    return it->second;
}

std::vector<std::string> splitList(const std::string& text)
{
    std::vector<std::string> items;
    std::string item;
    std::istringstream in(text);
    while (std::getline(in, item, ','))
        if (!item.empty())
            items.push_back(item);
    return items;
}

} // namespace attri::cli
