// The confusion matrix as printed by the xgrad command.
#include "app/confusion.hpp"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "app/arguments.hpp"

namespace xgrad::app {

std::string confusion_report(const train::evaluation& e, const std::vector<std::string>& names,
                             std::size_t max_full) {
    if (e.classes <= max_full) return train::format_confusion(e, names);
    auto name = [&](std::size_t k) { return k < names.size() ? printable(names[k], 40) : std::to_string(k); };
    struct recall {
        double accuracy;
        std::size_t k, correct, total;
    };
    std::vector<recall> per_class;
    std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> confusions;  // (count, true, predicted)
    std::size_t empty = 0;
    for (std::size_t t = 0; t < e.classes; ++t) {
        std::size_t total = 0;
        for (std::size_t p = 0; p < e.classes; ++p) {
            const std::size_t c = e.confusion[t][p];
            total += c;
            if (p != t && c > 0) confusions.emplace_back(c, t, p);
        }
        if (total == 0) {
            ++empty;
            continue;
        }
        per_class.push_back({static_cast<double>(e.confusion[t][t]) / static_cast<double>(total), t,
                             e.confusion[t][t], total});
    }
    std::stable_sort(per_class.begin(), per_class.end(),
                     [](const recall& a, const recall& b) { return a.accuracy < b.accuracy; });
    std::stable_sort(confusions.begin(), confusions.end(),
                     [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });

    std::string s =
        fmt::format("{} classes: more than {}, so instead of the {}×{} table, a summary{}.\n", e.classes,
                    max_full, e.classes, e.classes,
                    empty ? fmt::format(" ({} classes have no example in this set)", empty) : std::string());
    const std::size_t shown = std::min<std::size_t>(5, per_class.size());
    auto line = [&](const recall& r) {
        return fmt::format("  {:>12}  {:6.2f}%  ({} of {})\n", name(r.k), 100 * r.accuracy, r.correct,
                           r.total);
    };
    s += fmt::format("weakest {} classes (accuracy on their examples):\n", shown);
    for (std::size_t i = 0; i < shown; ++i) s += line(per_class[i]);
    s += fmt::format("strongest {} classes:\n", shown);
    for (std::size_t i = 0; i < shown; ++i) s += line(per_class[per_class.size() - 1 - i]);
    const std::size_t pairs = std::min<std::size_t>(10, confusions.size());
    s += fmt::format("most frequent confusions (true → predicted: examples), {} of {}:\n", pairs,
                     confusions.size());
    for (std::size_t i = 0; i < pairs; ++i) {
        const auto& [c, t, p] = confusions[i];
        s += fmt::format("  {:>12} → {:<12}  {}\n", name(t), name(p), c);
    }
    return s;
}

}  // namespace xgrad::app
