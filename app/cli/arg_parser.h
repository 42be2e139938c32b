#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace attri::cli {

/// A small declarative option parser: each command declares its options (with help text and
/// defaults) so that `--help` is generated from the same table that parsing uses.
class ArgParser {
public:
    ArgParser(std::string command, std::string summary);

    /// An option taking a value (`--name VALUE` or `--name=VALUE`).
    ArgParser& option(const std::string& name, const std::string& valueName, const std::string& help,
                      std::optional<std::string> defaultValue = std::nullopt);
    /// An option that may be given several times (`--name A --name B`); read with getAll.
    ArgParser& repeatable(const std::string& name, const std::string& valueName, const std::string& help);
    /// A boolean flag (`--name`).
    ArgParser& flag(const std::string& name, const std::string& help);
    /// A required positional argument.
    ArgParser& positional(const std::string& name, const std::string& help);

    /// Parses; throws ConfigError on unknown options, missing values or positionals.
    /// Returns false when --help was given (help already printed to stdout).
    bool parse(const std::vector<std::string>& args);

    std::string help() const;

    bool has(const std::string& name) const;
    std::string get(const std::string& name) const; ///< value or default; throws if neither
    std::optional<std::string> getOptional(const std::string& name) const;
    /// Every value of a repeatable option, in command-line order (empty when not given).
    std::vector<std::string> getAll(const std::string& name) const;
    bool isSet(const std::string& name) const; ///< given explicitly on the command line
    double getDouble(const std::string& name) const;
    int64_t getInt(const std::string& name) const;
    std::string positionalValue(const std::string& name) const;

private:
    struct Option {
        std::string name, valueName, help;
        std::optional<std::string> defaultValue;
        bool isFlag = false;
        bool repeatable = false;
    };
    std::string m_command, m_summary;
    std::vector<Option> m_options;
    std::vector<std::pair<std::string, std::string>> m_positionals; // name, help
    std::map<std::string, std::string> m_values;
    std::map<std::string, std::vector<std::string>> m_repeated;
    std::map<std::string, std::string> m_positionalValues;

    const Option* find(const std::string& name) const;
};

/// Splits "a,b,c" (empty items are dropped).
std::vector<std::string> splitList(const std::string& text);

} // namespace attri::cli
