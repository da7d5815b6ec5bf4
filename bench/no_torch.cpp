// Stand-ins when libtorch is not installed: the benchmark then reports xgrad and the hand-written floor only.
#include "bench.hpp"

namespace bench {
bool torch_available() {
    return false;
}
void torch_set_threads(int) {}
template <class T>
std::unique_ptr<stepper> make_torch(const model_spec&, const problem&) {
    return nullptr;
}
template std::unique_ptr<stepper> make_torch<float>(const model_spec&, const problem&);
template std::unique_ptr<stepper> make_torch<double>(const model_spec&, const problem&);
}  // namespace bench
