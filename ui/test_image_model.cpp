#include "test_image_model.h"

#include "experiment_content.h"
#include "image_util.h"

#include <QColor>

namespace attri::ui {

TestImageModel::TestImageModel(QObject* parent) : QAbstractListModel(parent) {}

void TestImageModel::setContent(std::shared_ptr<const ExperimentContent> content)
{
    beginResetModel();
    m_content = std::move(content);
    m_icons.clear();
    if (m_content && m_content->data)
        m_icons.resize(static_cast<size_t>(m_content->data->test.count));
    endResetModel();
}

int TestImageModel::rowCount(const QModelIndex& parent) const
{
    if (parent.isValid() || !m_content || !m_content->data)
        return 0;
    return static_cast<int>(m_content->data->test.count);
}

QVariant TestImageModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const auto& data = *m_content->data;
    const int row = index.row();
    const int64_t label = data.test.labels[static_cast<size_t>(row)];
    const bool hasPrediction = row < static_cast<int>(m_content->testPredicted.size());
    const int64_t predicted = hasPrediction ? m_content->testPredicted[static_cast<size_t>(row)] : -1;
    const bool hasLoss = row < static_cast<int>(m_content->testLoss.size());
    const double loss = hasLoss ? m_content->testLoss[static_cast<size_t>(row)] : 0.0;
    switch (role) {
    case Qt::DisplayRole: {
        QString text = QString::fromStdString(m_content->className(label));
        if (hasPrediction && predicted != label)
            text += QStringLiteral(" → ") + QString::fromStdString(m_content->className(predicted));
        if (hasLoss)
            text += QStringLiteral("\nloss %1").arg(loss, 0, 'f', 2);
        return text;
    }
    case Qt::ToolTipRole:
        return tr("Test point %1\ntrue: %2\npredicted: %3\nloss: %4")
            .arg(row)
            .arg(QString::fromStdString(m_content->className(label)))
            .arg(hasPrediction ? QString::fromStdString(m_content->className(predicted)) : tr("unknown"))
            .arg(hasLoss ? QString::number(loss, 'f', 4) : tr("unknown"));
    case Qt::DecorationRole: {
        QPixmap& icon = m_icons[static_cast<size_t>(row)];
        if (icon.isNull())
            icon = QPixmap::fromImage(
                toQImage(data.test, row, data.mean, data.std)
                    .scaled(kIconSize, kIconSize, Qt::KeepAspectRatio, Qt::FastTransformation));
        return icon;
    }
    case Qt::ForegroundRole:
        if (hasPrediction && predicted != label)
            return QColor(0xD5, 0x5E, 0x00); // misclassified: vermillion (colour-blind safe)
        return {};
    case TrueLabelRole:
        return static_cast<qlonglong>(label);
    case PredictedLabelRole:
        return hasPrediction ? QVariant(static_cast<qlonglong>(predicted)) : QVariant();
    case LossRole:
        return hasLoss ? QVariant(loss) : QVariant();
    case ImageRole:
        return toQImage(data.test, row, data.mean, data.std);
    default:
        return {};
    }
}

} // namespace attri::ui
