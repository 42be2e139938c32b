#include "model/private/script_net.h"

#include "common/error.h"

#include <ATen/CPUGeneratorImpl.h>

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace attri {

namespace {

/// Checks the integrity of the zip archive at `path` before LibTorch parses it: every entry's
/// local header, extent, compression and CRC-32 (stored entries, and deflated ones inflated with
/// zlib). LibTorch's reader does not check CRCs, and a corrupted TorchScript source entry can make
/// its compiler allocate without bound (the fuzzer found an archive that took 20 GB before
/// std::bad_alloc). Archives in zip64 form (over 4 GiB) are left to LibTorch. Throws FormatError.
void checkZipArchive(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw IoError("cannot open TorchScript file " + path);
    in.seekg(0, std::ios::end);
    const uint64_t size = static_cast<uint64_t>(in.tellg());
    auto fail = [&](const std::string& why) {
        throw FormatError(path + " is not a TorchScript archive: " + why);
    };
    auto readAt = [&](uint64_t offset, uint64_t count) {
        if (offset > size || count > size - offset)
            fail("a zip record lies beyond the end of the file");
        std::vector<unsigned char> bytes(static_cast<size_t>(count));
        in.seekg(static_cast<std::streamoff>(offset));
        in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(count));
        if (!in)
            fail("cannot read a zip record");
        return bytes;
    };
    auto u16 = [](const unsigned char* p) { return static_cast<uint32_t>(p[0] | (p[1] << 8)); };
    auto u32 = [](const unsigned char* p) {
        return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16)
             | (static_cast<uint32_t>(p[3]) << 24);
    };
    // The end-of-central-directory record: within the last 22 + 65535 bytes.
    if (size < 22)
        fail("too short for a zip archive");
    const uint64_t tail = std::min<uint64_t>(size, 22 + 65535);
    const std::vector<unsigned char> end = readAt(size - tail, tail);
    int64_t eocd = -1;
    for (int64_t i = static_cast<int64_t>(tail) - 22; i >= 0; --i)
        if (u32(&end[static_cast<size_t>(i)]) == 0x06054b50u) {
            eocd = i;
            break;
        }
    if (eocd < 0)
        fail("no zip end-of-central-directory record");
    const unsigned char* e = &end[static_cast<size_t>(eocd)];
    const uint32_t entries = u16(e + 10), cdSize = u32(e + 12), cdOffset = u32(e + 16);
    if (entries == 0xFFFF || cdSize == 0xFFFFFFFFu || cdOffset == 0xFFFFFFFFu)
        return; // zip64
    const std::vector<unsigned char> cd = readAt(cdOffset, cdSize);
    size_t at = 0;
    for (uint32_t n = 0; n < entries; ++n) {
        if (at + 46 > cd.size() || u32(&cd[at]) != 0x02014b50u)
            fail("a damaged zip central directory");
        const unsigned char* c = &cd[at];
        const uint32_t method = u16(c + 10), crc = u32(c + 16), packed = u32(c + 20), unpacked = u32(c + 24);
        const uint32_t nameLength = u16(c + 28), extraLength = u16(c + 30), commentLength = u16(c + 32);
        const uint32_t local = u32(c + 42);
        if (at + 46 + nameLength > cd.size())
            fail("a damaged zip central directory");
        const std::string name(reinterpret_cast<const char*>(c + 46), nameLength);
        at += 46 + nameLength + extraLength + commentLength;
        if (packed == 0xFFFFFFFFu || unpacked == 0xFFFFFFFFu || local == 0xFFFFFFFFu)
            return; // zip64
        const std::vector<unsigned char> header = readAt(local, 30);
        if (u32(header.data()) != 0x04034b50u)
            fail("the zip entry " + name + " has a damaged header");
        const std::vector<unsigned char> data =
            readAt(static_cast<uint64_t>(local) + 30 + u16(&header[26]) + u16(&header[28]), packed);
        uLong check = crc32(0L, Z_NULL, 0);
        if (method == 0) {
            if (packed != unpacked)
                fail("the zip entry " + name + " has inconsistent sizes");
            check = crc32(check, data.data(), static_cast<uInt>(data.size()));
        } else if (method == 8) {
            z_stream z{};
            if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
                fail("cannot inflate the zip entry " + name);
            z.next_in = const_cast<unsigned char*>(data.data());
            z.avail_in = static_cast<uInt>(data.size());
            std::vector<unsigned char> chunk(1 << 16);
            uint64_t produced = 0;
            int rc = Z_OK;
            while (rc == Z_OK) {
                z.next_out = chunk.data();
                z.avail_out = static_cast<uInt>(chunk.size());
                rc = inflate(&z, Z_NO_FLUSH);
                const uint64_t got = chunk.size() - z.avail_out;
                produced += got;
                if (produced > unpacked)
                    break;
                check = crc32(check, chunk.data(), static_cast<uInt>(got));
                if (rc == Z_BUF_ERROR && got > 0)
                    rc = Z_OK;
            }
            inflateEnd(&z);
            if (rc != Z_STREAM_END || produced != unpacked)
                fail("the zip entry " + name + " does not inflate to its stated size");
        } else {
            fail("the zip entry " + name + " uses an unsupported compression (method " + std::to_string(method) + ")");
        }
        if (check != crc)
            fail("the zip entry " + name + " is corrupt (CRC-32 mismatch)");
    }
}


