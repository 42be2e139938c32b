#include "attribution/spectral_cache.h"

#include "common/error.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <sstream>
#include <thread>

#include <dlfcn.h>

namespace attri {

namespace {

// The heavy products (Gram matrix, eigendecomposition, rotation, score GEMMs) go through
// LibTorch, i.e. OpenBLAS/LAPACK with runtime CPU dispatch and Torch's intra-op threads.
// Eigen here is compiled for baseline x86-64 (SSE2) and single-threaded, which measured
// several times slower for these sizes (see the attribution benchmark in the tests).

/// A non-owning Torch view of a row-major float matrix.
at::Tensor viewOf(const RowMatrixF& m)
{
    return at::from_blob(const_cast<float*>(m.data()), {m.rows(), m.cols()}, at::kFloat);
}

at::Tensor viewOf(RowMatrixF& m)
{
    return at::from_blob(m.data(), {m.rows(), m.cols()}, at::kFloat);
}

void checkFinite(const RowMatrixF& m, const char* what)
{
    if (!m.allFinite())
        throw ConfigError(std::string("spectral cache: the ") + what + " features contain NaN or Inf");
}

void checkInputs(const RowMatrixF& train, const RowMatrixF& test, const std::vector<float>& weights)
{
    if (train.rows() < 1)
        throw ConfigError("spectral cache: at least one training feature row is required");
    if (train.cols() < 1)
        throw ConfigError("spectral cache: the feature dimension must be at least 1");
    if (test.cols() != train.cols())
        throw ConfigError("spectral cache: test features have " + std::to_string(test.cols())
                          + " columns, training features have " + std::to_string(train.cols()));
    if (!weights.empty() && static_cast<int64_t>(weights.size()) != train.rows())
        throw ConfigError("spectral cache: " + std::to_string(weights.size()) + " training weights given for "
                          + std::to_string(train.rows()) + " training rows");
    for (float w : weights)
        if (!std::isfinite(w))
            throw ConfigError("spectral cache: training weights must be finite");
    checkFinite(train, "training");
    checkFinite(test, "test");
}

/// X·Q into a row-major float result, with the product formed in double and only the result
/// rounded to float. Each stored component (XQ)_ij then carries a relative error of at most one
/// float rounding, however small it is. A float product would carry an absolute error of about
/// ε_float·‖x_i‖ instead, and in the directions where the curvature is (nearly) singular the exact
/// training components are 0 (for C = ΦᵀΦ/n, Σ_i (ΦQ)_ij² = n·μ_j): that noise, divided by a small
/// μ_j + λ, would dominate the scores at small λ and depend on the BLAS kernels' rounding (identical
/// training rows would score apart). Row blocks bound the double copy's memory; every row's result
/// is independent of the blocking.
RowMatrixF rotate(const RowMatrixF& x, const at::Tensor& qDouble)
{
    RowMatrixF out(x.rows(), qDouble.size(1));
    if (out.size() == 0)
        return out;
    constexpr int64_t kBlockRows = 2048;
    const at::Tensor all = viewOf(x);
    at::Tensor o = viewOf(out);
    for (int64_t r = 0; r < x.rows(); r += kBlockRows) {
        const int64_t rows = std::min(kBlockRows, x.rows() - r);
        o.narrow(0, r, rows).copy_(at::mm(all.narrow(0, r, rows).to(at::kDouble), qDouble));
    }
    return out;
}

/// Runs `work` on a private thread whose OpenMP team size is 1, so that OpenBLAS calls made
/// inside it run single-threaded (OpenBLAS sizes its team from the calling thread's
/// omp_get_max_threads()); no global setting changes, concurrent jobs are unaffected. Without an
/// OpenMP runtime in the process, `work` runs here. The runtime is looked up at run time (it comes
/// with LibTorch), so nothing links it.
///
/// ATen sets each thread's team size lazily, at the thread's first call that asks for the thread
/// count, to the process-wide count (set at start-up): at::get_num_threads() asks, so it comes
/// first and cannot undo the setting later. A small element-wise op does not ask (it runs serially
/// without asking); with one in its place, linalg_eigh undid the setting and the solve ran on the
/// whole team (k = 1024 in float: 0.35–0.55 s instead of 0.1 s).
template <class Work>
void onSingleThreadedWorker(Work&& work)
{
    using SetThreads = void (*)(int);
    static const auto setThreads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
    if (!setThreads) {
        work();
        return;
    }
    std::exception_ptr error;
    std::thread worker([&] {
        try {
            at::NoGradGuard noGrad;
            (void)at::get_num_threads();
            setThreads(1);
            work();
        } catch (...) {
            error = std::current_exception();
        }
    });
    worker.join();
    if (error)
        std::rethrow_exception(error);
}

/// Symmetric eigendecomposition (LAPACK dsyevd through Torch) with OpenBLAS single-threaded.
/// Measured here (k = 2048, OpenBLAS-OpenMP, 2 cores): 1.5 s CPU on one thread against 9–13 s
/// CPU (and 5–8× the wall time on a busy machine) with two, because the tridiagonal reduction is
/// a long series of small level-2 calls that each synchronize the OpenMP team.
std::pair<at::Tensor, at::Tensor> eigh(const at::Tensor& c)
{
    std::pair<at::Tensor, at::Tensor> result;
    onSingleThreadedWorker([&] {
        auto [mu, q] = at::linalg_eigh(c);
        result = {mu.contiguous(), q.contiguous()};
    });
    return result;
}

} // namespace

int symmetricEigenThreads()
{
    // Asked after the solve, as any later ATen call in that thread would see it.
    int threads = 0;
    onSingleThreadedWorker([&] {
        (void)at::linalg_eigh(at::eye(4, at::kDouble));
        threads = at::get_num_threads();
    });
    return threads;
}

namespace {

void checkLambda(double lambda)
{
    if (!(lambda > 0.0) || !std::isfinite(lambda)) {
        std::ostringstream msg;
        msg << "spectral cache: λ must be positive and finite, got " << lambda;
        throw ConfigError(msg.str());
    }
}

} // namespace

std::string toString(CurvatureConvention c)
{
    switch (c) {
    case CurvatureConvention::Mean:
        return "mean";
    case CurvatureConvention::Sum:
        return "sum";
    }
    return "unknown";
}

void symmetricEigen(const Eigen::MatrixXd& c, Eigen::VectorXd* values, Eigen::MatrixXd* vectors, EigenPrecision precision)
{
    if (c.rows() != c.cols())
        throw ConfigError("symmetric eigendecomposition: the matrix is not square");
    if (!c.allFinite())
        throw ConfigError("symmetric eigendecomposition: the matrix contains NaN or Inf");
    const int64_t k = c.rows();
    Eigen::MatrixXd sym = 0.5 * (c + c.transpose());
    at::NoGradGuard noGrad;
    at::Tensor t = at::from_blob(sym.data(), {k, k}, at::kDouble);
    if (precision == EigenPrecision::Single)
        t = t.to(at::kFloat);
    auto [mu, q] = eigh(t); // q's columns are eigenvectors of the row-major view, which is Cᵀ = C
    mu = mu.to(at::kDouble).contiguous();
    q = q.to(at::kDouble).contiguous();
    values->resize(k);
    std::memcpy(values->data(), mu.data_ptr<double>(), static_cast<size_t>(k) * sizeof(double));
    // q is row-major (k × k).
    *vectors = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        q.data_ptr<double>(), k, k);
}

