#pragma once

#include <functional>
#include <string>

namespace attri {

class H5File;

/// Writes an HDF5 file so that a crash or an error never leaves a half-written file at `path`:
/// the work happens in a temporary file in the same folder (a copy of the existing file when
/// `startFromExisting` and the file exists), which is flushed, fsync'ed and renamed over `path`
/// only after `fill` returns. On any exception the temporary file is removed and `path` is
/// untouched. Throws IoError naming the folder when it is not writable. Writes into one folder
/// are serialized (an flock on the folder, across threads and processes), so concurrent updates
/// of a file that start from the existing one never lose each other's changes.
void writeHdf5Atomically(const std::string& path, bool startFromExisting,
                         const std::function<void(H5File&)>& fill);

} // namespace attri
