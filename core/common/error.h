#pragma once

#include <stdexcept>
#include <string>

namespace attri {

/// Base of every error the core throws. Messages name the file, the field and what was expected.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A file could not be opened, read, written or renamed.
class IoError : public Error {
public:
    using Error::Error;
};

/// A file was readable but its contents are not what the format requires.
class FormatError : public Error {
public:
    using Error::Error;
};

/// Part of a file does not match its checksum (or no longer parses where a checksum guards it):
/// the bytes changed after AttriScope wrote them. Names the file and the object (a dataset or
/// group path such as "/features/KEY/train"), so a caller can say what is damaged and offer to
/// recompute that part. A FormatError, so code that handles bad files handles this one too.
class DamagedDataError : public FormatError {
public:
    DamagedDataError(const std::string& file, const std::string& object, const std::string& detail)
        : FormatError(file + ": " + object + " is damaged (" + detail + ")"), m_file(file), m_object(object)
    {
    }
    const std::string& file() const { return m_file; }
    const std::string& object() const { return m_object; }

private:
    std::string m_file;
    std::string m_object;
};

/// A parameter, option or spec string is invalid.
class ConfigError : public Error {
public:
    using Error::Error;
};

/// A job was cancelled through its CancelToken.
class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled") {}
};

} // namespace attri
