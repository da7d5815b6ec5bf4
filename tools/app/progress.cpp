#include "app/progress.hpp"

#include <unistd.h>

#include <string>

#include <fmt/format.h>

namespace xgrad::app {

progress_display::progress_display(progress_mode mode, std::FILE* out)
    : m_out(out),
      m_bar(out != nullptr && (mode == progress_mode::bar ||
                               (mode == progress_mode::automatic && ::isatty(::fileno(out)) != 0))),
      m_lines(out != nullptr && mode != progress_mode::none) {}

void progress_display::on_batch(const train::batch_progress& p) {
    if (!m_bar || (p.batch % 16 != 0 && p.batch != p.batches)) return;
    const std::size_t width = 30, filled = width * p.batch / p.batches;
    fmt::print(m_out, "\repoch {:>3}/{} [{}{}] {:3}%  loss {:.4f}  acc {:.2f}%", p.epoch, p.epochs,
               std::string(filled, '#'), std::string(width - filled, '.'), 100 * p.batch / p.batches, p.loss,
               100 * p.train_accuracy);
    std::fflush(m_out);
}

void progress_display::on_epoch(const train::epoch_stats& s, int epochs) {
    if (!m_lines) return;
    if (m_bar) fmt::print(m_out, "\r");
    fmt::print(m_out,
               "epoch {:>3}/{}  loss {:.4f}  train acc {:.2f}%{}  lr {:.3g}  {:.0f} examples/s  {:.2f} s{}\n",
               s.epoch, epochs, s.loss, 100 * s.train_accuracy,
               s.val_accuracy >= 0 ? fmt::format("  val acc {:.2f}%", 100 * s.val_accuracy) : "",
               s.learning_rate, s.examples_per_second, s.seconds, m_bar ? "          " : "");
    std::fflush(m_out);
}

}  // namespace xgrad::app
