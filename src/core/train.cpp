#include "xgrad/train.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>

#include <fmt/format.h>

#include "xgrad/detail/finite.hpp"
#include "xgrad/distributed.hpp"
#include "xgrad/ops/loss.hpp"

namespace xgrad::train {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// Number of columns whose largest output is at the label's row; counts into `confusion` when given.
template <class T>
std::size_t argmax_hits(const matrix<T>& logits, const matrix<T>& labels,
                        std::vector<std::vector<std::size_t>>* confusion = nullptr) {
    const std::size_t c = logits.shape()[0], m = logits.shape()[1];
    std::size_t ok = 0;
    for (std::size_t j = 0; j < m; ++j) {
        std::size_t best = 0;
        for (std::size_t i = 1; i < c; ++i) {
            if (logits(i, j) > logits(best, j)) best = i;
        }
        const auto t = static_cast<std::size_t>(labels(0, j));
        ok += best == t;
        if (confusion != nullptr) ++(*confusion)[t][best];
    }
    return ok;
}

/// The loss of a batch: the user's, or softmax cross-entropy; checked to be a 1×1 tensor.
template <class T>
var<T> batch_loss(const loss_function<T>& loss, const var<T>& z, const var<T>& y, const char* what) {
    if (!loss) return softmax_cross_entropy(z, y);
    var<T> l = loss(z, y);
    if (l.shape() != shape2{1, 1}) {
        throw argument_error(
            fmt::format("{}: the loss must be a 1×1 tensor (the mean over the batch), not {}", what,
                        to_string(l.shape())));
    }
    return l;
}

/// The metric summed over a batch: the user's, or the number classified right.
template <class T>
double batch_metric(const metric_function<T>& metric, const matrix<T>& z, const matrix<T>& y) {
    return metric ? metric(z, y) : static_cast<double>(argmax_hits(z, y));
}

template <class T>
bool all_finite(const matrix<T>& m) {
    return !detail::any_non_finite(m.data(), m.size());
}

/// Puts a model in training or evaluation mode for a scope, then back into the mode it was in.
template <class T>
class mode_scope {
public:
    mode_scope(nn::module<T>& model, bool training) : m_model(model), m_previous(model.is_training()) {
        model.train(training);
    }
    ~mode_scope() { m_model.train(m_previous); }
    mode_scope(const mode_scope&) = delete;
    mode_scope& operator=(const mode_scope&) = delete;

private:
    nn::module<T>& m_model;
    bool m_previous;
};

template <class T>
void check_classification(const nn::module<T>&, const data::dataset<T>& ds, const char* what,
                          const char* which = "the data set") {
    if (ds.size() == 0) throw data_error(fmt::format("{}: the data set is empty", what));
    if (ds.classes < 2 || ds.y.shape()[0] != 1) {
        throw data_error(fmt::format("{}: needs a labelled data set with at least 2 classes (has {} classes)",
                                     what, ds.classes));
    }
    // Every label before any batch: a bad one is named by its example (column) in the data set, not by its
    // place in a shuffled mini-batch.
    const T* y = ds.y.data();
    for (std::size_t j = 0, n = ds.size(); j < n; ++j) {
        if (!(y[j] >= T(0) && y[j] < static_cast<T>(ds.classes)) || y[j] != std::floor(y[j])) {
            throw data_error(
                fmt::format("{}: label {} of example {} of {} (column {} of y) is not a class index "
                            "in [0, {})",
                            what, static_cast<double>(y[j]), j, which, j, ds.classes));
        }
    }
}

}  // namespace

