#include "explore_page.h"

#include "app_settings.h"
#include "classroom_guide.h"
#include "experiment_document.h"
#include "image_util.h"
#include "job_runner.h"
#include "lambda_slider.h"
#include "test_image_model.h"
#include "tile_grid_widget.h"

#include "attribution/attribution_session.h"
#include "eval/removal_checks.h"
#include "workflows/check.h"
#include "model/model.h"
#include "store/experiment_file.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QItemSelectionModel>
#include <QLabel>
#include <QListView>
#include <QPainter>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>
#include <QtDebug>

#include <cmath>

namespace attri::ui {

namespace {
constexpr double kMinDecade = -6.0; // relative λ range 1e-6 … 1e2 (the default grid's)
constexpr double kMaxDecade = 2.0;
constexpr double kSyncBudgetMs = 10.0; // slower score computations go to the background
} // namespace

TopK topForTest(const AttributionSession& session, int64_t test, double lambda, int64_t count)
{
    const Eigen::VectorXf scores = session.scoresFor(test, session.usesLambda() ? lambda : 1.0);
    return topK(scores, count);
}

int ExplorePage::sliderValueFor(double relativeLambda)
{
    return static_cast<int>(std::lround(std::log10(relativeLambda) * kStepsPerDecade));
}

double ExplorePage::relativeLambdaFor(int sliderValue)
{
    return std::pow(10.0, static_cast<double>(sliderValue) / kStepsPerDecade);
}

ExplorePage::ExplorePage(ExperimentDocument* document, QWidget* parent)
    : QWidget(parent), m_doc(document), m_model(new TestImageModel(this)), m_tests(new QListView(this)),
      m_testImage(new QLabel(this)), m_testText(new QLabel(this)), m_kCombo(new QComboBox(this)),
      m_slider(new LambdaSlider(kStepsPerDecade, this)), m_markerLegend(new QLabel(this)),
      m_lambdaLabel(new QLabel(this)),
      m_count(new QSpinBox(this)), m_accept(new QPushButton(tr("Accept this λ"), this)),
      m_acceptedLabel(new QLabel(this)),
      m_retrain(new QPushButton(tr("Retrain without these proponents"), this)), m_retrainResult(new QLabel(this)),
      m_proponents(new TileGridWidget(tr("Top proponents (up-weighting lowers the test loss)"),
                                      QColor(0x00, 0x72, 0xB2), this)),
      m_opponents(new TileGridWidget(tr("Top opponents (up-weighting raises the test loss)"),
                                     QColor(0xD5, 0x5E, 0x00), this)),
      m_retrainBars(new LossChangeBars(this)), m_legend(new QLabel(this))
{
    m_tests->setModel(m_model);
    m_tests->setViewMode(QListView::IconMode);
    m_tests->setIconSize(QSize(TestImageModel::kIconSize, TestImageModel::kIconSize));
    m_tests->setGridSize(QSize(92, 100));
    m_tests->setUniformItemSizes(true);
    m_tests->setResizeMode(QListView::Adjust);
    m_tests->setMovement(QListView::Static);
    m_tests->setWordWrap(true);
    m_tests->setSelectionMode(QAbstractItemView::SingleSelection);
    m_tests->setMinimumWidth(300);

    m_testImage->setFixedSize(96, 96);
    m_testImage->setFrameShape(QFrame::Box);
    m_testText->setWordWrap(true);
    m_slider->setRange(static_cast<int>(kMinDecade * kStepsPerDecade),
                       static_cast<int>(kMaxDecade * kStepsPerDecade));
    m_slider->setTickPosition(QSlider::TicksBelow);
    m_slider->setTickInterval(kStepsPerDecade);
    m_slider->setPageStep(kStepsPerDecade / 2);
    m_slider->setToolTip(tr("λ on a log scale, relative to the mean eigenvalue of the curvature"));
    m_lambdaLabel->setMinimumWidth(260);
    m_count->setRange(1, 64);
    m_count->setValue(settings::exploreTileCount.get());
    m_kCombo->setToolTip(tr("Projection dimension k"));

    // The test image beside its controls (one line of text, k, λ, the marks, the accepted λ),
    // so that the tiles get the height.
    auto* header = new QHBoxLayout;
    header->addWidget(m_testImage, 0, Qt::AlignTop);
    auto* headerRight = new QVBoxLayout;
    header->addLayout(headerRight, 1);
    headerRight->addWidget(m_testText);
    auto* controls = new QFormLayout;
    headerRight->addLayout(controls);
    auto* kRow = new QHBoxLayout;
    kRow->addWidget(m_kCombo);
    kRow->addWidget(new QLabel(tr("tiles"), this));
    kRow->addWidget(m_count);
    kRow->addStretch();
    kRow->addWidget(m_accept);
    controls->addRow(tr("k"), kRow);
    auto* lambdaRow = new QHBoxLayout;
    lambdaRow->addWidget(m_slider, 1);
    lambdaRow->addWidget(m_lambdaLabel);
    controls->addRow(tr("λ"), lambdaRow);
    m_markerLegend->setTextFormat(Qt::RichText);
    m_markerLegend->setToolTip(tr("Marks on the slider: the λ the Recommend page recommends for this method and "
                                  "k, and the λ accepted for this method"));
    controls->addRow(QString(), m_markerLegend);
    controls->addRow(QString(), m_acceptedLabel);
    m_retrain->setToolTip(tr("Retrain the model (its own recipe, same start) without the proponents shown, and "
                             "once without as many random training images, and compare this test image's loss"));
    m_retrainResult->setWordWrap(true);
    m_retrainResult->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* retrainRow = new QHBoxLayout;
    retrainRow->addWidget(m_retrain, 0, Qt::AlignTop);
    retrainRow->addWidget(m_retrainResult, 1);
    m_legend->setWordWrap(true);
    m_legend->setText(tr("A tile's score estimates how much giving that training image more weight would lower (+) "
                         "or raise (−) this test image's loss, in the method's units: compare scores within one "
                         "setting, not across methods. Hover a tile for its training index."));
    auto* right = new QWidget(this);
    auto* rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    m_guide = new ClassroomGuide(m_doc, this, right);
    m_guide->hide();
    rightLayout->addWidget(m_guide);
    rightLayout->addLayout(header);
    rightLayout->addLayout(retrainRow);
    rightLayout->addWidget(m_retrainBars);
    m_tileSplit = new QSplitter(Qt::Vertical, right);
    m_tileSplit->addWidget(m_proponents);
    m_tileSplit->addWidget(m_opponents);
    rightLayout->addWidget(m_tileSplit, 1);
    rightLayout->addWidget(m_legend);
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(m_tests);
    split->addWidget(right);
    split->setStretchFactor(1, 2);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(split);

    m_debounce.setSingleShot(true);
    m_debounce.setInterval(15);
    connect(&m_debounce, &QTimer::timeout, this, &ExplorePage::computeInBackground);

    // Wiring only: every slot forwards to the document or to a refresh.
    connect(m_doc, &ExperimentDocument::contentChanged, this, &ExplorePage::onContentChanged);
    connect(m_doc, &ExperimentDocument::methodChanged, this, &ExplorePage::onKsChanged);
    connect(m_doc, &ExperimentDocument::kChanged, this, &ExplorePage::onKsChanged);
    connect(m_doc, &ExperimentDocument::lambdaChanged, this, &ExplorePage::onLambdaChanged);
    connect(m_doc, &ExperimentDocument::sessionChanged, this, &ExplorePage::onLambdaChanged);
    connect(m_doc, &ExperimentDocument::acceptedChanged, this, &ExplorePage::onLambdaChanged);
    connect(m_doc, &ExperimentDocument::recommendationChanged, this, &ExplorePage::updateMarkers);
    connect(m_doc, &ExperimentDocument::kChanged, this, &ExplorePage::updateMarkers);
    connect(m_doc, &ExperimentDocument::methodChanged, this, &ExplorePage::updateMarkers);
    connect(m_doc, &ExperimentDocument::selectedTestChanged, this, [this](int test) {
        const QModelIndex index = m_model->index(test, 0);
        if (m_tests->currentIndex() != index)
            m_tests->setCurrentIndex(index);
        updateHeader();
        refreshTiles();
    });
    connect(m_tests->selectionModel(), &QItemSelectionModel::currentChanged, this,
            [this](const QModelIndex& current) {
                if (current.isValid())
                    m_doc->setSelectedTest(current.row());
            });
    connect(m_kCombo, &QComboBox::activated, this,
            [this](int index) { m_doc->setK(m_kCombo->itemData(index).toLongLong()); });
    connect(m_slider, &QSlider::sliderPressed, this, [this] { m_gesture = m_doc->newGesture(); });
    connect(m_slider, &QSlider::sliderReleased, this, [this] { m_gesture = 0; });
    connect(m_slider, &QSlider::valueChanged, this, &ExplorePage::onSliderValueChanged);
    connect(m_count, &QSpinBox::valueChanged, this, [this](int n) {
        if (!m_guide->isVisibleTo(this)) // classroom mode's count is its own
            settings::exploreTileCount.set(n);
        refreshTiles();
    });
    connect(m_accept, &QPushButton::clicked, m_doc, &ExperimentDocument::acceptCurrentLambda);
    connect(m_retrain, &QPushButton::clicked, this, &ExplorePage::retrainWithoutProponents);
    // A cancelled check reports nothing, and a new task supersedes it silently: say so.
    connect(m_doc->runner(), &JobRunner::cancelled, this, [this] {
        if (!m_retrainRunning)
            return;
        m_retrainResult->setText(tr("Retraining cancelled."));
        endRetrain();
    });
    connect(m_doc->runner(), &JobRunner::started, this, [this](const QString& name) {
        if (!m_retrainRunning)
            return;
        m_retrainResult->setText(tr("Retraining stopped: %1 started.").arg(name));
        endRetrain();
    });
    auto measure = [this] {
        if (!m_measuring)
            return;
        m_lastRefreshMs = static_cast<double>(m_changeClock.nsecsElapsed()) / 1e6;
        m_measuring = false;
        ++m_refreshCount;
        qInfo("λ slider change → tiles repainted in %.2f ms (scores + top-k %.2f ms)", m_lastRefreshMs,
              m_lastScoreMs);
    };
    connect(m_opponents, &TileGridWidget::painted, this, measure);
    onContentChanged();
}

void ExplorePage::onContentChanged()
{
    auto content = m_doc->content();
    m_trainImages.clear();
    if (content && content->data)
        m_trainImages.resize(static_cast<size_t>(content->data->train.count));
    m_model->setContent(content);
    if (content && content->data && m_doc->selectedTest() < m_model->rowCount())
        m_tests->setCurrentIndex(m_model->index(m_doc->selectedTest(), 0));
    onKsChanged();
    updateHeader();
}

void ExplorePage::onKsChanged()
{
    QSignalBlocker block(m_kCombo);
    m_kCombo->clear();
    for (qint64 k : m_doc->availableKs())
        m_kCombo->addItem(QString::number(k), k);
    if (m_kCombo->count() == 0 && m_doc->isOpen())
        m_kCombo->addItem(tr("stored"), qint64{0});
    const int index = m_kCombo->findData(m_doc->k());
    if (index >= 0)
        m_kCombo->setCurrentIndex(index);
    m_kCombo->setEnabled(m_kCombo->count() > 1);
}

void ExplorePage::onLambdaChanged()
{
    {
        QSignalBlocker block(m_slider);
        m_slider->setValue(sliderValueFor(m_doc->relativeLambda()));
    }
    const bool usesLambda = m_doc->methodUsesLambda();
    m_slider->setEnabled(usesLambda && m_doc->isOpen());
    m_accept->setEnabled(usesLambda && m_doc->session() != nullptr);
    m_lambdaLabel->setText(lambdaText());
    if (auto a = m_doc->accepted()) {
        const QString when = QString::fromStdString(a->time).left(10);
        m_acceptedLabel->setText(tr("Accepted: λ = %1 at k = %2 (%3, %4, %5)")
                                     .arg(formatLambda(a->lambda))
                                     .arg(a->k)
                                     .arg(QString::fromStdString(a->rule), QString::fromStdString(a->user), when));
        m_acceptedLabel->setToolTip(tr("λ = %1 (%2 × mean eigenvalue) at k = %3, rule %4, accepted by %5 on %6")
                                        .arg(a->lambda, 0, 'g', 6)
                                        .arg(a->relativeLambda, 0, 'g', 4)
                                        .arg(a->k)
                                        .arg(QString::fromStdString(a->rule), QString::fromStdString(a->user),
                                             QString::fromStdString(a->time)));
    } else {
        m_acceptedLabel->setToolTip(QString());
        m_acceptedLabel->setText(usesLambda ? tr("No λ accepted yet for this method.")
                                            : tr("This method has no λ."));
    }
    updateMarkers();
    refreshTiles();
}

void ExplorePage::updateMarkers()
{
    const bool usesLambda = m_doc->methodUsesLambda();
    const double none = std::nan("");
    const auto rec = usesLambda ? m_doc->recommendation() : std::nullopt;
    const auto accepted = usesLambda ? m_doc->accepted() : std::nullopt;
    m_slider->setMarker(LambdaMarker::Recommended, rec ? rec->relativeLambda : none);
    m_slider->setMarker(LambdaMarker::Accepted, accepted ? accepted->relativeLambda : none);
    m_markerLegend->setText(m_slider->legendHtml());
    m_markerLegend->setVisible(!m_markerLegend->text().isEmpty());
}

QString ExplorePage::markerLegend() const
{
    return m_markerLegend->text();
}

QString ExplorePage::lambdaText() const
{
    if (!m_doc->methodUsesLambda())
        return tr("(no λ)");
    const double lambda = m_doc->lambda();
    if (std::isnan(lambda))
        return tr("%1 × mean eigenvalue (loading…)").arg(m_doc->relativeLambda(), 0, 'g', 3);
    return tr("λ = %1   (%2 × mean eigenvalue %3)")
        .arg(lambda, 0, 'g', 4)
        .arg(m_doc->relativeLambda(), 0, 'g', 3)
        .arg(m_doc->meanEigenvalue(), 0, 'g', 3);
}

void ExplorePage::onSliderValueChanged(int value)
{
    m_changeClock.start();
    m_measuring = true;
    m_doc->setRelativeLambda(relativeLambdaFor(value), m_gesture);
}

void ExplorePage::refreshTiles()
{
    auto session = m_doc->session();
    auto content = m_doc->content();
    if (!m_retrainRunning) {
        m_retrainResult->clear(); // it described another test point, λ or tile count
        m_retrainBars->setChanges(std::nan(""), std::nan(""), 0);
    }
    updateRetrainButton();
    if (!session || !content || !content->data) {
        m_proponents->setTiles({});
        m_opponents->setTiles({});
        return;
    }
    if (m_lastScoreMs > kSyncBudgetMs) {
        // Too slow to compute per slider step: coalesce and compute off the GUI thread.
        m_debounce.start();
        return;
    }
    QElapsedTimer clock;
    clock.start();
    TopK top = topForTest(*session, m_doc->selectedTest(), m_doc->lambda(), m_count->value());
    m_lastScoreMs = static_cast<double>(clock.nsecsElapsed()) / 1e6;
    showTop(top);
}

void ExplorePage::computeInBackground()
{
    auto session = m_doc->session();
    if (!session)
        return;
    const int64_t test = m_doc->selectedTest();
    const double lambda = m_doc->lambda();
    const int64_t count = m_count->value();
    m_doc->runner()->start(
        tr("Scoring"),
        [session, test, lambda, count](ProgressSink&, const CancelToken&) {
            QElapsedTimer clock;
            clock.start();
            TopK top = topForTest(*session, test, lambda, count);
            return std::make_pair(top, static_cast<double>(clock.nsecsElapsed()) / 1e6);
        },
        JobLane::Preview, this,
        [this](const std::pair<TopK, double>& result) {
            const auto& [top, ms] = result;
            m_lastScoreMs = ms;
            showTop(top);
        });
}

void ExplorePage::updateRetrainButton()
{
    auto content = m_doc->content();
    const bool retrainable = content && content->data && content->modelRecord.recipe;
    m_retrain->setEnabled(m_doc->session() != nullptr && retrainable && !m_retrainRunning);
    if (content && !content->modelRecord.recipe)
        m_retrain->setToolTip(tr("This model has no training recipe (import it with one) and cannot be retrained"));
}

QString ExplorePage::retrainText() const
{
    return m_retrainResult->text();
}

void ExplorePage::setClassroomMode(bool on)
{
    m_guide->setVisible(on);
    if (on)
        m_guide->restart();
    const int side = on ? 160 : 96;
    m_testImage->setFixedSize(side, side);
    // The class needs the tiles: the accepted λ and the score legend give them the room.
    m_acceptedLabel->setVisible(!on);
    m_legend->setVisible(!on);
    m_tests->setMinimumWidth(on ? 220 : 300);
    // Side by side, each panel has the page's height for fewer, larger tiles.
    m_tileSplit->setOrientation(on ? Qt::Horizontal : Qt::Vertical);
    m_count->setValue(on ? kClassroomTiles : settings::exploreTileCount.get());
    updateHeader();
    refreshTiles();
}

void ExplorePage::retrainWithoutProponents()
{
    auto session = m_doc->session();
    auto content = m_doc->content();
    if (!session || !content || !content->data || !content->modelRecord.recipe)
        return;
    TopKRemovalOptions options;
    options.k = m_count->value();
    options.tests = {m_doc->selectedTest()};
    const double lambda = session->usesLambda() ? m_doc->lambda() : 1.0;
    const QString where = session->usesLambda() ? tr(" at λ = %1").arg(lambda, 0, 'g', 4) : QString();
    m_retrainResult->setText(tr("Retraining 3 models…"));
    m_retrain->setEnabled(false);
    m_doc->checkTopK(
        options, lambda, this,
        [this, options, where](const CheckOutcome<TopKRemovalResult>& check) {
            const TopKRemovalResult& r = check.result;
            const double seconds = check.setting.seconds;
            const double base = r.baselineLoss.front();
            m_retrainBars->setChanges(r.topKIncrease.front(), r.randomIncrease.front(), static_cast<int>(options.k));
            m_retrainResult->setText(
                tr("Test point %1%2, retrained without its top %3 proponents: loss %4 → %5 (%6); without %3 "
                   "random training images: %7. One retraining each (%8 s): compare several test points.")
                    .arg(options.tests.front())
                    .arg(where)
                    .arg(options.k)
                    .arg(base, 0, 'f', 4)
                    .arg(base + r.topKIncrease.front(), 0, 'f', 4)
                    .arg(QString::asprintf("%+.4f", r.topKIncrease.front()))
                    .arg(QString::asprintf("%+.4f", r.randomIncrease.front()))
                    .arg(seconds, 0, 'f', 1));
            endRetrain();
        },
        [this](const QString& error) {
            m_retrainResult->setText(tr("Retraining failed: %1").arg(error));
            endRetrain();
        });
    m_retrainRunning = true; // after start(): its own started() signal is not "another task"
}

void ExplorePage::endRetrain()
{
    m_retrainRunning = false;
    updateRetrainButton();
    Q_EMIT retrainFinished();
}

const QImage& ExplorePage::trainImage(int64_t index)
{
    QImage& img = m_trainImages[static_cast<size_t>(index)];
    if (img.isNull()) {
        const auto& data = *m_doc->content()->data;
        img = toQImage(data.train, index, data.mean, data.std);
    }
    return img;
}

void ExplorePage::showTop(const TopK& top)
{
    auto content = m_doc->content();
    if (!content || !content->data)
        return;
    auto tiles = [&](const std::vector<RankedPoint>& points) {
        QVector<Tile> out;
        out.reserve(static_cast<int>(points.size()));
        for (const auto& p : points) {
            if (p.index < 0 || p.index >= content->data->train.count)
                continue;
            Tile t;
            t.image = trainImage(p.index);
            t.index = p.index;
            t.score = p.score;
            t.label = QString::fromStdString(
                content->className(content->data->train.labels[static_cast<size_t>(p.index)]));
            out.push_back(std::move(t));
        }
        return out;
    };
    m_proponents->setTiles(tiles(top.proponents));
    m_opponents->setTiles(tiles(top.opponents));
    Q_EMIT tilesUpdated();
}

void ExplorePage::updateHeader()
{
    const QModelIndex index = m_model->index(m_doc->selectedTest(), 0);
    if (!index.isValid()) {
        m_testImage->clear();
        m_testText->setText(m_doc->isOpen() && m_doc->content()->data == nullptr
                                ? tr("The dataset could not be reloaded: %1")
                                      .arg(QString::fromStdString(m_doc->content()->dataError))
                                : tr("Open an experiment to explore its attributions."));
        return;
    }
    const QImage img = m_model->data(index, TestImageModel::ImageRole).value<QImage>();
    m_testImage->setPixmap(
        QPixmap::fromImage(img.scaled(m_testImage->width(), m_testImage->height(), Qt::KeepAspectRatio, Qt::FastTransformation)));
    m_testText->setText(tr("<b>Test point %1</b> — %2")
                            .arg(index.row())
                            .arg(m_model->data(index, Qt::ToolTipRole)
                                     .toString()
                                     .section(QLatin1Char('\n'), 1)
                                     .replace(QLatin1Char('\n'), QStringLiteral(" · "))));
}

std::vector<float> ExplorePage::shownScores() const
{
    std::vector<float> out;
    for (const auto& t : m_proponents->tiles())
        out.push_back(t.score);
    for (const auto& t : m_opponents->tiles())
        out.push_back(t.score);
    return out;
}

QList<Figure> ExplorePage::figures() const
{
    auto* pro = m_proponents;
    auto* opp = m_opponents;
    return {
        {QStringLiteral("proponents"), [pro](QPainter& p, const QRectF& r) { pro->paintFigure(p, r); }},
        {QStringLiteral("opponents"), [opp](QPainter& p, const QRectF& r) { opp->paintFigure(p, r); }},
        {QStringLiteral("tiles"),
         [pro, opp](QPainter& p, const QRectF& r) {
             const QRectF top(r.left(), r.top(), r.width(), r.height() / 2);
             pro->paintFigure(p, top);
             opp->paintFigure(p, top.translated(0, r.height() / 2));
         }},
    };
}

} // namespace attri::ui
