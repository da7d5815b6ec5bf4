// The same models in libtorch (a reference only; built when CMake finds Torch).
#include <torch/torch.h>

#include "bench.hpp"

namespace bench {

namespace {

template <class T>
constexpr torch::Dtype dtype() {
    return std::is_same_v<T, float> ? torch::kFloat32 : torch::kFloat64;
}

template <class T>
class torch_stepper final : public stepper {
public:
    torch_stepper(const model_spec& s, const problem& p) : m_spec(s) {
        const auto opts = torch::TensorOptions().dtype(dtype<T>());
        for (std::size_t l = 0; l + 1 < s.sizes.size(); ++l) {
            auto lin =
                torch::nn::Linear(static_cast<int64_t>(s.sizes[l]), static_cast<int64_t>(s.sizes[l + 1]));
            lin->to(dtype<T>());
            torch::NoGradGuard ng;
            std::vector<T> w(p.w[l].begin(), p.w[l].end()), b(p.b[l].begin(), p.b[l].end());
            lin->weight.copy_(torch::from_blob(w.data(), lin->weight.sizes(), opts));
            lin->bias.copy_(torch::from_blob(b.data(), lin->bias.sizes(), opts));
            m_net->push_back(lin);
            if (l + 2 < s.sizes.size()) {
                if (s.hidden == act::relu) m_net->push_back(torch::nn::ReLU());
                if (s.hidden == act::sigmoid) m_net->push_back(torch::nn::Sigmoid());
                if (s.hidden == act::tanh) m_net->push_back(torch::nn::Tanh());
            }
        }
        // Examples are rows in torch: X is [m × n].
        const auto n = static_cast<int64_t>(s.sizes.front()), m = static_cast<int64_t>(s.batch);
        std::vector<T> x(p.x.begin(), p.x.end());
        m_x = torch::from_blob(x.data(), {n, m}, opts).t().contiguous();
        if (s.objective == loss::softmax_ce) {
            std::vector<int64_t> y(p.labels.begin(), p.labels.end());
            m_y = torch::from_blob(y.data(), {m}, torch::kInt64).clone();
        } else {
            std::vector<T> y(p.labels.begin(), p.labels.end());
            m_y = torch::from_blob(y.data(), {m, 1}, opts).clone();
        }
        m_opt =
            std::make_unique<torch::optim::SGD>(m_net->parameters(), torch::optim::SGDOptions(learning_rate));
    }
    void step() override {
        m_opt->zero_grad();
        auto z = m_net->forward(m_x);
        auto l = m_spec.objective == loss::softmax_ce
                     ? torch::nn::functional::cross_entropy(z, m_y)
                     : torch::nn::functional::binary_cross_entropy_with_logits(z, m_y);
        l.backward();
        m_opt->step();
        m_loss = l.item<double>();
    }
    double last_loss() const override { return m_loss; }

private:
    model_spec m_spec;
    torch::nn::Sequential m_net;
    std::unique_ptr<torch::optim::SGD> m_opt;
    torch::Tensor m_x, m_y;
    double m_loss = 0;
};

}  // namespace

bool torch_available() {
    return true;
}
void torch_set_threads(int n) {
    torch::set_num_threads(n);
}

template <class T>
std::unique_ptr<stepper> make_torch(const model_spec& s, const problem& p) {
    return std::make_unique<torch_stepper<T>>(s, p);
}
template std::unique_ptr<stepper> make_torch<float>(const model_spec&, const problem&);
template std::unique_ptr<stepper> make_torch<double>(const model_spec&, const problem&);

}  // namespace bench
