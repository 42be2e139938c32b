#include "data/idx_reader.h"

#include "common/error.h"
#include "data/data_loader.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

namespace attri {

namespace {

/// Anything larger than this is not a real image dataset (1 TiB); it only guards the arithmetic.
constexpr int64_t kMaxPromisedBytes = int64_t(1) << 40;
/// Read granularity; the buffer grows with the data actually read, never with the header's claim.
constexpr size_t kChunkBytes = size_t(1) << 20;

/// A source of (decompressed) bytes: read() returns how many were read, 0 at the end.
class ByteSource {
public:
    virtual ~ByteSource() = default;
    virtual size_t read(uint8_t* out, size_t size) = 0;
    /// True when the source was gzip-compressed (messages then say "decompressed").
    virtual bool compressed() const = 0;
};

/// A file through zlib's gz* interface, which reads raw files transparently.
class GzFileSource : public ByteSource {
public:
    explicit GzFileSource(const std::string& path) : m_path(path)
    {
        m_file = gzopen(path.c_str(), "rb");
        if (!m_file)
            throw IoError(path + ": cannot open: " + std::strerror(errno));
    }
    ~GzFileSource() override { gzclose(m_file); }

    size_t read(uint8_t* out, size_t size) override
    {
        size_t total = 0;
        while (total < size) {
            const unsigned request = static_cast<unsigned>(std::min<size_t>(size - total, 1u << 30));
            const int n = gzread(m_file, out + total, request);
            if (n < 0) {
                int code = 0;
                const char* message = gzerror(m_file, &code);
                if (code == Z_DATA_ERROR || code == Z_BUF_ERROR)
                    throw FormatError(m_path + ": corrupt gzip data: " + message);
                throw IoError(m_path + ": read error: " + message);
            }
            if (n == 0)
                break;
            total += static_cast<size_t>(n);
        }
        return total;
    }
    bool compressed() const override { return gzdirect(m_file) == 0; }

private:
    std::string m_path;
    gzFile m_file = nullptr;
};

/// A buffer in memory, inflated when it starts with the gzip magic, copied otherwise.
class MemorySource : public ByteSource {
public:
    MemorySource(const void* data, size_t size, const std::string& name)
        : m_in(static_cast<const uint8_t*>(data)), m_size(size), m_name(name)
    {
        m_gzip = size >= 2 && m_in[0] == 0x1f && m_in[1] == 0x8b;
        if (m_gzip) {
            std::memset(&m_stream, 0, sizeof m_stream);
            if (inflateInit2(&m_stream, 15 + 16) != Z_OK)
                throw IoError(name + ": cannot initialise zlib");
            m_stream.next_in = const_cast<Bytef*>(m_in);
            m_stream.avail_in = static_cast<uInt>(size);
        }
    }
    ~MemorySource() override
    {
        if (m_gzip)
            inflateEnd(&m_stream);
    }

