#include "classroom_guide.h"

#include "experiment_document.h"
#include "explore_page.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>

namespace attri::ui {

ClassroomGuide::ClassroomGuide(ExperimentDocument* document, ExplorePage* page, QWidget* parent)
    : QFrame(parent), m_doc(document), m_text(new QLabel(this)), m_next(new QPushButton(tr("Next"), this))
{
    setFrameShape(QFrame::StyledPanel);
    setStyleSheet(QStringLiteral("ClassroomGuide { background: #fff8dc; }"));
    m_text->setWordWrap(true);
    QFont font = m_text->font();
    font.setPointSizeF(font.pointSizeF() * 1.4);
    m_text->setFont(font);
    auto* layout = new QHBoxLayout(this);
    layout->addWidget(m_text, 1);
    layout->addWidget(m_next);
    connect(m_next, &QPushButton::clicked, this, &ClassroomGuide::next);
    connect(m_doc, &ExperimentDocument::selectedTestChanged, this, [this] {
        if (m_step == PickImage || m_step == Done)
            show(ReadTiles);
    });
    connect(m_doc, &ExperimentDocument::lambdaChanged, this, [this] {
        if (m_step == MoveLambda)
            show(Retrain);
    });
    connect(page, &ExplorePage::retrainFinished, this, [this] {
        if (m_step == Retrain)
            show(Done);
    });
    show(PickImage);
}

QString ClassroomGuide::text() const
{
    return m_text->text();
}

void ClassroomGuide::restart()
{
    show(PickImage);
}

void ClassroomGuide::next()
{
    switch (m_step) {
    case PickImage: show(ReadTiles); break;
    case ReadTiles: show(MoveLambda); break;
    case MoveLambda: show(Retrain); break;
    case Retrain: show(Done); break;
    case Done: show(PickImage); break;
    }
}

void ClassroomGuide::show(Step step)
{
    m_step = step;
    switch (step) {
    case PickImage:
        m_text->setText(tr("<b>1 · Pick a test image</b> on the left. Orange captions are images the model gets "
                           "wrong."));
        break;
    case ReadTiles:
        m_text->setText(tr("<b>2 · Read the tiles.</b> Top: the training images that <i>helped</i> this prediction "
                           "most (proponents). Bottom: the ones that <i>hurt</i> it (opponents). Do they look "
                           "alike? Share its label?"));
        break;
    case MoveLambda:
        m_text->setText(tr("<b>3 · Drag the λ slider.</b> Small λ trusts every direction of the model's curvature, "
                           "and the ranking turns erratic; large λ ignores it, and the scores become a plain "
                           "gradient similarity. Which tiles stay?"));
        break;
    case Retrain:
        m_text->setText(tr("<b>4 · Put it to the test:</b> press <i>Retrain without these proponents</i>. The model "
                           "is retrained without them, and once without as many random images. If the "
                           "proponents mattered, this image's loss rises more without them."));
        break;
    case Done:
        m_text->setText(tr("<b>Done.</b> One retraining is one draw: try other test images, or another λ, and "
                           "compare."));
        break;
    }
    m_next->setText(step == Done ? tr("Start again") : tr("Next"));
}

} // namespace attri::ui
