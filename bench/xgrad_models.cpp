// The models written the way a user of xgrad writes them: modules, a graph re-recorded every step, an
// optimizer — and the same step recorded once and replayed (graph::capture, recording::run).
#include <xgrad/xgrad.hpp>

#include "bench.hpp"

namespace bench {

namespace {

template <class T>
class xgrad_stepper final : public stepper {
public:
    /// replay: record the step once and replay it (graph::capture) instead of recording it every step.
    xgrad_stepper(const model_spec& s, const problem& p, bool replay) : m_spec(s) {
        xgrad::rng g(0);
        const auto kind = s.hidden == act::relu      ? xgrad::nn::activation_kind::relu
                          : s.hidden == act::sigmoid ? xgrad::nn::activation_kind::sigmoid
                                                     : xgrad::nn::activation_kind::tanh;
        m_net = xgrad::nn::mlp<T>(s.sizes, kind, g);
        auto params = m_net->parameters();
        for (std::size_t l = 0; l < p.w.size(); ++l) {  // the shared initial weights
            std::copy(p.w[l].begin(), p.w[l].end(), params[2 * l]->value().begin());
            std::copy(p.b[l].begin(), p.b[l].end(), params[2 * l + 1]->value().begin());
        }
        m_opt = std::make_unique<xgrad::optim::sgd<T>>(params, T(learning_rate));
        m_x = xgrad::matrix<T>({s.sizes.front(), s.batch});
        std::copy(p.x.begin(), p.x.end(), m_x.begin());
        m_y = xgrad::matrix<T>({1, s.batch});
        std::copy(p.labels.begin(), p.labels.end(), m_y.begin());
        if (replay) m_step = m_graph.capture(record());
    }
    void step() override {
        if (m_step.ops() != 0) {
            m_opt->zero_grad();
            m_step.run();
            m_opt->step();
            m_loss = static_cast<double>(m_step.root().item());
            return;
        }
        m_graph.clear();
        m_opt->zero_grad();
        auto x = m_graph.borrow(m_x);
        auto y = m_graph.borrow(m_y);
        auto z = (*m_net)(x);
        auto l =
            m_spec.objective == loss::bce ? xgrad::bce_with_logits(z, y) : xgrad::softmax_cross_entropy(z, y);
        m_graph.backward(l);
        m_opt->step();
        m_loss = static_cast<double>(l.item());
    }
    double last_loss() const override { return m_loss; }

private:
    xgrad::var<T> record() {  // the forward of one step, recorded on the empty graph
        auto x = m_graph.borrow(m_x);
        auto y = m_graph.borrow(m_y);
        auto z = (*m_net)(x);
        return m_spec.objective == loss::bce ? xgrad::bce_with_logits(z, y)
                                             : xgrad::softmax_cross_entropy(z, y);
    }

private:
    model_spec m_spec;
    std::unique_ptr<xgrad::nn::sequential<T>> m_net;
    std::unique_ptr<xgrad::optim::sgd<T>> m_opt;
    xgrad::graph<T> m_graph;
    xgrad::matrix<T> m_x, m_y;
    xgrad::recording<T> m_step;  // empty unless replaying
    double m_loss = 0;
};

}  // namespace

template <class T>
std::unique_ptr<stepper> make_xgrad(const model_spec& s, const problem& p) {
    return std::make_unique<xgrad_stepper<T>>(s, p, false);
}
template <class T>
std::unique_ptr<stepper> make_xgrad_replay(const model_spec& s, const problem& p) {
    return std::make_unique<xgrad_stepper<T>>(s, p, true);
}
template std::unique_ptr<stepper> make_xgrad<float>(const model_spec&, const problem&);
template std::unique_ptr<stepper> make_xgrad<double>(const model_spec&, const problem&);
template std::unique_ptr<stepper> make_xgrad_replay<float>(const model_spec&, const problem&);
template std::unique_ptr<stepper> make_xgrad_replay<double>(const model_spec&, const problem&);

}  // namespace bench