std::shared_ptr<const SpectralCache> SpectralCache::fromFeatures(const RowMatrixF& train,
                                                                 const RowMatrixF& test,
                                                                 CurvatureConvention convention,
                                                                 std::vector<float> trainWeights)
{
    checkInputs(train, test, trainWeights);
    at::NoGradGuard noGrad;
    // Double precision Gram matrix: a float accumulation over thousands of rows loses the small
    // eigenvalues that matter at small λ.
    const at::Tensor phi = viewOf(train).to(at::kDouble);
    at::Tensor c = at::mm(phi.t(), phi);
    if (convention == CurvatureConvention::Mean)
        c.div_(static_cast<double>(train.rows()));
    const int64_t k = train.cols();
    Eigen::MatrixXd curvature(k, k);
    // Symmetric, so the row-major Torch buffer reads the same in Eigen's column-major order.
    std::memcpy(curvature.data(), c.contiguous().data_ptr<double>(), sizeof(double) * k * k);
    return fromCurvature(curvature, train, test, convention, std::move(trainWeights));
}

std::shared_ptr<const SpectralCache> SpectralCache::fromCurvature(const Eigen::MatrixXd& curvature,
                                                                  const RowMatrixF& train,
                                                                  const RowMatrixF& test,
                                                                  CurvatureConvention convention,
                                                                  std::vector<float> trainWeights)
{
    checkInputs(train, test, trainWeights);
    const int64_t k = train.cols();
    if (curvature.rows() != k || curvature.cols() != k)
        throw ConfigError("spectral cache: the curvature is " + std::to_string(curvature.rows()) + "×"
                          + std::to_string(curvature.cols()) + ", the features have dimension "
                          + std::to_string(k));
    if (!curvature.allFinite())
        throw ConfigError("spectral cache: the curvature contains NaN or Inf");
    const double asymmetry = (curvature - curvature.transpose()).cwiseAbs().maxCoeff();
    const double scale = std::max(curvature.cwiseAbs().maxCoeff(), 1e-300);
    if (asymmetry > 1e-8 * scale)
        throw ConfigError("spectral cache: the curvature is not symmetric (max |C − Cᵀ| = "
                          + std::to_string(asymmetry) + ")");

    at::NoGradGuard noGrad;
    std::shared_ptr<SpectralCache> cache(new SpectralCache());
    cache->m_convention = convention;
    cache->m_weights = std::move(trainWeights);
    cache->m_meanEigenvalue = curvature.trace() / static_cast<double>(k);

    // LAPACK's divide-and-conquer symmetric eigensolver (through Torch) in double.
    // Symmetrize exactly first so tiny asymmetries do not matter.
    Eigen::MatrixXd sym = 0.5 * (curvature + curvature.transpose());
    const at::Tensor c = at::from_blob(sym.data(), {k, k}, at::kDouble);
    // (Eigen's column-major buffer read as row-major is Cᵀ, which equals C exactly here.)
    auto [mu, q] = eigh(c);
    cache->m_eigenvalues = Eigen::Map<const Eigen::VectorXd>(mu.data_ptr<double>(), k);
    cache->m_mostNegative = std::min(0.0, cache->m_eigenvalues.minCoeff());
    cache->m_eigenvalues = cache->m_eigenvalues.cwiseMax(0.0);

    cache->m_trainRot = rotate(train, q);
    cache->m_testRot = rotate(test, q);
    return cache;
}