    size_t read(uint8_t* out, size_t size) override
    {
        if (!m_gzip) {
            const size_t n = std::min(size, m_size - m_offset);
            std::memcpy(out, m_in + m_offset, n);
            m_offset += n;
            return n;
        }
        if (m_ended)
            return 0;
        m_stream.next_out = out;
        m_stream.avail_out = static_cast<uInt>(size);
        while (m_stream.avail_out > 0) {
            const int rc = inflate(&m_stream, Z_NO_FLUSH);
            if (rc == Z_STREAM_END) {
                m_ended = true;
                break;
            }
            if (rc == Z_BUF_ERROR && m_stream.avail_in == 0)
                throw FormatError(m_name + ": truncated gzip data");
            if (rc != Z_OK)
                throw FormatError(m_name + ": corrupt gzip data: " + (m_stream.msg ? m_stream.msg : "?"));
        }
        return size - m_stream.avail_out;
    }
    bool compressed() const override { return m_gzip; }

private:
    const uint8_t* m_in;
    size_t m_size;
    size_t m_offset = 0;
    std::string m_name;
    bool m_gzip = false;
    bool m_ended = false;
    z_stream m_stream;
};

uint32_t bigEndian32(const uint8_t* p)
{
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

std::string hex32(uint32_t value)
{
    char text[16];
    std::snprintf(text, sizeof text, "0x%08x", value);
    return text;
}

/// "60000 images of 28×28" or "60000 labels".
std::string describe(const std::vector<int64_t>& dims)
{
    if (dims.size() == 1)
        return std::to_string(dims[0]) + " labels";
    std::string text = std::to_string(dims[0]) + " images of ";
    for (size_t i = 1; i < dims.size(); ++i)
        text += (i > 1 ? "×" : "") + std::to_string(dims[i]);
    return text;
}

IdxArray readIdx(ByteSource& source, const std::string& name, uint32_t expectedMagic)
{
    const char* what = expectedMagic == kIdxImagesMagic ? "an IDX image file" : "an IDX label file";
    uint8_t header[16];
    const size_t ndims = expectedMagic & 0xff;
    const size_t headerBytes = 4 + 4 * ndims;
    const size_t got = source.read(header, 4);
    if (got < 4)
        throw FormatError(name + ": too short for " + what + " (" + std::to_string(got) + " bytes)");
    const uint32_t magic = bigEndian32(header);
    if (magic != expectedMagic)
        throw FormatError(name + ": wrong magic " + hex32(magic) + " (expected " + hex32(expectedMagic)
                          + " for " + what + ")");
    if (source.read(header + 4, headerBytes - 4) < headerBytes - 4)
        throw FormatError(name + ": truncated header");

    IdxArray result;
    int64_t promised = 1;
    for (size_t i = 0; i < ndims; ++i) {
        const int64_t dim = bigEndian32(header + 4 + 4 * i);
        result.dims.push_back(dim);
        if (i > 0 && dim == 0)
            throw FormatError(name + ": header has a zero dimension (" + describe(result.dims) + ")");
        // Checked before multiplying, so the product never overflows.
        if (dim > 0 && promised > kMaxPromisedBytes / dim)
            throw FormatError(name + ": absurd header: its dimensions promise more than "
                              + std::to_string(kMaxPromisedBytes) + " bytes");
        promised *= dim;
    }

    // Grow with the data actually present; read one byte past the promise to detect trailing data.
    const std::string promise =
        "header promises " + describe(result.dims) + " (" + std::to_string(promised) + " bytes)";
    std::vector<uint8_t>& data = result.data;
    size_t have = 0;
    const size_t want = static_cast<size_t>(promised) + 1;
    while (have < want) {
        const size_t step = std::min(kChunkBytes, want - have);
        data.resize(have + step);
        const size_t n = source.read(data.data() + have, step);
        have += n;
        if (n < step)
            break;
    }
    data.resize(have);
    if (have < static_cast<size_t>(promised))
        throw FormatError(name + ": truncated: " + promise + " but the file holds " + std::to_string(have)
                          + (source.compressed() ? " bytes of data (decompressed)" : " bytes of data"));
    if (have > static_cast<size_t>(promised))
        throw FormatError(name + ": " + promise + " but the file holds more data after them");
    data.shrink_to_fit();
    return result;
}

} // namespace

IdxArray readIdxFile(const std::string& path, uint32_t expectedMagic)
{
    GzFileSource source(path);
    return readIdx(source, path, expectedMagic);
}

IdxArray readIdxBuffer(const void* data, size_t size, const std::string& name, uint32_t expectedMagic)
{
    MemorySource source(data, size, name);
    return readIdx(source, name, expectedMagic);
}

ImageSet idxToImageSet(const IdxArray& images, const IdxArray& labels, const std::string& imagesName,
                       const std::string& labelsName, int numClasses)
{
    if (images.dims.size() != 3 || labels.dims.size() != 1)
        throw FormatError(imagesName + ", " + labelsName + ": expected N×H×W images and N labels");
    const int64_t count = images.dims[0];
    if (labels.dims[0] != count)
        throw FormatError(imagesName + " holds " + std::to_string(count) + " images but " + labelsName
                          + " holds " + std::to_string(labels.dims[0]) + " labels");
    ImageSet set;
    set.count = count;
    set.channels = 1;
    set.height = images.dims[1];
    set.width = images.dims[2];
    set.labels.resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
        const int label = labels.data[static_cast<size_t>(i)];
        if (label >= numClasses)
            throw FormatError(labelsName + ": label " + std::to_string(label) + " at index "
                              + std::to_string(i) + " is out of range (expected 0.."
                              + std::to_string(numClasses - 1) + ")");
        set.labels[static_cast<size_t>(i)] = label;
    }
    set.images.resize(images.data.size());
    std::transform(images.data.begin(), images.data.end(), set.images.begin(),
                   [](uint8_t v) { return static_cast<float>(v) / 255.0f; });
    return set;
}

ImageSet readIdxPair(const std::string& imagesPath, const std::string& labelsPath, int numClasses)
{
    // Labels first: they are small, so a mismatch is reported before the images are decoded.
    const IdxArray labels = readIdxFile(labelsPath, kIdxLabelsMagic);
    const IdxArray images = readIdxFile(imagesPath, kIdxImagesMagic);
    return idxToImageSet(images, labels, imagesPath, labelsPath, numClasses);
}

ImageSet readIdxPair(const std::string& imagesPath, const std::string& labelsPath)
{
    return readIdxPair(imagesPath, labelsPath, 10);
}

} // namespace attri
