#pragma once

#include <QAbstractTableModel>

#include <vector>

namespace attri::ui {

/// The open experiment's checkpoints for the Data & model page: one row per checkpoint with
/// the epochs completed, the learning rate of the epochs before it (TracIn's η) and the
/// parameter norm ‖θ‖₂ (how far training moved the weights).
class CheckpointModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { IndexColumn, EpochColumn, LearningRateColumn, NormColumn, ColumnCount };

    struct Row {
        double epoch = 0.0; ///< epochs completed, fractional for a checkpoint inside an epoch
        double lr = 0.0;
        double norm = 0.0;
    };

    explicit CheckpointModel(QObject* parent = nullptr);
    void setRows(std::vector<Row> rows);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    std::vector<Row> m_rows;
};

} // namespace attri::ui