std::string qualifiedTypeName(const torch::jit::Module& module)
{
    const auto name = module.type()->name();
    return name ? name->qualifiedName() : std::string();
}

bool endsWith(const std::string& s, const std::string& suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// "__torch__.torch.nn.modules.linear.Linear" → "Linear".
std::string shortTypeName(const std::string& qualified)
{
    const auto dot = qualified.rfind('.');
    return dot == std::string::npos ? qualified : qualified.substr(dot + 1);
}

bool isNormalization(const std::string& qualified)
{
    for (const char* suffix : {".BatchNorm1d", ".BatchNorm2d", ".BatchNorm3d", ".LayerNorm", ".GroupNorm",
                               ".InstanceNorm1d", ".InstanceNorm2d", ".InstanceNorm3d"}) {
        if (endsWith(qualified, suffix))
            return true;
    }
    return false;
}

/// A pair of ints from a TorchScript attribute (a tuple, a list or a single int).
std::optional<std::vector<int64_t>> readPair(const torch::jit::Module& module, const std::string& name)
{
    if (!module.hasattr(name))
        return std::nullopt;
    const c10::IValue value = module.attr(name);
    std::vector<int64_t> out;
    if (value.isInt()) {
        out = {value.toInt(), value.toInt()};
    } else if (value.isTuple()) {
        for (const auto& element : value.toTupleRef().elements()) {
            if (!element.isInt())
                return std::nullopt;
            out.push_back(element.toInt());
        }
    } else if (value.isIntList()) {
        out = value.toIntVector();
    } else {
        return std::nullopt;
    }
    if (out.size() != 2)
        return std::nullopt;
    return out;
}

/// Geometry of a child that can be traced exactly; kind stays empty when it cannot.
TracedLayer analyseChild(const torch::jit::Module& child, const std::string& name)
{
    TracedLayer layer;
    const std::string type = qualifiedTypeName(child);
    if (!child.hasattr("weight") || !child.attr("weight").isTensor())
        return layer;
    if (endsWith(type, ".Linear")) {
        layer.name = name;
        layer.kind = "Linear";
        return layer;
    }
    if (!endsWith(type, ".Conv2d"))
        return layer;
    // Scripted Conv2d keeps its geometry as attributes (traced modules do not). Padding given as a
    // string ("same"/"valid") or a padding mode other than zeros is not traced.
    const auto stride = readPair(child, "stride");
    const auto padding = readPair(child, "padding");
    const auto dilation = readPair(child, "dilation");
    if (!stride || !padding || !dilation || !child.hasattr("groups") || !child.attr("groups").isInt())
        return layer;
    if (child.hasattr("padding_mode")) {
        const c10::IValue mode = child.attr("padding_mode");
        if (!mode.isString() || mode.toStringRef() != "zeros")
            return layer;
    }
    const torch::Tensor weight = child.attr("weight").toTensor();
    if (weight.dim() != 4)
        return layer;
    layer.name = name;
    layer.kind = "Conv2d";
    layer.kernel = {weight.size(2), weight.size(3)};
    layer.stride = *stride;
    layer.padding = *padding;
    layer.dilation = *dilation;
    layer.groups = child.attr("groups").toInt();
    return layer;
}

} // namespace

ScriptNet::ScriptNet(const std::string& path)
{
    architecture = Architecture::TorchScript;
    input = InputShape{0, 0, 0};
    numClasses = 0;
    sourcePath = path;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw IoError("cannot open TorchScript file " + path + ": no such file");
    checkZipArchive(path);
    try {
        m_module = torch::jit::load(path, torch::kCPU);
    } catch (const std::exception& e) {
        throw FormatError(path + " is not a TorchScript archive: " + torchErrorMessage(e));
    }
    // Every parameter takes part in attribution and training, whatever flag it was saved with.
    for (const auto& p : m_module.named_parameters(/*recurse=*/true))
        p.value.requires_grad_(true);
    analyse();
}

ScriptNet::ScriptNet(torch::jit::Module module, const ScriptNet& like) : m_module(std::move(module))
{
    architecture = like.architecture;
    input = like.input;
    numClasses = like.numClasses;
    sourcePath = like.sourcePath;
    analyse();
}

void ScriptNet::analyse()
{
    m_sequential = endsWith(qualifiedTypeName(m_module), ".Sequential");
    m_children.clear();
    m_childNames.clear();
    m_childTrace.clear();
    if (!m_sequential)
        return;
    // A scripted Sequential calls its children in registration order, passing one tensor on.
    for (const auto& child : m_module.named_children()) {
        m_children.push_back(child.value);
        m_childNames.push_back(child.name);
        m_childTrace.push_back(analyseChild(child.value, child.name));
    }
}

