#pragma once

#include "common/error.h"

#include <string>

namespace attri {

/// Part of a file does not match its checksum (or cannot be parsed where a checksum guards it):
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

} // namespace attri
