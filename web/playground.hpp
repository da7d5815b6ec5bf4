// The playground's engine: a Playground data set, an MLP of xgrad::nn trained a few steps per call, and views
// of the computation graph (nodes, rules with the user's names, values, gradients, the backward trace), all
// answered as JSON text. The same code runs in the browser (compiled to WebAssembly; the embind glue is at
// the end of playground.cpp) and natively (web/native/playground_native.cpp prints the same answers, for the
// browser test's comparison and for timing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <xgrad/data.hpp>
#include <xgrad/graph.hpp>
#include <xgrad/nn.hpp>
#include <xgrad/optim.hpp>
#include <xgrad/trace.hpp>

namespace xgrad::web {

/// What the page's controls choose. Every field is set by the page (embind's value_object needs them all).
struct settings {
    std::string dataset = "spiral";              ///< circle | xor | gauss | spiral
    double noise = 0.1;                          ///< the Playground's noise slider as a fraction, [0, 0.5]
    int points = 400;                            ///< examples drawn (train and test together)
    int classes = 2;                             ///< spiral arms (2 or 3); the other sets have 2 classes
    std::string hidden = "16,16";                ///< hidden layer sizes, comma-separated ("" for none)
    std::string activation = "tanh";             ///< sigmoid | tanh | relu | leaky_relu | elu | selu
    std::string loss = "softmax_cross_entropy";  ///< softmax_cross_entropy | bce_with_logits | mse
    std::string optimizer = "adam";              ///< sgd | momentum | adam
    double learning_rate = 0.03;                 ///< α
    int batch = 32;                              ///< examples per training step
    double test_fraction = 0.5;                  ///< share of the points held out for testing
    int seed = 1;                                ///< data, initial weights and batch order
};

/// The model, its data and its training state, with JSON answers for the page. Every public function catches
/// xgrad's errors and answers {"error": "…"} instead of throwing.
class playground {
public:
    playground();
    ~playground();
    playground(const playground&) = delete;
    playground& operator=(const playground&) = delete;

    /// New data set, model and optimizer from `s`. Answers the points (train and test: x1, x2, label), the
    /// layer sizes and the parameter count.
    std::string reset(const settings& s);
    /// `steps` optimizer steps on mini-batches (a new shuffled epoch when one runs out). Answers the step
    /// count, each step's loss, and loss and accuracy on the whole train and test sets afterwards.
    std::string train(int steps);
    /// The model's class probabilities on a resolution × resolution grid over [−6, 6]² (row 0 at x₂ = 6):
    /// p[k·G² + r·G + c] for class k.
    std::string boundary(int resolution);
    /// Records forward and backward of the current model on the display batch (the first `batch` training
    /// examples) with a backward trace, and answers the graph: nodes (name, op, shape, expression, inputs),
    /// the root, the trace split per visited node (tape order, as trace_backward prints it) and the DOT text.
    std::string inspect();
    /// One node of the last inspected graph: forward formula, backward rule with the user's names (its own
    /// clauses and the clauses that deliver its gradient), value and gradient matrices.
    std::string node(int id);
    /// Loads one of the lecture's worked examples as the inspected graph: "forward_pass" (the 3-3-1 network),
    /// "softmax" (of [6, −2, 3]) or "cross_entropy"; answers the slide's figures beside the library's and the
    /// graph (as inspect does).
    std::string lecture(const std::string& name);
    /// Steps taken since reset.
    int steps() const { return static_cast<int>(m_step); }

private:
    struct recorded {
        var<double> logits, loss;
    };
    recorded record(graph<double>& g, const matrix<double>& x, const matrix<double>& y,
                    const matrix<double>& targets);
    void build(const settings& s);
    std::string run_inspect();
    std::string graph_json(const std::string& title);
    std::string evaluate_json(const data::dataset<double>& ds, const matrix<double>& targets);

    settings m_settings;
    data::dataset<double> m_train, m_test;
    matrix<double> m_train_t, m_test_t;  // one-hot targets (mse)
    std::unique_ptr<nn::sequential<double>> m_model;
    std::vector<nn::linear<double>*> m_linear;
    std::unique_ptr<optim::optimizer<double>> m_opt;
    std::unique_ptr<data::batcher<double>> m_batches;
    matrix<double> m_batch_t;  // one-hot targets of the current batch (mse)
    graph<double> m_graph;     // the training step's graph, re-recorded every step
    graph<double> m_eval;      // evaluation and decision boundary (no_grad)
    std::size_t m_step = 0;
    bool m_diverged = false;

    // The inspected graph: the model on the display batch, or a worked example.
    graph<double> m_view;
    matrix<double> m_view_x, m_view_y, m_view_t;
    std::vector<matrix<double>> m_lecture_inputs;
    std::optional<tensor_names<double>> m_names;
    std::string m_trace;
    std::size_t m_view_step = 0;  // m_step when the model was inspected
    bool m_view_is_model = false;
};

/// The settings from "key=value" words (the native program's command line): dataset, noise, points, classes,
/// hidden, activation, loss, optimizer, lr, batch, test, seed. Throws xgrad::error for an unknown key.
settings parse_settings(const std::vector<std::string>& words);

}  // namespace xgrad::web