torch::Tensor ScriptNet::forward(const torch::Tensor& x, LayerTrace* trace)
{
    if (!m_sequential)
        return m_module.forward({x}).toTensor();
    torch::Tensor h = x;
    size_t traced = 0;
    for (size_t i = 0; i < m_children.size(); ++i) {
        torch::Tensor out = m_children[i].forward({h}).toTensor();
        if (!m_childTrace[i].kind.empty()) {
            if (trace && trace->wants(traced))
                trace->record(traced, h, out);
            ++traced;
        }
        h = out;
    }
    return h;
}

std::vector<std::pair<std::string, torch::Tensor>> ScriptNet::namedParameters()
{
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& p : m_module.named_parameters(/*recurse=*/true))
        out.emplace_back(p.name, p.value);
    return out;
}

std::vector<std::pair<std::string, torch::Tensor>> ScriptNet::namedBuffers()
{
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& b : m_module.named_buffers(/*recurse=*/true))
        out.emplace_back(b.name, b.value);
    return out;
}

std::vector<TracedLayer> ScriptNet::tracedLayers()
{
    std::vector<TracedLayer> out;
    for (size_t i = 0; i < m_children.size(); ++i) {
        if (m_childTrace[i].kind.empty())
            continue;
        TracedLayer layer = m_childTrace[i];
        // Live tensors, read now: clones and re-initialization never leave stale ones behind.
        layer.weight = m_children[i].attr("weight").toTensor();
        if (m_children[i].hasattr("bias") && m_children[i].attr("bias").isTensor())
            layer.bias = m_children[i].attr("bias").toTensor();
        out.push_back(std::move(layer));
    }
    return out;
}

std::vector<LayerInfo> ScriptNet::layers()
{
    std::vector<LayerInfo> out;
    for (const auto& item : m_module.named_modules()) {
        LayerInfo info;
        info.name = item.name;
        for (const auto& p : item.value.named_parameters(/*recurse=*/false))
            info.parameterCount += p.value.numel();
        // The top module is listed only when it owns parameters itself.
        if (info.name.empty()) {
            if (info.parameterCount == 0)
                continue;
            info.name = "(top)";
        }
        const std::string type = qualifiedTypeName(item.value);
        info.kind = shortTypeName(type);
        for (size_t i = 0; i < m_childNames.size(); ++i) {
            if (m_childNames[i] == item.name && !m_childTrace[i].kind.empty())
                info.perSampleExact = true;
        }
        out.push_back(std::move(info));
    }
    return out;
}

void ScriptNet::setTraining(bool on)
{
    m_module.train(on);
}

void ScriptNet::to(const torch::Device& device)
{
    m_module.to(device);
}

std::shared_ptr<Net> ScriptNet::clone() const
{
    torch::jit::Module copy;
    {
        // Without grad mode the copied tensors are fresh leaves, not outputs of a clone op.
        torch::NoGradGuard noGrad;
        copy = m_module.deepcopy();
    }
    for (const auto& p : copy.named_parameters(/*recurse=*/true))
        p.value.requires_grad_(true);
    return std::shared_ptr<Net>(new ScriptNet(std::move(copy), *this));
}

void ScriptNet::reinitialize(uint64_t seed)
{
    // What torch's Linear/Conv2d reset_parameters do for weights: Kaiming-uniform with
    // a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = size(1)·(receptive
    // field), for every parameter of two or more dimensions. Unlike torch, biases and other 1-D
    // parameters are set to zero (their default depends on the owning layer, which a scripted
    // module does not reveal reliably). Normalization layers (BatchNorm, LayerNorm, GroupNorm,
    // InstanceNorm) get weight 1, bias 0, running mean 0, running variance 1. Draws come from a
    // private generator seeded with `seed`, in named_modules order, so the result depends on
    // the seed only.
    at::Generator generator = at::detail::createCPUGenerator(seed);
    torch::NoGradGuard noGrad;
    for (const auto& item : m_module.named_modules()) {
        const bool norm = isNormalization(qualifiedTypeName(item.value));
        for (const auto& p : item.value.named_parameters(/*recurse=*/false)) {
            torch::Tensor t = p.value;
            if (norm) {
                t.fill_(p.name == "weight" ? 1.0 : 0.0);
            } else if (t.dim() >= 2) {
                int64_t fanIn = t.size(1);
                for (int64_t d = 2; d < t.dim(); ++d)
                    fanIn *= t.size(d);
                const double bound = fanIn > 0 ? 1.0 / std::sqrt(static_cast<double>(fanIn)) : 0.0;
                // Drawn on the CPU (the generator's device), then copied: the same values on
                // every device.
                t.copy_(torch::empty(t.sizes(), t.options().device(torch::kCPU)).uniform_(-bound, bound, generator));
            } else {
                t.zero_();
            }
        }
        if (!norm)
            continue;
        for (const auto& b : item.value.named_buffers(/*recurse=*/false)) {
            if (b.name == "running_var")
                b.value.fill_(1.0);
            else if (b.name == "running_mean" || b.name == "num_batches_tracked")
                b.value.zero_();
        }
    }
}

} // namespace attri
