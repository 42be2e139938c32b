#pragma once

#include "experiment_content.h"
#include "experiment_factory.h"

#include "attribution/attribution_session.h"
#include "workflows/attribute.h"
#include "tuning/lambda_grid.h"
#include "tuning/lambda_selector.h"
#include "workflows/check.h"
#include "workflows/top_k_overlap.h"

#include <QObject>
#include <QString>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>

class QUndoStack;

namespace attri::ui {

class JobRunner;

/// The open experiment: its file, its content, the loaded attribution sessions per (method, k),
/// and the user's choices (method, k, λ, selected test point, accepted λ). k, λ and acceptance
/// are edited through a QUndoStack; an accepted λ is written to the file (atomically, off the GUI
/// thread) whenever it changes, undo included. λ is held relative to the mean eigenvalue (so it
/// keeps its meaning when k changes); the absolute value comes from the current session.
class ExperimentDocument : public QObject {
    Q_OBJECT
public:
    explicit ExperimentDocument(JobRunner* runner, QObject* parent = nullptr);
    ~ExperimentDocument() override;

    JobRunner* runner() const { return m_runner; }
    QUndoStack* undoStack() const { return m_undo; }

    // --- file ---
    /// Reads the experiment in the background; emits opened() or openFailed().
    void open(const QString& path);
    /// Re-reads the file (after an attribution run), keeping the user's choices where possible.
    void reload();
    bool isOpen() const { return static_cast<bool>(m_content); }
    QString path() const { return m_path; }
    std::shared_ptr<const ExperimentContent> content() const { return m_content; }

    // --- choices ---
    QStringList methods() const;
    QString method() const { return m_method; }
    /// Switches method (not undoable: it is a view choice) and loads its session.
    void setMethod(const QString& method);
    bool methodUsesLambda() const;
    QList<qint64> availableKs() const;
    qint64 k() const { return m_k; }
    /// Undoable; loads the session for (method, k) in the background when needed.
    void setK(qint64 k);
    double relativeLambda() const { return m_relativeLambda; }
    /// Absolute λ of the current session (NaN while no session is loaded).
    double lambda() const;
    double meanEigenvalue() const;
    /// Undoable. Calls with the same non-zero `gesture` (one slider drag) merge into one step.
    void setRelativeLambda(double relativeLambda, int gesture = 0);
    /// A fresh gesture id for setRelativeLambda.
    int newGesture() { return ++m_gesture; }
    /// Sets λ and k together (a heatmap click): one undo step.
    void selectCell(double relativeLambda, qint64 k);
    int selectedTest() const { return m_selectedTest; }
    void setSelectedTest(int test);

    // --- sessions ---
    /// The session of the current (method, k), or null while it loads.
    std::shared_ptr<const AttributionSession> session() const;
    bool sessionLoading() const { return m_loadingSession; }

    // --- accepted λ and recommendation ---
    /// The accepted λ of the current method.
    std::optional<AcceptedLambda> accepted() const;
    /// Accepts `relativeLambda` at the current k for the current method with `rule`: undoable;
    /// writes the file (emits acceptedStored when the write is done, storeFailed on error).
    void acceptLambda(double relativeLambda, const QString& rule);
    void acceptCurrentLambda() { acceptLambda(m_relativeLambda, QStringLiteral("manual")); }
    /// The latest recommendation for the current (method, k): run here, or stored in the file.
    std::optional<StoredRecommendation> recommendation() const;

    // --- jobs ---
    /// Recommends λ for the current session (Task job); emits recommendationChanged.
    void recommend(const SelectorOptions& options, const LambdaGrid& grid);
    /// Runs the attribution into this experiment (Task job), then reloads; emits attributionFinished.
    void runAttribution(const AttributionRequest& request);
    /// Computes (or resumes) the LDS ground truth with `subsets` retrained models and the LDS
    /// tables of the λ methods (Task job, long), then reloads.
    /// Computes the simulated-sgd mean ξ(λ) at every stored k of the current method (no
    /// retraining) and stores it as the "mean_xi" λ × k table, then reloads.
    void computeMeanXiTable();
    void computeGroundTruth(int subsets);
    /// Imports ground truth retrained outside AttriScope from `file` (`lds --ground-truth-from`:
    /// importGroundTruth, replacing what the experiment holds) and recomputes the LDS tables of
    /// the λ methods (Task job), then reloads.
    void importGroundTruth(const QString& file);
    /// Trains a new experiment (workflows: trainExperiment; Task job, a "train_loss" metric per
    /// epoch) and opens it. `ended` runs on the GUI thread when the job succeeded or failed, while
    /// `context` lives.
    void trainNew(const NewExperiment& spec, QObject* context, std::function<void()> ended);
    /// Imports a TorchScript model into a new experiment file `out` over `data` (no recipe) and opens it.
    void importNew(const std::string& out, const std::string& torchscript, const DataOptions& data);
    /// Retrains without the top proponents of `options.tests` at `lambda` on the current session
    /// (workflows: runTopKCheck, not stored); `done` or `failed` runs on the GUI thread while
    /// `context` lives.
    void checkTopK(const TopKRemovalOptions& options, double lambda, QObject* context,
                   std::function<void(const CheckOutcome<TopKRemovalResult>&)> done,
                   std::function<void(const QString&)> failed);

    /// The selected test image's top-`count` proponents at every stored k and every λ of the
    /// default grid, against the accepted λ and k (else the current ones) (workflows:
    /// topKOverlap; Task job, not stored); `done` or `failed` runs on the GUI thread while
    /// `context` lives.
    void computeTopKOverlap(int count, QObject* context, std::function<void(const TopKOverlap&)> done,
                            std::function<void(const QString&)> failed);
    /// What computeTopKOverlap computes now: the selected test image against the accepted λ and k
    /// (when that k is stored), else the current ones.
    TopKOverlapRequest topKOverlapRequest(int count) const;

Q_SIGNALS:
    void opened(const QString& path);
    void openFailed(const QString& error);
    void contentChanged();
    void methodChanged(const QString& method);
    void kChanged(qint64 k);
    void lambdaChanged(double relativeLambda);
    void sessionChanged();
    void sessionLoadingChanged(bool loading);
    void selectedTestChanged(int test);
    void acceptedChanged();
    void acceptedStored(const QString& path);
    void storeFailed(const QString& error);
    void recommendationChanged();
    void attributionFinished();

private:
    class SetLambdaCommand;
    class SetKCommand;
    class AcceptCommand;

    using SessionKey = std::pair<std::string, int64_t>;
    void applyContent(std::shared_ptr<const ExperimentContent> content, bool keepChoices);
    void applyK(qint64 k);
    void applyLambda(double relativeLambda);
    void applyAccepted(const std::string& method, const std::optional<AcceptedLambda>& value);
    void ensureSession();
    void setLoading(bool loading);

    JobRunner* m_runner;
    QUndoStack* m_undo;
    QString m_path;
    std::shared_ptr<const ExperimentContent> m_content;
    std::map<SessionKey, std::shared_ptr<const AttributionSession>> m_sessions;
    std::map<std::string, AcceptedLambda> m_accepted;
    std::map<SessionKey, StoredRecommendation> m_recommendations;
    QString m_method;
    qint64 m_k = 0;
    double m_relativeLambda = 0.1;
    int m_selectedTest = 0;
    int m_gesture = 0;
    bool m_loadingSession = false;
};

} // namespace attri::ui
