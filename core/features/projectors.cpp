#include "features/internal/projectors.h"

#include "common/error.h"

#include <ATen/Parallel.h>

#include <omp.h>

#include <algorithm>
#include <map>
#include <utility>

namespace attri {

namespace {

int64_t roundUp(int64_t value, int64_t block)
{
    return (value + block - 1) / block * block;
}

torch::Tensor longTensor(const std::vector<int64_t>& values)
{
    return torch::tensor(values, torch::kLong);
}

/// Rows [r0, r1) × all `columns` of a projection, generated in parallel over rows.
torch::Tensor generateBlock(ProjectionKind kind, uint64_t seed, uint64_t stream, int64_t r0, int64_t r1,
                            int64_t c0, int64_t c1)
{
    torch::Tensor block = torch::empty({r1 - r0, c1 - c0}, torch::kFloat);
    float* data = block.data_ptr<float>();
    const int64_t width = c1 - c0;
    at::parallel_for(r0, r1, 4, [&](int64_t begin, int64_t end) {
        fillProjectionBlock(kind, seed, stream, begin, end, c0, c1, data + (begin - r0) * width);
    });
    return block;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// DenseProjector

DenseProjector::DenseProjector(ProjectionKind kind, uint64_t seed, int64_t p, int64_t kMax,
                               const torch::Device& device, int64_t cacheBytes)
    : m_kind(kind), m_seed(seed), m_p(p), m_kMax(kMax), m_rows(roundUp(kMax, kRowBlock)),
      m_columnBlocks((p + kColumnBlock - 1) / kColumnBlock), m_device(device)
{
    if (kind != ProjectionKind::Gaussian && kind != ProjectionKind::Rademacher)
        throw ConfigError("a dense projection is gaussian or rademacher, not '" + toString(kind) + "'");
    m_cache = m_rows * m_p * static_cast<int64_t>(sizeof(float)) <= cacheBytes;
    if (m_cache) {
        for (int64_t cb = 0; cb < m_columnBlocks; ++cb)
            m_blocks.push_back(block(cb, 0, m_rows));
    }
}

torch::Tensor DenseProjector::block(int64_t columnBlock, int64_t r0, int64_t r1) const
{
    const int64_t c0 = columnBlock * kColumnBlock;
    const int64_t c1 = std::min(m_p, c0 + kColumnBlock);
    return generateBlock(m_kind, m_seed, kDenseProjectionStream, r0, r1, c0, c1).to(m_device);
}

torch::Tensor DenseProjector::apply(const torch::Tensor& g) const
{
    torch::NoGradGuard noGrad;
    const int64_t batch = g.size(0);
    torch::Tensor out = torch::zeros({batch, m_rows}, g.options());
    if (m_columnBlocks == 0 || batch == 0)
        return out.narrow(1, 0, m_kMax);
    const int64_t rowBlocks = m_rows / kRowBlock;
    auto rowBlock = [&](int64_t rb) {
        const int64_t r0 = rb * kRowBlock;
        torch::Tensor acc;
        for (int64_t cb = 0; cb < m_columnBlocks; ++cb) {
            const torch::Tensor t = m_cache ? m_blocks[static_cast<size_t>(cb)].narrow(0, r0, kRowBlock)
                                            : block(cb, r0, r0 + kRowBlock);
            const torch::Tensor part = g.narrow(1, cb * kColumnBlock, t.size(1));
            if (cb == 0)
                acc = torch::mm(part, t.t());
            else
                acc.addmm_(part, t.t());
        }
        out.narrow(1, r0, kRowBlock).copy_(acc);
    };
    if (!g.device().is_cpu()) {
        for (int64_t rb = 0; rb < rowBlocks; ++rb)
            rowBlock(rb);
        return out.narrow(1, 0, m_kMax);
    }
    // Each product runs on one thread: a multithreaded BLAS splits a product differently for
    // different thread counts, and with it the order of each entry's sum.
    at::parallel_for(0, rowBlocks, 1, [&](int64_t begin, int64_t end) {
        const int threads = omp_get_max_threads();
        omp_set_num_threads(1); // this thread's setting, read by the BLAS
        try {
            for (int64_t rb = begin; rb < end; ++rb)
                rowBlock(rb);
        } catch (...) {
            omp_set_num_threads(threads);
            throw;
        }
        omp_set_num_threads(threads);
    });
    return out.narrow(1, 0, m_kMax);
}

// ---------------------------------------------------------------------------------------------
// KronProjector

KronProjector::KronProjector(const std::vector<KronLayerDims>& dims, int64_t kMax, uint64_t seed,
                             const torch::Device& device)
    : m_kMax(kMax), m_layout(kroneckerLayout(dims, kMax)), m_device(device), m_fusedLinear(device.is_cpu())
{
    m_layers.resize(dims.size());
    for (size_t l = 0; l < dims.size(); ++l) {
        Layer& layer = m_layers[l];
        layer.dims = dims[l];
        if (m_layout.outRows[l] == 0)
            continue;
        // Factor rows up to the next block boundary (capped by the layer): block shapes then do
        // not depend on kMax.
        const int64_t outRows = std::min(roundUp(m_layout.outRows[l], kRowBlock), dims[l].out);
        const int64_t inRows = std::min(roundUp(m_layout.inRows[l], kRowBlock), dims[l].in);
        for (int64_t r0 = 0; r0 < outRows; r0 += kRowBlock)
            layer.outBlocks.push_back(generateBlock(ProjectionKind::Gaussian, seed, kroneckerStream(l, false),
                                                    r0, std::min(outRows, r0 + kRowBlock), 0, dims[l].out)
                                          .to(device));
        for (int64_t r0 = 0; r0 < inRows; r0 += kRowBlock)
            layer.inBlocks.push_back(generateBlock(ProjectionKind::Gaussian, seed, kroneckerStream(l, true),
                                                   r0, std::min(inRows, r0 + kRowBlock), 0, dims[l].in)
                                         .to(device));
    }
    // Coordinates per layer, and per (out block, in block) pair.
    std::vector<std::vector<int64_t>> columns(dims.size()), aIndex(dims.size()), bIndex(dims.size());
    std::vector<std::map<std::pair<int64_t, int64_t>, std::pair<std::vector<int64_t>, std::vector<int64_t>>>>
        pairs(dims.size());
    for (size_t j = 0; j < m_layout.coordinates.size(); ++j) {
        const KronCoordinate& c = m_layout.coordinates[j];
        const auto l = static_cast<size_t>(c.layer);
        columns[l].push_back(static_cast<int64_t>(j));
        aIndex[l].push_back(c.a);
        bIndex[l].push_back(c.b);
        const int64_t ob = c.a / kRowBlock, ib = c.b / kRowBlock;
        const int64_t inBlockRows = m_layers[l].inBlocks[static_cast<size_t>(ib)].size(0);
        auto& entry = pairs[l][{ob, ib}];
        entry.first.push_back(static_cast<int64_t>(j));
        entry.second.push_back((c.a % kRowBlock) * inBlockRows + (c.b % kRowBlock));
    }
    for (size_t l = 0; l < dims.size(); ++l) {
        Layer& layer = m_layers[l];
        // Index tensors live with the factors (the fused pass, which reads them, is CPU-only).
        layer.columns = longTensor(columns[l]).to(device);
        layer.aIndex = longTensor(aIndex[l]).to(device);
        layer.bIndex = longTensor(bIndex[l]).to(device);
        for (auto& [key, entry] : pairs[l]) {
            BlockPair pair;
            pair.outBlock = key.first;
            pair.inBlock = key.second;
            pair.columns = longTensor(entry.first).to(device);
            pair.local = longTensor(entry.second).to(device);
            layer.pairs.push_back(std::move(pair));
        }
    }
}

torch::Tensor KronProjector::apply(const PerSampleGradients& grads) const
{
    torch::Tensor out = torch::zeros({grads.batchSize(), m_kMax}, torch::TensorOptions().dtype(torch::kFloat).device(m_device));
    applyInto(grads, out);
    return out;
}

void KronProjector::applyInto(const PerSampleGradients& grads, torch::Tensor& out) const
{
    torch::NoGradGuard noGrad;
    const int64_t batch = grads.batchSize();
    if (out.size(0) != batch || out.size(1) != m_kMax || !out.is_contiguous())
        throw Error("Kronecker projection: output must be a contiguous " + std::to_string(batch) + "×"
                    + std::to_string(m_kMax) + " tensor");
    if (grads.layers().size() != m_layers.size())
        throw Error("Kronecker projection built for " + std::to_string(m_layers.size())
                    + " layers applied to " + std::to_string(grads.layers().size()));
    for (size_t l = 0; l < m_layers.size(); ++l) {
        const Layer& layer = m_layers[l];
        if (layer.pairs.empty() || batch == 0)
            continue;
        const GradLayer& gl = grads.layers()[l];
        if (grads.batched() && !gl.isConv()) {
            // Linear: (P_out δ)_a (P_in a)_b for the selected (a, b), one product per coordinate.
            const auto [a, delta] = grads.factors(l, 0, batch);
            std::vector<torch::Tensor> pd, pa;
            for (const auto& block : layer.outBlocks)
                pd.push_back(torch::mm(delta, block.t()));
            for (const auto& block : layer.inBlocks)
                pa.push_back(torch::mm(a, block.t()));
            const torch::Tensor pdAll = torch::cat(pd, 1).contiguous(), paAll = torch::cat(pa, 1).contiguous();
            if (!m_fusedLinear || !out.device().is_cpu()) {
                // Device path: gathered columns multiplied, then scattered (the same products).
                out.index_copy_(1, layer.columns,
                                pdAll.index_select(1, layer.aIndex) * paAll.index_select(1, layer.bIndex));
                continue;
            }
            // One fused pass: out[i, column_j] = pd[i, a_j] · pa[i, b_j] (no gathered temporaries;
            // the products are the same floats as an index_select/multiply would give).
            const int64_t count = layer.columns.numel();
            const int64_t* columns = layer.columns.data_ptr<int64_t>();
            const int64_t* aIdx = layer.aIndex.data_ptr<int64_t>();
            const int64_t* bIdx = layer.bIndex.data_ptr<int64_t>();
            const float* pdData = pdAll.data_ptr<float>();
            const float* paData = paAll.data_ptr<float>();
            float* outData = out.data_ptr<float>();
            const int64_t pdStride = pdAll.size(1), paStride = paAll.size(1);
            at::parallel_for(0, batch, 8, [&](int64_t b0, int64_t b1) {
                for (int64_t i = b0; i < b1; ++i) {
                    const float* pdRow = pdData + i * pdStride;
                    const float* paRow = paData + i * paStride;
                    float* outRow = outData + i * m_kMax;
                    for (int64_t j = 0; j < count; ++j)
                        outRow[columns[j]] = pdRow[aIdx[j]] * paRow[bIdx[j]];
                }
            });
            continue;
        }
        int64_t extra = 0;
        for (const auto& pair : layer.pairs)
            extra = std::max(extra, layer.outBlocks[static_cast<size_t>(pair.outBlock)].size(0)
                                        * layer.inBlocks[static_cast<size_t>(pair.inBlock)].size(0));
        const int64_t chunk = grads.chunkSize(l, extra * 2);
        for (int64_t s0 = 0; s0 < batch; s0 += chunk) {
            const int64_t s1 = std::min(batch, s0 + chunk);
            const int64_t s = s1 - s0;
            torch::Tensor target = out.narrow(0, s0, s);
            if (grads.batched()) {
                // Conv2d: Σ_positions (P_out δ)(P_in a)ᵀ, from the unfolded input, per block pair.
                const auto [a, delta] = grads.factors(l, s0, s1);
                const torch::Tensor aT = a.transpose(1, 2).contiguous();     // s×L×i
                const torch::Tensor dT = delta.transpose(1, 2).contiguous(); // s×L×o
                std::vector<torch::Tensor> paT(layer.inBlocks.size()), pdT(layer.outBlocks.size());
                for (const auto& pair : layer.pairs) {
                    auto& pin = paT[static_cast<size_t>(pair.inBlock)];
                    if (!pin.defined())
                        pin = torch::matmul(aT, layer.inBlocks[static_cast<size_t>(pair.inBlock)].t());
                    auto& pout = pdT[static_cast<size_t>(pair.outBlock)];
                    if (!pout.defined())
                        pout = torch::matmul(dT, layer.outBlocks[static_cast<size_t>(pair.outBlock)].t());
                    const torch::Tensor k = torch::bmm(pout.transpose(1, 2), pin); // s×Rob×Rib
                    target.index_copy_(1, pair.columns, k.reshape({s, -1}).index_select(1, pair.local));
                }
            } else {
                // Loop path: P_out G P_inᵀ on the gradient matrices, per block pair.
                const torch::Tensor g = grads.matrix(l, s0, s1); // s×o×i
                std::vector<torch::Tensor> left(layer.outBlocks.size());
                for (const auto& pair : layer.pairs) {
                    auto& lo = left[static_cast<size_t>(pair.outBlock)];
                    if (!lo.defined())
                        lo = torch::matmul(layer.outBlocks[static_cast<size_t>(pair.outBlock)], g); // s×Rob×i
                    const torch::Tensor k =
                        torch::matmul(lo, layer.inBlocks[static_cast<size_t>(pair.inBlock)].t()); // s×Rob×Rib
                    target.index_copy_(1, pair.columns, k.reshape({s, -1}).index_select(1, pair.local));
                }
            }
        }
    }
}

} // namespace attri
