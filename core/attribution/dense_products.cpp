#include "attribution/dense_products.h"

#include "common/error.h"

#include <ATen/ATen.h>

#include <string>

namespace attri {

namespace {

// A column-major Eigen matrix r × c is, read row-major, its transpose: a Torch tensor c × r.
at::Tensor transposedView(const Eigen::MatrixXd& m)
{
    return at::from_blob(const_cast<double*>(m.data()), {m.cols(), m.rows()}, at::kDouble);
}

at::Tensor transposedView(const Eigen::MatrixXf& m)
{
    return at::from_blob(const_cast<float*>(m.data()), {m.cols(), m.rows()}, at::kFloat);
}

/// The first k columns of a row-major float matrix, without a copy.
at::Tensor leadingColumns(const RowMatrixF& phi, int64_t k, const char* what)
{
    if (k < 1 || k > phi.cols())
        throw ConfigError(std::string(what) + ": " + std::to_string(k) + " columns asked of a matrix with "
                          + std::to_string(phi.cols()));
    return at::from_blob(const_cast<float*>(phi.data()), {phi.rows(), k}, {phi.cols(), 1}, at::kFloat);
}

void checkRowScale(const RowMatrixF& phi, const Eigen::VectorXf& s, const char* what)
{
    if (s.size() != phi.rows())
        throw ConfigError(std::string(what) + ": " + std::to_string(s.size()) + " row scales for "
                          + std::to_string(phi.rows()) + " rows");
}

at::Tensor columnOf(const Eigen::VectorXf& s)
{
    return at::from_blob(const_cast<float*>(s.data()), {s.size(), 1}, at::kFloat);
}

} // namespace

Eigen::MatrixXd productD(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b)
{
    if (a.cols() != b.rows())
        throw ConfigError("product: " + std::to_string(a.rows()) + "×" + std::to_string(a.cols()) + " times "
                          + std::to_string(b.rows()) + "×" + std::to_string(b.cols()));
    Eigen::MatrixXd out(a.rows(), b.cols());
    if (out.size() == 0)
        return out;
    if (a.cols() == 0)
        return out.setZero();
    at::NoGradGuard noGrad;
    at::Tensor o = at::from_blob(out.data(), {out.cols(), out.rows()}, at::kDouble);
    at::mm_out(o, transposedView(b), transposedView(a)); // (AB)ᵀ = BᵀAᵀ
    return out;
}

Eigen::MatrixXd weightedGramD(const RowMatrixF& phi, int64_t k, const Eigen::VectorXf& rowScale,
                              Accumulation accumulation, int64_t begin, int64_t end)
{
    checkRowScale(phi, rowScale, "weighted Gram matrix");
    if (end < 0)
        end = phi.rows();
    if (begin < 0 || begin > end || end > phi.rows())
        throw ConfigError("weighted Gram matrix: rows " + std::to_string(begin) + " to " + std::to_string(end)
                          + " asked of a matrix with " + std::to_string(phi.rows()));
    at::NoGradGuard noGrad;
    const at::Tensor rows = leadingColumns(phi, k, "weighted Gram matrix").narrow(0, begin, end - begin);
    at::Tensor scaled = rows * columnOf(rowScale).narrow(0, begin, end - begin);
    Eigen::MatrixXd out(k, k);
    if (begin == end)
        return out.setZero();
    at::Tensor o = at::from_blob(out.data(), {k, k}, at::kDouble);
    // Symmetric: either storage order reads the same.
    if (accumulation == Accumulation::Double) {
        scaled = scaled.to(at::kDouble);
        at::mm_out(o, scaled.t(), scaled);
    } else {
        o.copy_(at::mm(scaled.t(), scaled));
    }
    return out;
}

Eigen::MatrixXf scaledRowsTimes(const RowMatrixF& phi, int64_t k, const Eigen::VectorXf& rowScale,
                                const Eigen::MatrixXd& v)
{
    checkRowScale(phi, rowScale, "scaled rows product");
    if (v.rows() != k)
        throw ConfigError("scaled rows product: a block of " + std::to_string(v.rows()) + " rows against dimension "
                          + std::to_string(k));
    Eigen::MatrixXf out(v.cols(), phi.rows());
    if (out.size() == 0)
        return out;
    at::NoGradGuard noGrad;
    const at::Tensor p = leadingColumns(phi, k, "scaled rows product");
    // V's column-major storage read row-major is Vᵀ; the n × b row-major result is Y column-major.
    const at::Tensor block = transposedView(v).t().to(at::kFloat); // k × b
    at::from_blob(out.data(), {phi.rows(), v.cols()}, at::kFloat)
        .copy_(at::mm(p, block) * columnOf(rowScale));
    return out;
}

Eigen::VectorXf rowSquaredNorms(const RowMatrixF& phi, int64_t k)
{
    Eigen::VectorXf out(phi.rows());
    if (out.size() == 0)
        return out;
    at::NoGradGuard noGrad;
    const at::Tensor p = leadingColumns(phi, k, "row norms");
    at::from_blob(out.data(), {phi.rows()}, at::kFloat)
        .copy_(at::linalg_vector_norm(p, 2, at::IntArrayRef{1}, false, c10::nullopt).square());
    return out;
}

void addProductWithTransposed(Eigen::MatrixXf& out, const Eigen::MatrixXf& a, const RowMatrixF& phi)
{
    if (out.rows() != a.rows() || out.cols() != phi.rows())
        throw ConfigError("product with transposed: the result is " + std::to_string(out.rows()) + "×"
                          + std::to_string(out.cols()) + ", expected " + std::to_string(a.rows()) + "×"
                          + std::to_string(phi.rows()));
    if (out.size() == 0)
        return;
    at::NoGradGuard noGrad;
    at::Tensor o = at::from_blob(out.data(), {out.cols(), out.rows()}, at::kFloat);
    o.addmm_(leadingColumns(phi, a.cols(), "product with transposed"), transposedView(a)); // (outᵀ += Φ Aᵀ)
}

Eigen::MatrixXd scaledProductD(const Eigen::MatrixXf& p, const Eigen::VectorXf& rowScale, const RowMatrixF& phi,
                               int64_t k)
{
    checkRowScale(phi, rowScale, "scaled product");
    if (p.cols() != phi.rows())
        throw ConfigError("scaled product: " + std::to_string(p.cols()) + " columns against "
                          + std::to_string(phi.rows()) + " rows");
    at::NoGradGuard noGrad;
    // (P diag(s) Φ)ᵀ = Φᵀ (diag(s) Pᵀ), k × m row-major = the m × k result column-major.
    const at::Tensor t =
        at::mm(leadingColumns(phi, k, "scaled product").t(), transposedView(p) * columnOf(rowScale));
    Eigen::MatrixXd out(p.rows(), k);
    at::from_blob(out.data(), {k, p.rows()}, at::kDouble).copy_(t);
    return out;
}

RowMatrixF productWithTransposedF(const RowMatrixF& a, const RowMatrixF& b)
{
    if (a.cols() != b.cols())
        throw ConfigError("product with transposed: " + std::to_string(a.rows()) + "×" + std::to_string(a.cols())
                          + " times the transpose of " + std::to_string(b.rows()) + "×" + std::to_string(b.cols()));
    RowMatrixF out(a.rows(), b.rows());
    if (out.size() == 0)
        return out;
    if (a.cols() == 0)
        return out.setZero();
    at::NoGradGuard noGrad;
    at::Tensor o = at::from_blob(out.data(), {out.rows(), out.cols()}, at::kFloat);
    at::mm_out(o, leadingColumns(a, a.cols(), "product with transposed"),
                  leadingColumns(b, b.cols(), "product with transposed").t());
    return out;
}

} // namespace attri