std::shared_ptr<const SpectralCache>
SpectralCache::fromRotated(Eigen::VectorXd eigenvalues, RowMatrixF trainRotated, RowMatrixF testRotated,
                           CurvatureConvention convention, std::vector<float> trainWeights,
                           double mostNegativeEigenvalue, double meanEigenvalue)
{
    checkInputs(trainRotated, testRotated, trainWeights);
    if (eigenvalues.size() != trainRotated.cols())
        throw ConfigError("spectral cache: " + std::to_string(eigenvalues.size())
                          + " eigenvalues for rotated features of dimension "
                          + std::to_string(trainRotated.cols()));
    if (!eigenvalues.allFinite() || !std::isfinite(mostNegativeEigenvalue))
        throw ConfigError("spectral cache: the stored eigenvalues contain NaN or Inf");
    std::shared_ptr<SpectralCache> cache(new SpectralCache());
    cache->m_convention = convention;
    cache->m_weights = std::move(trainWeights);
    cache->m_meanEigenvalue = std::isnan(meanEigenvalue) ? eigenvalues.mean() : meanEigenvalue;
    cache->m_mostNegative = std::min({0.0, mostNegativeEigenvalue, eigenvalues.minCoeff()});
    cache->m_eigenvalues = eigenvalues.cwiseMax(0.0);
    cache->m_trainRot = std::move(trainRotated);
    cache->m_testRot = std::move(testRotated);
    return cache;
}

