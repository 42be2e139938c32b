#pragma once

#include <QAbstractListModel>
#include <QPixmap>

#include <memory>
#include <vector>

namespace attri::ui {

struct ExperimentContent;

/// The experiment's test points for the Explore grid: icon = the image, text = true/predicted
/// label and loss. Thumbnails are made on first use.
class TestImageModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role { TrueLabelRole = Qt::UserRole + 1, PredictedLabelRole, LossRole, ImageRole };

    explicit TestImageModel(QObject* parent = nullptr);
    void setContent(std::shared_ptr<const ExperimentContent> content);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;

    static constexpr int kIconSize = 56;

private:
    std::shared_ptr<const ExperimentContent> m_content;
    mutable std::vector<QPixmap> m_icons;
};

} // namespace attri::ui
