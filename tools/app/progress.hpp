/// @file app/progress.hpp
/// @brief Showing a training run's progress on a terminal: a bar redrawn in place, or one line per epoch.
#pragma once

#include <cstdio>

#include "xgrad/train.hpp"

namespace xgrad::app {

/// How progress is shown.
enum class progress_mode {
    automatic,  ///< a bar redrawn in place on a terminal, one line per epoch otherwise
    bar,
    lines,
    none
};

/// Draws progress from fit's callbacks: attach() it to the fit_options of a run.
class progress_display {
public:
    progress_display(progress_mode mode, std::FILE* out);
    /// Sets options.on_batch and options.on_epoch to draw on this display (the display must outlive the run).
    template <class T>
    void attach(train::fit_options<T>& options) {
        options.on_batch = [this](const train::batch_progress& p) { on_batch(p); };
        options.on_epoch = [this, epochs = options.epochs](const train::epoch_stats& s) {
            on_epoch(s, epochs);
        };
    }
    void on_batch(const train::batch_progress& p);
    void on_epoch(const train::epoch_stats& s, int epochs);

private:
    std::FILE* m_out;
    bool m_bar, m_lines;
};

}  // namespace xgrad::app