template <class T>
std::vector<epoch_stats> fit(nn::module<T>& model, optim::optimizer<T>& opt, const data::dataset<T>& train,
                             const fit_options<T>& o, std::source_location loc) {
    const detail::call_site_scope scope(loc);  // an op failing inside names the caller of fit
    check_classification(model, train, "fit", "the training set");
    if (o.validation != nullptr && o.validation->size() > 0)
        check_classification(model, *o.validation, "fit", "the validation set");
    if (o.epochs < 0) throw argument_error(fmt::format("fit: epochs must be ≥ 0, not {}", o.epochs));
    if (o.batch == 0) throw argument_error("fit: the batch size must be at least 1");

    // Data parallelism: the batcher draws global batches of N·batch; this rank trains on its slice.
    dist::communicator* comm =
        o.communicator != nullptr && o.communicator->size() > 1 ? o.communicator : nullptr;
    const std::size_t ranks = comm != nullptr ? static_cast<std::size_t>(comm->size()) : 1;
    std::unique_ptr<dist::gradient_reducer<T>> reducer;
    std::unique_ptr<dist::sharded_optimizer<T>> zero;  // the step sharded over the ranks (ZeRO-1)
    if (o.shared_update != nullptr && comm == nullptr)
        throw argument_error("fit: shared_update needs a communicator of more than one rank");
    if (comm != nullptr) {
        dist::broadcast_model(*comm, model, opt);
        if (o.shared_update == nullptr && o.shard_optimizer && opt.can_update_in_parts())
            zero = std::make_unique<dist::sharded_optimizer<T>>(*comm, opt, o.bucket_bytes);
        else if (o.shared_update == nullptr)
            reducer = std::make_unique<dist::gradient_reducer<T>>(*comm, opt.params(), o.bucket_bytes);
    }
    data::batcher<T> batches(train, o.split_batch ? o.batch : o.batch * ranks, o.seed);
    if (o.shared_examples) batches.share_examples(o.shared_examples);
    // Each rank gathers only its slice of the global batch.
    if (comm != nullptr) batches.set_shard(static_cast<std::size_t>(comm->rank()), ranks);
    const auto named = model.named_parameters();
    const std::size_t per_epoch = batches.batches_per_epoch();
    graph<T> g;
    std::vector<epoch_stats> history;
    if (o.first_epoch < 0 || o.first_epoch > o.epochs)
        throw argument_error(
            fmt::format("fit: first_epoch must be in [0, epochs = {}], not {}", o.epochs, o.first_epoch));
    for (int e = 0; e < o.first_epoch; ++e) batches.start_epoch();  // the same shuffling orders as the run
    const mode_scope<T> training(model, true);  // dropout drops, batch_norm uses the batch's statistics
    for (int e = o.first_epoch; e < o.epochs; ++e) {
        if (o.schedule) opt.set_learning_rate(static_cast<T>(o.schedule(e)));
        const auto t0 = clock_type::now();
        double loss_sum = 0, correct = 0;
        std::size_t seen = 0, done = 0;
        batches.start_epoch();
        while (batches.next()) {
            g.clear();
            opt.zero_grad();
            const matrix<T>*bx = &batches.x(), *by = &batches.y();
            const std::size_t m_global = batches.global_count();
            const std::size_t m = bx->shape()[1];  // this rank's slice (dist::shard_of) of the global batch
            var<T> loss;
            double l = 0, hits = 0;
            if (m > 0) {
                const auto z = model(g.borrow(*bx, "X"));
                loss = batch_loss(o.loss, z, g.borrow(*by, "Y"), "fit");
                l = static_cast<double>(loss.item());
                hits = batch_metric(o.metric, z.value(), *by);
            }
            const double scale = static_cast<double>(m) / static_cast<double>(m_global);
            if (o.shared_update != nullptr) {  // the threads' step: backward first, then the exchange
                if (m > 0) g.backward(loss);
                double stats[2] = {l * static_cast<double>(m), hits};
                o.shared_update->exchange(comm->rank(), stats, scale);
                l = stats[0] / static_cast<double>(m_global), hits = stats[1];
            } else if (comm != nullptr) {  // the global batch's loss and metric, the same on every rank
                std::array<double, 2> sums{l * static_cast<double>(m), hits};
                comm->allreduce_sum(std::span<double>(sums));
                l = sums[0] / static_cast<double>(m_global), hits = sums[1];
            }
            // A diverging run stops here, before the update, so the weights stay as they were.
            if (!std::isfinite(l)) {
                if (zero) zero->gather_state();  // (every rank stops here: l is the same everywhere)
                throw numeric_error(fmt::format(
                    "fit: the training loss became {} in epoch {}, batch {} (learning rate {} too large? "
                    "turn on the graph's anomaly mode to find the op); the weights are those before this "
                    "batch",
                    l, e + 1, done + 1, static_cast<double>(opt.learning_rate())));
            }
            if (o.shared_update != nullptr) {
                const std::size_t bad = o.shared_update->reduce(comm->rank(), o.check_gradients);
                if (bad < named.size()) {
                    throw numeric_error(fmt::format(
                        "fit: the gradient of '{}' is not finite in epoch {}, batch {} (turn on the graph's "
                        "anomaly mode to find the op); the weights are those before this batch",
                        named[bad].first, e + 1, done + 1));
                }
                o.shared_update->update(comm->rank());
            } else if (comm == nullptr) {
                g.backward(loss);
            } else if (zero) {  // backward, and this rank's shard of the gradients summed over the ranks
                if (m > 0) {
                    zero->backward(g, loss, scale);
                } else {
                    zero->reduce(0);
                }
                // Each rank checks its shard; the first bad parameter of any shard, on every rank alike.
                const std::size_t bad = o.check_gradients ? zero->first_non_finite() : opt.params().size();
                if (bad < opt.params().size()) {
                    zero->gather_state();
                    std::string name = opt.params()[bad]->name();
                    for (auto& [n, p] : named)
                        if (p == opt.params()[bad]) name = n;
                    throw numeric_error(fmt::format(
                        "fit: the gradient of '{}' is not finite in epoch {}, batch {} (turn on the graph's "
                        "anomaly mode to find the op); the weights are those before this batch",
                        name, e + 1, done + 1));
                }
                zero->step();
            } else if (m > 0) {  // backward, and the gradients averaged over the global batch
                reducer->backward(g, loss, scale, o.overlap_reduction);
            } else {
                reducer->reduce(0);
            }
            if (o.check_gradients && o.shared_update == nullptr && !zero) {
                for (auto& [name, p] : named) {
                    if (!all_finite(p->grad())) {
                        throw numeric_error(fmt::format(
                            "fit: the gradient of '{}' is not finite in epoch {}, batch {} (turn on the "
                            "graph's "
                            "anomaly mode to find the op); the weights are those before this batch",
                            name, e + 1, done + 1));
                    }
                }
            }
            if (o.shared_update == nullptr && !zero) opt.step();
            loss_sum += l * static_cast<double>(m_global);
            correct += hits;
            seen += m_global;
            ++done;
            if (o.on_batch)
                o.on_batch({e + 1, o.epochs, done, per_epoch, loss_sum / static_cast<double>(seen),
                            correct / static_cast<double>(seen)});
        }
        if (o.shared_update != nullptr) o.shared_update->end_epoch(comm->rank());
        if (zero) zero->gather_state();  // the whole optimizer state on every rank, for on_epoch and after
        if (comm != nullptr) dist::average_buffers(*comm, model);  // running statistics, as one
        const double train_seconds = seconds_since(t0);
        epoch_stats s;
        s.epoch = e + 1;
        s.loss = loss_sum / static_cast<double>(seen);
        s.train_accuracy = correct / static_cast<double>(seen);
        s.learning_rate = static_cast<double>(opt.learning_rate());
        s.examples_per_second = static_cast<double>(seen) / train_seconds;
        if (o.validation != nullptr && o.validation->size() > 0) {
            const evaluation v = evaluate(model, *o.validation, 1000, o.loss, o.metric, comm);
            s.val_accuracy = v.accuracy;
            s.val_loss = v.loss;
        }
        s.seconds = seconds_since(t0);
        history.push_back(s);
        if (o.on_epoch) o.on_epoch(s);
    }
    return history;
}

