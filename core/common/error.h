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
