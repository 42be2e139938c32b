#pragma once

#include "attribution/attribution_session.h"
#include "workflows/attribute.h"

#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;

namespace attri::ui {

class ExperimentDocument;

/// Attribute: method, projection, k values, λ grid and layers; runs the attribution with
/// progress and cancel; the results land in the experiment file.
class AttributePage : public QWidget {
    Q_OBJECT
public:
    explicit AttributePage(ExperimentDocument* document, QWidget* parent = nullptr);

    /// The request the form describes. Throws attri::ConfigError naming the field.
    AttributionRequest request() const;
    /// Sets the form (for tests and presets).
    void setForm(const QString& method, const QString& projection, const QString& ks, const QString& grid,
                 const QString& layers = QStringLiteral("all"), int sensitivityTests = 100);
    /// Validates the form and starts the run; returns false (with the message shown) when invalid.
    bool run();

private:
    ExperimentDocument* m_doc;
    QComboBox* m_method;
    QComboBox* m_projection;
    QLineEdit* m_ks;
    QLineEdit* m_grid;
    QCheckBox* m_relative;
    QLineEdit* m_layers;
    QSpinBox* m_seed;
    QSpinBox* m_tests;
    QSpinBox* m_batch;
    QPushButton* m_run;
    QPushButton* m_cancel;
    QLabel* m_error;
    QPlainTextEdit* m_log;
};

} // namespace attri::ui