template <class T>
double count_correct(const matrix<T>& output, const matrix<T>& labels) {
    return static_cast<double>(argmax_hits(output, labels));
}

template <class T>
evaluation evaluate(nn::module<T>& model, const data::dataset<T>& ds, std::size_t batch,
                    const loss_function<T>& loss_fn, const metric_function<T>& metric,
                    dist::communicator* comm) {
    check_classification(model, ds, "evaluate");
    if (comm != nullptr && comm->size() > 1) {  // this rank's slice, then the totals of all ranks
        const dist::shard sh = dist::shard_of(ds.size(), comm->rank(), comm->size());
        std::vector<std::size_t> columns(sh.count);
        std::iota(columns.begin(), columns.end(), sh.begin);
        evaluation part;
        part.classes = ds.classes;
        part.confusion.assign(ds.classes, std::vector<std::size_t>(ds.classes, 0));
        if (sh.count > 0) part = evaluate(model, data::subset(ds, columns), batch, loss_fn, metric);
        std::vector<double> sums{part.accuracy * static_cast<double>(part.examples),
                                 part.loss * static_cast<double>(part.examples),
                                 static_cast<double>(part.examples)};
        for (const auto& row : part.confusion)
            for (std::size_t v : row) sums.push_back(static_cast<double>(v));  // exact below 2⁵³
        comm->allreduce_sum(std::span<double>(sums));
        evaluation r = part;
        r.examples = static_cast<std::size_t>(sums[2]);
        r.accuracy = sums[0] / sums[2];
        r.loss = sums[1] / sums[2];
        std::size_t at = 3;
        for (auto& row : r.confusion)
            for (auto& v : row) v = static_cast<std::size_t>(sums[at++]);
        return r;
    }
    evaluation r;
    r.classes = ds.classes;
    r.confusion.assign(ds.classes, std::vector<std::size_t>(ds.classes, 0));
    data::batcher<T> batches(ds, std::max<std::size_t>(batch, 1), 0, /*shuffle=*/false);
    graph<T> g;
    no_grad guard;
    const mode_scope<T> evaluation_mode(model, false);  // no dropout; batch_norm's running statistics
    double correct = 0, loss_sum = 0;
    while (batches.next()) {
        g.clear();
        const auto z = model(g.borrow(batches.x()));
        if (z.rows() != ds.classes) {
            throw graph_error(fmt::format(
                "evaluate: the model has {} outputs but the data set has {} classes", z.rows(), ds.classes));
        }
        const auto loss = batch_loss(loss_fn, z, g.borrow(batches.y()), "evaluate");
        const std::size_t m = batches.x().shape()[1];
        loss_sum += static_cast<double>(loss.item()) * static_cast<double>(m);
        const std::size_t hits = argmax_hits(z.value(), batches.y(), &r.confusion);
        correct += metric ? metric(z.value(), batches.y()) : static_cast<double>(hits);
        r.examples += m;
    }
    r.accuracy = correct / static_cast<double>(r.examples);
    r.loss = loss_sum / static_cast<double>(r.examples);
    return r;
}

