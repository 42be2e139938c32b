#pragma once

#include <QFrame>

class QLabel;
class QPushButton;

namespace attri::ui {

class ExperimentDocument;
class ExplorePage;

/// Classroom mode's guided sequence on the Explore page, one step at a time in large type: pick
/// a test image → read its proponents and opponents → move λ → retrain without the top
/// proponents and compare the loss change. Each step ends on what the class does (a selection, a
/// λ change, a finished retraining) or on Next.
class ClassroomGuide : public QFrame {
    Q_OBJECT
public:
    enum Step { PickImage, ReadTiles, MoveLambda, Retrain, Done };

    ClassroomGuide(ExperimentDocument* document, ExplorePage* page, QWidget* parent = nullptr);
    Step step() const { return m_step; }
    QString text() const;
    /// Starts again at the first step.
    void restart();
    void next();

private:
    void show(Step step);

    ExperimentDocument* m_doc;
    QLabel* m_text;
    QPushButton* m_next;
    Step m_step = PickImage;
};

} // namespace attri::ui