double SpectralCache::meanEigenvalue() const
{
    return m_meanEigenvalue;
}

Eigen::VectorXf SpectralCache::inverseDiagonal(double lambda) const
{
    checkLambda(lambda);
    return (m_eigenvalues.array() + lambda).inverse().cast<float>().matrix();
}

void SpectralCache::checkTestIndex(int64_t testIndex) const
{
    if (testIndex < 0 || testIndex >= testCount())
        throw ConfigError("spectral cache: test index " + std::to_string(testIndex) + " is out of range ("
                          + std::to_string(testCount()) + " test points)");
}

Eigen::VectorXf SpectralCache::scores(int64_t testIndex, double lambda) const
{
    checkTestIndex(testIndex);
    const Eigen::VectorXf v = m_testRot.row(testIndex).transpose().cwiseProduct(inverseDiagonal(lambda));
    // Row-major (ΦQ) times a vector: n dot products over contiguous rows, memory bound.
    Eigen::VectorXf s = m_trainRot * v;
    if (!m_weights.empty())
        s.array() *= Eigen::Map<const Eigen::ArrayXf>(m_weights.data(), trainCount());
    return s;
}

RowMatrixF SpectralCache::scaledTestTimes(const std::vector<int64_t>& testIndices, double lambda,
                                          const RowMatrixF& right) const
{
    const Eigen::VectorXf d = inverseDiagonal(lambda);
    const int64_t m = testIndices.empty() ? testCount() : static_cast<int64_t>(testIndices.size());
    RowMatrixF scaled(m, dimension());
    for (int64_t r = 0; r < m; ++r) {
        const int64_t t = testIndices.empty() ? r : testIndices[r];
        checkTestIndex(t);
        scaled.row(r) = m_testRot.row(t).cwiseProduct(d.transpose());
    }
    RowMatrixF out(m, right.rows());
    if (out.size() == 0)
        return out;
    at::NoGradGuard noGrad;
    at::Tensor o = viewOf(out);
    at::mm_out(o, viewOf(scaled), viewOf(right).t());
    return out;
}

RowMatrixF SpectralCache::scoreMatrix(const std::vector<int64_t>& testIndices, double lambda) const
{
    RowMatrixF out = scaledTestTimes(testIndices, lambda, m_trainRot);
    if (!m_weights.empty() && out.size() > 0)
        out.array().rowwise() *= Eigen::Map<const Eigen::ArrayXf>(m_weights.data(), trainCount()).transpose();
    return out;
}

RowMatrixF SpectralCache::groupTrainSide(const RowMatrixF& groups) const
{
    if (groups.cols() != trainCount())
        throw ConfigError("spectral cache: groups over " + std::to_string(groups.cols())
                          + " training points, the cache has " + std::to_string(trainCount()));
    RowMatrixF side(groups.rows(), dimension());
    if (side.size() == 0)
        return side;
    at::NoGradGuard noGrad;
    at::Tensor g = viewOf(groups);
    if (!m_weights.empty())
        g = g * at::from_blob(const_cast<float*>(m_weights.data()), {1, trainCount()}, at::kFloat);
    at::Tensor o = viewOf(side);
    at::mm_out(o, g, viewOf(m_trainRot));
    return side;
}

RowMatrixF SpectralCache::groupScoreMatrix(const RowMatrixF& trainSide, double lambda) const
{
    if (trainSide.cols() != dimension())
        throw ConfigError("spectral cache: a groups' training side of " + std::to_string(trainSide.cols())
                          + " columns, the cache's dimension is " + std::to_string(dimension()));
    return scaledTestTimes({}, lambda, trainSide);
}

} // namespace attri
