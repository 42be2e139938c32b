#include "store/atomic_write.h"

#include "common/error.h"
#include "store/h5_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace attri {

namespace {

std::string errnoText(int err)
{
    return std::strerror(err);
}

/// Flushes a file's (or folder's) contents to the disk so the rename cannot overtake them.
void fsyncPath(const std::string& path, bool directory)
{
    int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (directory)
            return; // best effort: the data itself is already durable
        throw IoError("cannot open " + path + " to flush it: " + errnoText(err));
    }
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    // Some filesystems do not support fsync on folders (EINVAL); the rename is done by then.
    if (rc != 0 && !directory)
        throw IoError("cannot flush " + path + " to disk: " + errnoText(err));
}

std::string tempName(const fs::path& folder, const std::string& name)
{
    std::random_device rd;
    std::ostringstream ss;
    ss << '.' << name << ".tmp-" << ::getpid() << '-' << std::hex << rd() << rd();
    return (folder / ss.str()).string();
}

/// An exclusive flock(2) on the folder for the duration of one write: writers of this process
/// (other threads, e.g. a finished attribution and an "Accept" in the GUI) and of other processes
/// (the CLI on the same file) take turns, so each copies the latest file and no update is lost.
/// A lock on the folder, not on the file, because the file is replaced by rename; it leaves no
/// lock file behind. Best effort where the filesystem has no flock (the write goes ahead).
class FolderLock {
public:
    explicit FolderLock(const std::string& folder)
        : m_fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC))
    {
        if (m_fd < 0)
            return;
        while (::flock(m_fd, LOCK_EX) != 0 && errno == EINTR) {
        }
    }
    ~FolderLock()
    {
        if (m_fd >= 0)
            ::close(m_fd); // releases the lock
    }
    FolderLock(const FolderLock&) = delete;
    FolderLock& operator=(const FolderLock&) = delete;

private:
    int m_fd;
};

/// Renames the finished temporary file over `path`, keeping the permissions of the file it
/// replaces (new files get 0666 & umask).
void renameOver(const std::string& tmp, const std::string& path)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0)
        ::chmod(tmp.c_str(), st.st_mode & 07777);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        throw IoError("cannot replace " + path + " with " + tmp + ": " + errnoText(errno));
}

/// The folder of `path` ("." for a bare name) after checking that `path` names a file that is
/// not a folder and not a symbolic link.
fs::path checkedTarget(const std::string& path)
{
    const fs::path target(path);
    fs::path folder = target.parent_path();
    if (folder.empty())
        folder = ".";
    const std::string name = target.filename().string();
    if (name.empty() || name == "." || name == "..")
        throw IoError("cannot write " + path + ": not a file name");
    std::error_code ec;
    if (fs::is_symlink(target, ec)) {
        const fs::path to = fs::read_symlink(target, ec);
        throw IoError(
            "refusing to write " + path + ": it is a symbolic link (to " + to.string()
            + "); AttriScope writes only regular files in the folder you chose. Remove the link, or "
              "name the real file");
    }
    if (fs::is_directory(target, ec))
        throw IoError("cannot write " + path + ": it is a folder");
    // Fail before doing any work when the folder cannot take the temporary file.
    if (::access(folder.c_str(), W_OK | X_OK) != 0)
        throw IoError("cannot write to folder " + folder.string() + ": " + errnoText(errno));
    return folder;
}

} // namespace

std::string fileInFolder(const std::string& folder, const std::string& name)
{
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos
        || name.find('\0') != std::string::npos)
        throw IoError("refusing to write '" + name + "' in " + folder + ": not a plain file name");
    return (fs::path(folder) / name).string();
}

namespace {

/// The shared protocol of both writers: under the folder lock, `produce` writes the complete new
/// contents to a fresh temporary file in the folder (flushed to disk), which then replaces `path`
/// by rename; on any exception the temporary file is removed and `path` is untouched.
void replaceViaTemporary(const std::string& path, const std::function<void(const std::string& tmp)>& produce)
{
    const fs::path folder = checkedTarget(path);
    const FolderLock lock(folder.string());
    const std::string tmp = tempName(folder, fs::path(path).filename().string());
    try {
        produce(tmp);
        renameOver(tmp, path);
    } catch (...) {
        std::error_code removeError;
        fs::remove(tmp, removeError);
        throw;
    }
    fsyncPath(folder.string(), true);
}

} // namespace

void writeTextAtomically(const std::string& path, const std::string& text)
{
    replaceViaTemporary(path, [&](const std::string& tmp) {
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0)
            throw IoError("cannot create " + tmp + ": " + errnoText(errno));
        size_t done = 0;
        int err = 0;
        while (done < text.size()) {
            const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                err = w < 0 ? errno : EIO;
                break;
            }
            done += static_cast<size_t>(w);
        }
        if (err == 0 && ::fsync(fd) != 0)
            err = errno;
        ::close(fd);
        if (err != 0)
            throw IoError("cannot write " + path + ": " + errnoText(err));
    });
}

// Note: HDF5 does not reclaim the space of removed or replaced objects, so a file updated many
// times with startFromExisting grows. Acceptable for now; h5repack (or rewriting from scratch
// with startFromExisting = false) compacts it.
void writeHdf5Atomically(const std::string& path, bool startFromExisting,
                         const std::function<void(H5File&)>& fill)
{
    replaceViaTemporary(path, [&](const std::string& tmp) {
        std::error_code ec;
        H5File::Mode mode = H5File::Mode::Truncate;
        bool upgrade = false;
        if (startFromExisting && fs::exists(path, ec)) {
            // A file written before checksums is upgraded: copied object by object into a new
            // file that carries them, rather than byte for byte.
            upgrade = !H5File(path, H5File::Mode::ReadOnly).checksummed();
            if (!upgrade) {
                std::error_code copyError;
                fs::copy_file(path, tmp, fs::copy_options::overwrite_existing, copyError);
                if (copyError)
                    throw IoError("cannot copy " + path + " to " + tmp + ": " + copyError.message());
                mode = H5File::Mode::ReadWrite;
            }
        }
        {
            H5File file(tmp, mode);
            if (upgrade)
                H5File::copyContents(H5File(path, H5File::Mode::ReadOnly), file);
            fill(file);
            file.close();
        }
        fsyncPath(tmp, false);
    });
}

} // namespace attri
