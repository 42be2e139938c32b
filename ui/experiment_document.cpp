#include "experiment_document.h"

#include "app_settings.h"
#include "job_runner.h"

#include "attribution/methods.h"
#include "common/error.h"
#include "jobs/progress_sink.h"
#include "workflows/attribute.h"
#include "workflows/lds_tables.h"
#include "workflows/recommend.h"

#include <QDateTime>
#include <QFileInfo>
#include <QUndoCommand>
#include <QUndoStack>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

namespace attri::ui {

// ---------------------------------------------------------------------------------------------
// Undo commands: each one only calls the document's apply* methods.

class ExperimentDocument::SetLambdaCommand : public QUndoCommand {
public:
    SetLambdaCommand(ExperimentDocument* doc, double from, double to, int gesture,
                     QUndoCommand* parent = nullptr)
        : QUndoCommand(QObject::tr("Set λ"), parent), m_doc(doc), m_from(from), m_to(to), m_gesture(gesture)
    {
    }
    int id() const override { return 1; }
    bool mergeWith(const QUndoCommand* other) override
    {
        auto* o = static_cast<const SetLambdaCommand*>(other);
        if (m_gesture == 0 || o->m_gesture != m_gesture)
            return false;
        m_to = o->m_to;
        return true;
    }
    void redo() override { m_doc->applyLambda(m_to); }
    void undo() override { m_doc->applyLambda(m_from); }

private:
    ExperimentDocument* m_doc;
    double m_from, m_to;
    int m_gesture;
};

class ExperimentDocument::SetKCommand : public QUndoCommand {
public:
    SetKCommand(ExperimentDocument* doc, qint64 from, qint64 to, QUndoCommand* parent = nullptr)
        : QUndoCommand(QObject::tr("Set k = %1").arg(to), parent), m_doc(doc), m_from(from), m_to(to)
    {
    }
    void redo() override { m_doc->applyK(m_to); }
    void undo() override { m_doc->applyK(m_from); }

private:
    ExperimentDocument* m_doc;
    qint64 m_from, m_to;
};

class ExperimentDocument::AcceptCommand : public QUndoCommand {
public:
    AcceptCommand(ExperimentDocument* doc, std::string method, std::optional<AcceptedLambda> from,
                  std::optional<AcceptedLambda> to, QUndoCommand* parent = nullptr)
        : QUndoCommand(QObject::tr("Accept λ"), parent), m_doc(doc), m_method(std::move(method)),
          m_from(std::move(from)), m_to(std::move(to))
    {
    }
    void redo() override { m_doc->applyAccepted(m_method, m_to); }
    void undo() override { m_doc->applyAccepted(m_method, m_from); }

private:
    ExperimentDocument* m_doc;
    std::string m_method;
    std::optional<AcceptedLambda> m_from, m_to;
};

// ---------------------------------------------------------------------------------------------

ExperimentDocument::ExperimentDocument(JobRunner* runner, QObject* parent)
    : QObject(parent), m_runner(runner), m_undo(new QUndoStack(this))
{
    connect(m_runner, &JobRunner::idle, this, [this](JobLane lane) {
        // A cancelled load reports nothing else: do not stay "loading" forever.
        if (lane == JobLane::Load && m_loadingSession && !session())
            setLoading(false);
    });
}

ExperimentDocument::~ExperimentDocument() = default;

void ExperimentDocument::open(const QString& path)
{
    const std::string p = path.toStdString();
    m_runner->start(
        tr("Opening %1").arg(QFileInfo(path).fileName()),
        [p](ProgressSink& progress, const CancelToken& cancel) {
            return loadExperimentContent(p, progress, cancel);
        },
        JobLane::Task, this,
        [this, path](const std::shared_ptr<const ExperimentContent>& content) {
            m_path = path;
            applyContent(content, false);
            Q_EMIT opened(path);
        },
        [this, path](const QString& error) { Q_EMIT openFailed(error); });
}

void ExperimentDocument::reload()
{
    if (m_path.isEmpty())
        return;
    const std::string p = m_path.toStdString();
    m_runner->start(
        tr("Reading %1").arg(QFileInfo(m_path).fileName()),
        [p](ProgressSink& progress, const CancelToken& cancel) {
            return loadExperimentContent(p, progress, cancel);
        },
        JobLane::Task, this,
        [this](const std::shared_ptr<const ExperimentContent>& content) { applyContent(content, true);
        });
}

namespace {
/// λ-using methods first (they are what the λ tools are about), then the rest in file order.
int methodRank(const std::string& m)
{
    static const char* order[] = {"if-projected", "if-explicit", "ekfac", "kfac", "trak",
                                  "tracin", "graddot", "gradcos", "unrolled"};
    constexpr int count = static_cast<int>(sizeof order / sizeof order[0]);
    for (int i = 0; i < count; ++i)
        if (m == order[i])
            return i;
    return count;
}
} // namespace

void ExperimentDocument::applyContent(std::shared_ptr<const ExperimentContent> content, bool keepChoices)
{
    m_content = std::move(content);
    m_sessions.clear(); // features or spectra may have changed
    m_accepted = m_content->accepted;
    m_recommendations.clear();
    for (const auto& r : m_content->recommendations)
        m_recommendations[{r.method, r.k}] = r;

    const QStringList all = methods();
    if (!keepChoices || !all.contains(m_method))
        m_method = all.isEmpty() ? QString() : all.first();
    const std::string method = m_method.toStdString();
    const auto ks = m_content->ksFor(method);
    const auto acc = m_accepted.find(method);
    if (!keepChoices || std::find(ks.begin(), ks.end(), m_k) == ks.end()) {
        if (acc != m_accepted.end() && std::find(ks.begin(), ks.end(), acc->second.k) != ks.end())
            m_k = acc->second.k;
        else
            m_k = ks.empty() ? 0 : ks.back();
    }
    if (!keepChoices) {
        if (acc != m_accepted.end())
            m_relativeLambda = acc->second.relativeLambda;
        else if (auto rec = recommendation())
            m_relativeLambda = rec->relativeLambda;
        else
            m_relativeLambda = 0.1;
        m_selectedTest = 0;
        m_undo->clear();
    }
    const int tests = m_content->data ? static_cast<int>(m_content->data->test.count) : 0;
    m_selectedTest = std::clamp(m_selectedTest, 0, std::max(0, tests - 1));

    Q_EMIT contentChanged();
    Q_EMIT methodChanged(m_method);
    Q_EMIT kChanged(m_k);
    Q_EMIT lambdaChanged(m_relativeLambda);
    Q_EMIT selectedTestChanged(m_selectedTest);
    Q_EMIT acceptedChanged();
    Q_EMIT recommendationChanged();
    ensureSession();
}

QStringList ExperimentDocument::methods() const
{
    QStringList out;
    if (!m_content)
        return out;
    std::vector<std::string> ms = m_content->methods;
    std::stable_sort(ms.begin(), ms.end(),
                     [](const auto& a, const auto& b) { return methodRank(a) < methodRank(b); });
    for (const auto& m : ms)
        out << QString::fromStdString(m);
    return out;
}

void ExperimentDocument::setMethod(const QString& method)
{
    if (!m_content || method == m_method || !methods().contains(method))
        return;
    m_method = method;
    const auto ks = m_content->ksFor(method.toStdString());
    const auto acc = m_accepted.find(method.toStdString());
    if (acc != m_accepted.end() && std::find(ks.begin(), ks.end(), acc->second.k) != ks.end())
        m_k = acc->second.k;
    else if (std::find(ks.begin(), ks.end(), m_k) == ks.end())
        m_k = ks.empty() ? 0 : ks.back();
    // k and accept commands belong to one method: a new method starts a new history.
    m_undo->clear();
    Q_EMIT methodChanged(m_method);
    Q_EMIT kChanged(m_k);
    Q_EMIT acceptedChanged();
    Q_EMIT recommendationChanged();
    ensureSession();
}

bool ExperimentDocument::methodUsesLambda() const
{
    if (m_method.isEmpty())
        return false;
    try {
        return usesLambda(parseMethod(m_method.toStdString()));
    } catch (const Error&) {
        return false;
    }
}

QList<qint64> ExperimentDocument::availableKs() const
{
    QList<qint64> out;
    if (m_content)
        for (int64_t k : m_content->ksFor(m_method.toStdString()))
            out << k;
    return out;
}

void ExperimentDocument::setK(qint64 k)
{
    if (k == m_k || !availableKs().contains(k))
        return;
    m_undo->push(new SetKCommand(this, m_k, k));
}

double ExperimentDocument::lambda() const
{
    auto s = session();
    return s ? m_relativeLambda * s->meanEigenvalue() : std::numeric_limits<double>::quiet_NaN();
}

double ExperimentDocument::meanEigenvalue() const
{
    auto s = session();
    return s ? s->meanEigenvalue() : std::numeric_limits<double>::quiet_NaN();
}

void ExperimentDocument::setRelativeLambda(double relativeLambda, int gesture)
{
    if (!(relativeLambda > 0) || !std::isfinite(relativeLambda) || relativeLambda == m_relativeLambda)
        return;
    m_undo->push(new SetLambdaCommand(this, m_relativeLambda, relativeLambda, gesture));
}

void ExperimentDocument::selectCell(double relativeLambda, qint64 k)
{
    const bool kChanges = k != m_k && availableKs().contains(k);
    const bool lambdaChanges =
        relativeLambda > 0 && std::isfinite(relativeLambda) && relativeLambda != m_relativeLambda;
    if (!kChanges && !lambdaChanges)
        return;
    m_undo->beginMacro(tr("Select λ and k"));
    if (kChanges)
        m_undo->push(new SetKCommand(this, m_k, k));
    if (lambdaChanges)
        m_undo->push(new SetLambdaCommand(this, m_relativeLambda, relativeLambda, 0));
    m_undo->endMacro();
}

void ExperimentDocument::setSelectedTest(int test)
{
    if (!m_content || !m_content->data || test == m_selectedTest || test < 0
        || test >= m_content->data->test.count)
        return;
    m_selectedTest = test;
    Q_EMIT selectedTestChanged(test);
}

void ExperimentDocument::applyK(qint64 k)
{
    m_k = k;
    Q_EMIT kChanged(k);
    ensureSession();
}

void ExperimentDocument::applyLambda(double relativeLambda)
{
    m_relativeLambda = relativeLambda;
    Q_EMIT lambdaChanged(relativeLambda);
}

std::shared_ptr<const AttributionSession> ExperimentDocument::session() const
{
    auto it = m_sessions.find({m_method.toStdString(), m_k});
    return it == m_sessions.end() ? nullptr : it->second;
}

void ExperimentDocument::setLoading(bool loading)
{
    if (loading == m_loadingSession)
        return;
    m_loadingSession = loading;
    Q_EMIT sessionLoadingChanged(loading);
}

void ExperimentDocument::ensureSession()
{
    if (!m_content || m_method.isEmpty())
        return;
    const SessionKey key{m_method.toStdString(), m_k};
    if (m_sessions.count(key)) {
        setLoading(false);
        Q_EMIT sessionChanged();
        return;
    }
    setLoading(true);
    Q_EMIT sessionChanged();
    const std::string path = m_content->path;
    m_runner->start(
        tr("Loading %1 at k = %2").arg(m_method).arg(m_k),
        [path, key](ProgressSink& progress, const CancelToken& cancel) {
            return AttributionSession::open(path, key.first, key.second, progress, cancel);
        },
        JobLane::Load, this,
        [this, key](const std::shared_ptr<const AttributionSession>& session) {
            m_sessions[key] = session;
            if (key == SessionKey{m_method.toStdString(), m_k}) {
                setLoading(false);
                Q_EMIT sessionChanged();
                Q_EMIT lambdaChanged(m_relativeLambda); // the absolute λ is known now
            }
        },
        [this](const QString&) { setLoading(false); });
}

std::optional<AcceptedLambda> ExperimentDocument::accepted() const
{
    auto it = m_accepted.find(m_method.toStdString());
    if (it == m_accepted.end())
        return std::nullopt;
    return it->second;
}

void ExperimentDocument::acceptLambda(double relativeLambda, const QString& rule)
{
    auto s = session();
    if (!s || !(relativeLambda > 0)) {
        Q_EMIT storeFailed(tr("No attribution is loaded: nothing to accept."));
        return;
    }
    AcceptedLambda a;
    a.method = m_method.toStdString();
    a.relativeLambda = relativeLambda;
    a.lambda = relativeLambda * s->meanEigenvalue();
    a.k = s->k();
    a.rule = rule.toStdString();
    a.user = acceptorName().toStdString();
    a.time = QDateTime::currentDateTimeUtc().toString(Qt::ISODate).toStdString();
    a.convention = s->caches().empty() ? std::string("none") : toString(s->caches().back()->convention());
    m_undo->beginMacro(tr("Accept λ = %1").arg(a.lambda, 0, 'g', 4));
    if (relativeLambda != m_relativeLambda)
        m_undo->push(new SetLambdaCommand(this, m_relativeLambda, relativeLambda, 0));
    m_undo->push(new AcceptCommand(this, a.method, accepted(), a));
    m_undo->endMacro();
}

void ExperimentDocument::applyAccepted(const std::string& method, const std::optional<AcceptedLambda>& value)
{
    if (value)
        m_accepted[method] = *value;
    else
        m_accepted.erase(method);
    Q_EMIT acceptedChanged();
    const std::string path = m_content ? m_content->path : std::string();
    if (path.empty())
        return;
    const QString qpath = QString::fromStdString(path);
    m_runner->start(
        tr("Storing the accepted λ"),
        [path, method, value](ProgressSink&, const CancelToken&) {
            writeAcceptedLambda(path, method, value);
        },
        JobLane::Store, this, [this, qpath]() { Q_EMIT acceptedStored(qpath); },
        [this](const QString& error) { Q_EMIT storeFailed(error); });
}

std::optional<StoredRecommendation> ExperimentDocument::recommendation() const
{
    auto it = m_recommendations.find({m_method.toStdString(), m_k});
    if (it == m_recommendations.end())
        return std::nullopt;
    return it->second;
}

void ExperimentDocument::recommend(const SelectorOptions& options, const LambdaGrid& grid)
{
    auto s = session();
    if (!s) {
        Q_EMIT storeFailed(tr("No attribution is loaded: load one before asking for a recommendation."));
        return;
    }
    const std::string path = m_content->path;
    RecommendRequest request;
    request.selector = options;
    request.grid = grid;
    // Written below through the Store lane, in order with the accepted λ's writes.
    request.store = false;
    m_runner->start(
        tr("Recommending λ"),
        [s, request, path](ProgressSink& progress, const CancelToken& cancel) {
            return recommendWithEvidence(path, *s, request, progress, cancel).record;
        },
        JobLane::Task, this,
        [this, path](const StoredRecommendation& rec) {
            m_recommendations[{rec.method, rec.k}] = rec;
            Q_EMIT recommendationChanged();
            m_runner->start(
                tr("Storing the recommendation"),
                [path, rec](ProgressSink&, const CancelToken&) {
                    writeRecommendation(path, rec);
                },
                JobLane::Store, this, {}, [this](const QString& error) { Q_EMIT storeFailed(error); });
        });
}

void ExperimentDocument::runAttribution(const AttributionRequest& request)
{
    if (m_path.isEmpty())
        return;
    const std::string path = m_path.toStdString();
    m_runner->start(
        tr("Attributing (%1)").arg(QString::fromStdString(request.method)),
        [path, request](ProgressSink& progress, const CancelToken& cancel) {
            request.validate();
            attri::runAttribution(path, request, progress, cancel);
        },
        JobLane::Task, this,
        [this]() {
            Q_EMIT attributionFinished();
            reload();
        });
}

void ExperimentDocument::computeGroundTruth(int subsets)
{
    if (m_path.isEmpty())
        return;
    const std::string path = m_path.toStdString();
    m_runner->start(
        tr("Computing ground truth (%1 retrained models)").arg(subsets),
        [path, subsets](ProgressSink& progress, const CancelToken& cancel) {
            LdsTablesRequest request;
            request.subsets = subsets;
            computeLdsTables(path, request, progress, cancel);
        },
        JobLane::Task, this, [this]() { reload(); });
}

void ExperimentDocument::importGroundTruth(const QString& file)
{
    if (m_path.isEmpty())
        return;
    const std::string path = m_path.toStdString();
    const std::string from = file.toStdString();
    m_runner->start(
        tr("Importing ground truth from %1").arg(QFileInfo(file).fileName()),
        [path, from](ProgressSink& progress, const CancelToken& cancel) {
            LdsTablesRequest request;
            request.importFrom = from;
            request.replace = true; // the user chose the file (the page confirms a replacement)
            computeLdsTables(path, request, progress, cancel);
        },
        JobLane::Task, this, [this]() { reload(); });
}

void ExperimentDocument::computeMeanXiTable()
{
    if (m_path.isEmpty())
        return;
    const std::string path = m_path.toStdString();
    const std::string method = m_method.toStdString();
    m_runner->start(
        tr("Computing mean ξ(λ) at every k (%1)").arg(m_method),
        [path, method](ProgressSink& progress, const CancelToken& cancel) {
            storeMeanXiTable(path, method, LambdaGrid::defaultRelative(), SelectorOptions{}, progress, cancel);
        },
        JobLane::Task, this, [this]() { reload(); });
}

void ExperimentDocument::trainNew(const NewExperiment& spec, QObject* context, std::function<void()> ended)
{
    const QString path = QString::fromStdString(spec.path);
    m_runner->start(
        tr("Training %1").arg(QString::fromStdString(toString(spec.architecture))),
        [spec](ProgressSink& progress, const CancelToken& cancel) { createTrainedExperiment(spec, progress, cancel); },
        JobLane::Task, context,
        [this, path, ended]() {
            ended();
            open(path);
        },
        [ended](const QString&) { ended(); });
}

void ExperimentDocument::importNew(const std::string& out, const std::string& torchscript, const DataOptions& data)
{
    const QString path = QString::fromStdString(out);
    m_runner->start(
        tr("Importing %1").arg(QString::fromStdString(torchscript)),
        [out, torchscript, data](ProgressSink& progress, const CancelToken& cancel) {
            createImportedExperiment(out, torchscript, data, progress, cancel);
        },
        JobLane::Task, this, [this, path]() { open(path); });
}

void ExperimentDocument::checkTopK(const TopKRemovalOptions& options, double lambda, QObject* context,
                                   std::function<void(const CheckOutcome<TopKRemovalResult>&)> done,
                                   std::function<void(const QString&)> failed)
{
    auto s = session();
    if (!s || !m_content) {
        failed(tr("No attribution is loaded."));
        return;
    }
    const std::string path = m_content->path;
    m_runner->start(
        tr("Retraining without the top %1 proponents").arg(options.k),
        [s, path, options, lambda](ProgressSink& progress, const CancelToken& cancel) {
            return runTopKCheck(path, *s, lambda, options, false, progress, cancel);
        },
        JobLane::Task, context, std::move(done), std::move(failed));
}

TopKOverlapRequest ExperimentDocument::topKOverlapRequest(int count) const
{
    TopKOverlapRequest request;
    request.test = m_selectedTest;
    request.count = count;
    request.referenceRelativeLambda = m_relativeLambda;
    request.referenceK = m_k;
    if (auto a = accepted(); a && availableKs().contains(a->k)) {
        request.referenceRelativeLambda = a->relativeLambda;
        request.referenceK = a->k;
    }
    return request;
}

void ExperimentDocument::computeTopKOverlap(int count, QObject* context,
                                            std::function<void(const TopKOverlap&)> done,
                                            std::function<void(const QString&)> failed)
{
    if (!m_content || !methodUsesLambda()) {
        failed(tr("No attribution with a λ is loaded."));
        return;
    }
    const TopKOverlapRequest request = topKOverlapRequest(count);
    const std::string path = m_content->path;
    const std::string method = m_method.toStdString();
    m_runner->start(
        tr("Top-%1 overlap of test image %2 over λ × k").arg(count).arg(m_selectedTest),
        [path, method, request](ProgressSink& progress, const CancelToken& cancel) {
            return topKOverlap(path, method, request, progress, cancel);
        },
        JobLane::Task, context, std::move(done), std::move(failed));
}

} // namespace attri::ui
