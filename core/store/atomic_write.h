#pragma once

#include <functional>
#include <string>

namespace attri {

class H5File;

/// Writes an HDF5 file so that a crash or an error never leaves a half-written file at `path`:
/// the work happens in a temporary file in the same folder (a copy of the existing file when
/// `startFromExisting` and the file exists), which is flushed, fsync'ed and renamed over `path`
/// only after `fill` returns. On any exception the temporary file is removed and `path` is
/// untouched. Throws IoError naming the folder when it is not writable. An existing file without
/// checksums (written by an older build) is upgraded: the new file carries them. Writes into one folder
/// are serialized (an flock on the folder, across threads and processes), so concurrent updates
/// of a file that start from the existing one never lose each other's changes.
/// Refuses (IoError) a `path` that is a symbolic link: the link could point anywhere, and
/// AttriScope writes only regular files in the folder the user chose.
void writeHdf5Atomically(const std::string& path, bool startFromExisting,
                         const std::function<void(H5File&)>& fill);

/// The same guarantees for a text file (tables, figures): `text` lands in a temporary file in the
/// folder, is fsync'ed and renamed over `path`; a symbolic link at `path` is refused.
void writeTextAtomically(const std::string& path, const std::string& text);

/// `folder`/`name` for a file AttriScope names itself inside the folder the user chose (a
/// study's tables and figures, a side file next to an experiment file). Throws IoError unless
/// `name` is a plain file name: not empty, not "." or "..", without a path separator.
std::string fileInFolder(const std::string& folder, const std::string& name);

} // namespace attri
