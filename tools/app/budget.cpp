// Estimating a model's memory before building it, and the machine's limit.
#include "app/budget.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

namespace xgrad::app {

model_cost estimate_cost(const std::vector<std::size_t>& sizes, std::size_t batch, int optimizer_state,
                         std::size_t eval_columns) {
    model_cost c;
    double units = sizes.empty() ? 0.0 : static_cast<double>(sizes[0]);  // the batch's input columns too
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
        const double in = static_cast<double>(sizes[l]), out = static_cast<double>(sizes[l + 1]);
        c.parameters += in * out + out;
        units += out;
    }
    c.parameter_bytes = 4.0 * c.parameters * (batch > 0 ? 2.0 + optimizer_state : 1.0);
    c.activation_bytes =
        4.0 * std::max(4.0 * static_cast<double>(batch), 2.0 * static_cast<double>(eval_columns)) * units;
    const double classes = sizes.empty() ? 0.0 : static_cast<double>(sizes.back());
    c.confusion_bytes = 8.0 * classes * classes;
    return c;
}

double memory_limit() {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    double limit = pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 1e300;
    // A container's limit: cgroup v2 ("max" when there is none), then v1 (a huge number when there is none).
    for (const char* f : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
        std::ifstream in(f);
        std::string v;
        if (in >> v && !v.empty() && v.find_first_not_of("0123456789") == std::string::npos) {
            limit = std::min(limit, std::stod(v));
        }
    }
    // A process limit (ulimit -v, ulimit -d).
    for (const int resource : {RLIMIT_AS, RLIMIT_DATA}) {
        rlimit r{};
        if (::getrlimit(resource, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
            limit = std::min(limit, static_cast<double>(r.rlim_cur));
    }
    return limit;
}

}  // namespace xgrad::app
