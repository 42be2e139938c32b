#include "attribution/methods.h"

#include "common/error.h"
#include "common/text.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace attri {

namespace {

at::Tensor viewOf(const RowMatrixF& m)
{
    return at::from_blob(const_cast<float*>(m.data()), {m.rows(), m.cols()}, at::kFloat);
}

/// A·Bᵀ through BLAS into a row-major result.
RowMatrixF multiplyTransposed(const RowMatrixF& a, const RowMatrixF& b)
{
    RowMatrixF out(a.rows(), b.rows());
    if (out.size() == 0)
        return out;
    if (a.cols() == 0) {
        out.setZero();
        return out;
    }
    at::NoGradGuard noGrad;
    at::Tensor o = at::from_blob(out.data(), {out.rows(), out.cols()}, at::kFloat);
    at::mm_out(o, viewOf(a), viewOf(b).t());
    return out;
}

void checkDims(const RowMatrixF& train, const RowMatrixF& test, const char* what)
{
    if (train.cols() != test.cols())
        throw ConfigError(std::string(what) + ": test features have " + std::to_string(test.cols())
                          + " columns, training features have " + std::to_string(train.cols()));
}

RowMatrixF normalizedRows(const RowMatrixF& m)
{
    RowMatrixF out = m;
    for (int64_t r = 0; r < out.rows(); ++r) {
        const double norm = out.row(r).cast<double>().norm();
        if (norm > 0.0 && std::isfinite(norm))
            out.row(r) /= static_cast<float>(norm);
        else
            out.row(r).setZero();
    }
    return out;
}

/// The mean over caches of their weighted score matrices, each at lambdaOf(cache).
template <typename LambdaOf>
RowMatrixF averageScores(const std::vector<std::shared_ptr<const SpectralCache>>& caches,
                         const std::vector<int64_t>& testIndices, LambdaOf lambdaOf)
{
    if (caches.empty())
        throw ConfigError("TRAK: no checkpoint caches given");
    RowMatrixF total;
    for (size_t c = 0; c < caches.size(); ++c) {
        if (!caches[c])
            throw ConfigError("TRAK: cache " + std::to_string(c) + " is null");
        if (caches[c]->trainCount() != caches[0]->trainCount()
            || caches[c]->testCount() != caches[0]->testCount())
            throw ConfigError("TRAK: cache " + std::to_string(c)
                              + " has different training or test counts than cache 0");
        RowMatrixF s = caches[c]->scoreMatrix(testIndices, lambdaOf(*caches[c]));
        if (c == 0)
            total = std::move(s);
        else
            total += s;
    }
    total /= static_cast<float>(caches.size());
    return total;
}

} // namespace

std::string toString(Method m)
{
    switch (m) {
    case Method::InfluenceExplicit:
        return "if-explicit";
    case Method::InfluenceProjected:
        return "if-projected";
    case Method::Trak:
        return "trak";
    case Method::TracIn:
        return "tracin";
    case Method::GradDot:
        return "graddot";
    case Method::GradCos:
        return "gradcos";
    case Method::Unrolled:
        return "unrolled";
    case Method::Kfac:
        return "kfac";
    case Method::Ekfac:
        return "ekfac";
    }
    return "unknown";
}

Method parseMethod(const std::string& name)
{
    const std::string s = asciiLower(name);
    if (s == "if" || s == "if-projected")
        return Method::InfluenceProjected;
    if (s == "if-explicit")
        return Method::InfluenceExplicit;
    if (s == "trak")
        return Method::Trak;
    if (s == "tracin")
        return Method::TracIn;
    if (s == "graddot")
        return Method::GradDot;
    if (s == "gradcos")
        return Method::GradCos;
    if (s == "unrolled")
        return Method::Unrolled;
    if (s == "kfac")
        return Method::Kfac;
    if (s == "ekfac")
        return Method::Ekfac;
    throw ConfigError("unknown attribution method \"" + name
                      + "\"; expected one of: if, if-explicit, if-projected, trak, tracin, graddot, gradcos, unrolled, "
                        "kfac, ekfac");
}

Method resolveInfluence(ProjectionKind projection, Architecture architecture)
{
    (void)architecture; // every architecture: exact Hessian for LR, GGN of the selected layers otherwise
    return projection == ProjectionKind::None ? Method::InfluenceExplicit : Method::InfluenceProjected;
}

Method parseMethod(const std::string& name, ProjectionKind projection, Architecture architecture)
{
    if (asciiLower(name) == "if")
        return resolveInfluence(projection, architecture);
    return parseMethod(name);
}

bool usesLambda(Method m)
{
    return m == Method::InfluenceExplicit || m == Method::InfluenceProjected || m == Method::Trak || isKronecker(m);
}

bool usesFullGradients(Method m) { return m == Method::InfluenceExplicit || isKronecker(m); }

bool isKronecker(Method m) { return m == Method::Kfac || m == Method::Ekfac; }

CurvatureConvention curvatureConvention(Method m)
{
    return m == Method::Trak ? CurvatureConvention::Sum : CurvatureConvention::Mean;
}

RowMatrixF gradDotScores(const RowMatrixF& train, const RowMatrixF& test)
{
    checkDims(train, test, "Grad-Dot");
    return multiplyTransposed(test, train);
}

RowMatrixF gradCosScores(const RowMatrixF& train, const RowMatrixF& test)
{
    checkDims(train, test, "Grad-Cos");
    return multiplyTransposed(normalizedRows(test), normalizedRows(train));
}

RowMatrixF tracInScores(const std::vector<RowMatrixF>& trainPerCheckpoint,
                        const std::vector<RowMatrixF>& testPerCheckpoint,
                        const std::vector<double>& learningRates)
{
    const size_t t = trainPerCheckpoint.size();
    if (t == 0)
        throw ConfigError("TracIn: no checkpoints given");
    if (testPerCheckpoint.size() != t || learningRates.size() != t)
        throw ConfigError("TracIn: " + std::to_string(t) + " training feature sets, "
                          + std::to_string(testPerCheckpoint.size()) + " test feature sets and "
                          + std::to_string(learningRates.size())
                          + " learning rates; expected one of each per checkpoint");
    RowMatrixF total;
    for (size_t c = 0; c < t; ++c) {
        const RowMatrixF& train = trainPerCheckpoint[c];
        const RowMatrixF& test = testPerCheckpoint[c];
        checkDims(train, test, "TracIn");
        if (train.rows() != trainPerCheckpoint[0].rows() || test.rows() != testPerCheckpoint[0].rows())
            throw ConfigError("TracIn: checkpoint " + std::to_string(c)
                              + " has a different number of training or test rows than checkpoint 0");
        if (!std::isfinite(learningRates[c]))
            throw ConfigError("TracIn: the learning rate of checkpoint " + std::to_string(c)
                              + " is not finite");
        RowMatrixF s = multiplyTransposed(test, train);
        s *= static_cast<float>(learningRates[c]);
        if (c == 0)
            total = std::move(s);
        else
            total += s;
    }
    return total;
}

RowMatrixF trakScores(const std::vector<std::shared_ptr<const SpectralCache>>& caches,
                      const std::vector<int64_t>& testIndices, double lambda)
{
    return averageScores(caches, testIndices, [lambda](const SpectralCache&) { return lambda; });
}

RowMatrixF trakScoresRelative(const std::vector<std::shared_ptr<const SpectralCache>>& caches,
                              const std::vector<int64_t>& testIndices, double relativeLambda)
{
    return averageScores(caches, testIndices, [relativeLambda](const SpectralCache& cache) {
        return relativeLambda * cache.meanEigenvalue();
    });
}

} // namespace attri
