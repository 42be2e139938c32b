#include "checkpoint_model.h"

namespace attri::ui {

CheckpointModel::CheckpointModel(QObject* parent) : QAbstractTableModel(parent) {}

void CheckpointModel::setRows(std::vector<Row> rows)
{
    beginResetModel();
    m_rows = std::move(rows);
    endResetModel();
}

int CheckpointModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}

int CheckpointModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant CheckpointModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Row& r = m_rows[static_cast<size_t>(index.row())];
    if (role == Qt::TextAlignmentRole)
        return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole && role != Qt::EditRole)
        return {};
    const bool display = role == Qt::DisplayRole;
    switch (index.column()) {
    case IndexColumn:
        return index.row();
    case EpochColumn:
        return display ? QVariant(QString::number(r.epoch, 'g', 4)) : QVariant(r.epoch);
    case LearningRateColumn:
        return display ? QVariant(QString::number(r.lr, 'g', 4)) : QVariant(r.lr);
    case NormColumn:
        return display ? QVariant(QString::number(r.norm, 'f', 3)) : QVariant(r.norm);
    default:
        return {};
    }
}

QVariant CheckpointModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (role != Qt::DisplayRole)
        return {};
    if (orientation == Qt::Vertical)
        return section;
    switch (section) {
    case IndexColumn:
        return tr("checkpoint");
    case EpochColumn:
        return tr("epoch");
    case LearningRateColumn:
        return tr("learning rate");
    case NormColumn:
        return tr("‖θ‖₂");
    default:
        return {};
    }
}

} // namespace attri::ui