std::string format_confusion(const evaluation& e, const std::vector<std::string>& names) {
    // Rows by number and name ("2 virginica"), so that the numbered columns can be read by name.
    auto name = [&](std::size_t k) {
        const std::string number = std::to_string(k);
        return k < names.size() && names[k] != number ? fmt::format("{} {}", k, names[k]) : number;
    };
    std::size_t w = 5, label_w = 4;
    for (std::size_t k = 0; k < e.classes; ++k) label_w = std::max(label_w, name(k).size());
    for (const auto& row : e.confusion) {
        for (auto v : row) w = std::max(w, std::to_string(v).size() + 1);
    }
    std::string s = fmt::format("{:>{}}  predicted →\n{:>{}}", "true ↓", label_w + 2, "", label_w);
    for (std::size_t p = 0; p < e.classes; ++p) s += fmt::format("{:>{}}", std::to_string(p), w);
    s += "\n";
    for (std::size_t t = 0; t < e.classes; ++t) {
        s += fmt::format("{:<{}}", name(t), label_w);
        for (std::size_t p = 0; p < e.classes; ++p) s += fmt::format("{:>{}}", e.confusion[t][p], w);
        s += "\n";
    }
    return s;
}

template std::vector<epoch_stats> fit(nn::module<float>&, optim::optimizer<float>&,
                                      const data::dataset<float>&, const fit_options<float>&,
                                      std::source_location);
template std::vector<epoch_stats> fit(nn::module<double>&, optim::optimizer<double>&,
                                      const data::dataset<double>&, const fit_options<double>&,
                                      std::source_location);
template evaluation evaluate(nn::module<float>&, const data::dataset<float>&, std::size_t,
                             const loss_function<float>&, const metric_function<float>&, dist::communicator*);
template evaluation evaluate(nn::module<double>&, const data::dataset<double>&, std::size_t,
                             const loss_function<double>&, const metric_function<double>&,
                             dist::communicator*);
template double count_correct(const matrix<float>&, const matrix<float>&);
template double count_correct(const matrix<double>&, const matrix<double>&);

}  // namespace xgrad::train
