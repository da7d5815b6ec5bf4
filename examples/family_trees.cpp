// Hinton's family-trees task (lecture 4, "Learning to predict the next word"): two isomorphic family trees,
// one English and one Italian, 24 people and 12 relations. Every fact is a triple (person1, relation,
// person2); the network sees person1 and the relation and must name person2. Each person and each relation is
// a symbol with no features of its own, so the network has to learn a feature vector for it: an embedding.
//
//   person1  → embedding 24 → 6 ┐
//                               ├ concat → linear 12→12, tanh → linear 12→6, tanh → linear 6→24 → softmax
//   relation → embedding 12 → 6 ┘
//
// It trains on every triple (full batch, Adam) and prints the epoch from which every query (person1,
// relation) is answered with a right person2 (some queries have two right answers: Colin has two aunts).
// Then, as in the lecture, a fresh network trained on all but 4 triples is asked those 4 (printed, not
// checked: with this small set the answer varies from seed to seed). Last it draws the learned person
// vectors in 2-D — each tree centred on its own mean, first two principal components, computed here — with
// each English person joined to their Italian counterpart, so one sees how far the two trees line up.
//
//   ./family_trees [output directory [seed]]   writes family_trees.svg there (default: the current
//                                              directory; seed 1)
//
// Exit status 0 when training accuracy reached 100 % by epoch 1000 and is 100 % at the end (epoch 1500), 1
// otherwise: ctest runs it as example.family_trees. About 15 % of initialisations fail that on their own:
// with 6-unit bottlenecks and tanh some end in a local minimum (all but one to four queries answered right,
// the loss flat for a thousand epochs), and at lr 0.05 a late spike of the loss (Adam's steps once its second
// moments have become tiny) can undo 100 %; which seeds fail changes with the last bits of the arithmetic.
// So a failed run starts again from a new initialisation (the next draws of the same generator), up to 3 runs
// in all, and the output says so. Seeds 1–40 in one run: 32 passed; seeds 1–60 with up to 3 runs: all passed,
// 13 of them after a second run.
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <app/svg.hpp>
#include <xgrad/xgrad.hpp>

namespace {

using xgrad::matrix;
using xgrad::var;

// ---------------------------------------------------------------- the two trees

enum relation : std::size_t {
    father,
    mother,
    husband,
    wife,
    son,
    daughter,
    uncle,
    aunt,
    brother,
    sister,
    nephew,
    niece,
    relation_count
};
constexpr std::array<const char*, relation_count> relation_names = {
    "father", "mother", "husband", "wife",   "son",    "daughter",
    "uncle",  "aunt",   "brother", "sister", "nephew", "niece"};

struct person {
    std::string name;
    bool male;
    int father = -1, mother = -1, spouse = -1;
};

/// The English tree; the Italian one has the same shape (person k of one is person k of the other).
///   Christopher = Penelope          Andrew = Christine
///        |                               |
///   Margaret = Arthur   Victoria = James      Jennifer = Charles
///                               |
///                         Colin   Charlotte
std::vector<person> tree(const std::array<const char*, 12>& names) {
    enum {
        christopher,
        penelope,
        andrew,
        christine,
        margaret,
        arthur,
        victoria,
        james,
        jennifer,
        charles,
        colin,
        charlotte
    };
    std::vector<person> p(12);
    const bool male[12] = {true, false, true, false, false, true, false, true, false, true, true, false};
    for (int k = 0; k < 12; ++k) p[k] = {names[k], male[k]};
    auto marry = [&](int a, int b) { p[a].spouse = b, p[b].spouse = a; };
    auto child = [&](int c, int f, int m) { p[c].father = f, p[c].mother = m; };
    marry(christopher, penelope);
    marry(andrew, christine);
    marry(margaret, arthur);
    marry(victoria, james);
    marry(jennifer, charles);
    child(arthur, christopher, penelope);
    child(victoria, christopher, penelope);
    child(james, andrew, christine);
    child(jennifer, andrew, christine);
    child(colin, james, victoria);
    child(charlotte, james, victoria);
    return p;
}

/// Every triple of one tree, derived from the definitions of the 12 relations; person ids offset by `base`.
std::vector<std::array<std::size_t, 3>> triples(const std::vector<person>& p, std::size_t base) {
    const int n = static_cast<int>(p.size());
    auto children = [&](int a) {
        std::vector<int> c;
        for (int k = 0; k < n; ++k)
            if (a >= 0 && (p[k].father == a || p[k].mother == a)) c.push_back(k);
        return c;
    };
    auto siblings = [&](int a) {
        std::vector<int> s;
        for (int k = 0; k < n; ++k)
            if (k != a && p[a].father >= 0 && p[k].father == p[a].father) s.push_back(k);
        return s;
    };
    std::vector<std::array<std::size_t, 3>> out;
    auto add = [&](int a, relation r, int b) {
        out.push_back({base + static_cast<std::size_t>(a), r, base + static_cast<std::size_t>(b)});
    };
    for (int a = 0; a < n; ++a) {
        if (p[a].father >= 0) add(a, father, p[a].father);
        if (p[a].mother >= 0) add(a, mother, p[a].mother);
        if (p[a].spouse >= 0) add(a, p[a].male ? wife : husband, p[a].spouse);
        for (int c : children(a)) add(a, p[c].male ? son : daughter, c);
        for (int s : siblings(a)) add(a, p[s].male ? brother : sister, s);
        // uncles and aunts: the parents' siblings and those siblings' spouses
        std::set<int> elders;
        for (int parent : {p[a].father, p[a].mother}) {
            if (parent < 0) continue;
            for (int s : siblings(parent)) {
                elders.insert(s);
                if (p[s].spouse >= 0) elders.insert(p[s].spouse);
            }
        }
        for (int e : elders) add(a, p[e].male ? uncle : aunt, e);
        // nephews and nieces: the children of one's own and one's spouse's siblings
        std::set<int> young;
        for (int self : {a, p[a].spouse}) {
            if (self < 0) continue;
            for (int s : siblings(self))
                for (int c : children(s)) young.insert(c);
        }
        for (int y : young) add(a, p[y].male ? nephew : niece, y);
    }
    return out;
}

// ---------------------------------------------------------------- the network

/// Input: a [2×m] matrix of ids — row 0 person1 (0…23), row 1 the relation (0…11). Output: 24 scores per
/// column, one per candidate person2.
struct family_net : xgrad::nn::module<double> {
    xgrad::nn::embedding<double> people, relations;
    xgrad::nn::linear<double> hidden, encode, decode;
    family_net(xgrad::rng& g)
        : people(24, 6, g, 0.3),
          relations(relation_count, 6, g, 0.3),
          hidden(12, 12, g, xgrad::nn::init_scheme::xavier_uniform),
          encode(12, 6, g, xgrad::nn::init_scheme::xavier_uniform),
          decode(6, 24, g, xgrad::nn::init_scheme::xavier_uniform) {
        add_module("people", people);
        add_module("relations", relations);
        add_module("hidden", hidden);
        add_module("encode", encode);
        add_module("decode", decode);
    }
    var<double> forward(const var<double>& x) override {
        const auto ids = xgrad::split(x, {1, 1});  // [1×m] person ids, [1×m] relation ids
        const auto h = xgrad::concat({people(ids[0]), relations(ids[1])});  // [12×m]: the two feature vectors
        return decode(xgrad::tanh(encode(xgrad::tanh(hidden(h)))));
    }
};

// ---------------------------------------------------------------- training

using triple = std::array<std::size_t, 3>;  // person1, relation, person2
using answer_map = std::map<std::pair<std::size_t, std::size_t>, std::set<std::size_t>>;

/// The ids of the triples as the network's input [2×m] (person1, relation) and labels [1×m] (person2).
void to_matrices(const std::vector<triple>& facts, matrix<double>& x, matrix<double>& y) {
    x = matrix<double>({2, facts.size()});
    y = matrix<double>({1, facts.size()});
    for (std::size_t j = 0; j < facts.size(); ++j) {
        x(0, j) = static_cast<double>(facts[j][0]);
        x(1, j) = static_cast<double>(facts[j][1]);
        y(0, j) = static_cast<double>(facts[j][2]);
    }
}

/// The top-scoring person2 for each triple's query, in evaluation mode.
std::vector<std::size_t> predict(family_net& net, const std::vector<triple>& facts) {
    matrix<double> x, y;
    to_matrices(facts, x, y);
    xgrad::graph<double> g;
    const xgrad::no_grad no_history;
    net.eval();
    const matrix<double> z = net(g.borrow(x)).value();
    net.train();
    std::vector<std::size_t> best(facts.size(), 0);
    for (std::size_t j = 0; j < facts.size(); ++j)
        for (std::size_t i = 1; i < z.shape()[0]; ++i)
            if (z(i, j) > z(best[j], j)) best[j] = i;
    return best;
}

/// The fraction of the distinct queries (person1, relation) of `facts` whose top-scoring person is one of the
/// query's right answers.
double query_accuracy(family_net& net, const std::vector<triple>& facts, const answer_map& answers) {
    const std::vector<std::size_t> best = predict(net, facts);
    std::set<std::pair<std::size_t, std::size_t>> seen, right;
    for (std::size_t j = 0; j < facts.size(); ++j) {
        const std::pair<std::size_t, std::size_t> q{facts[j][0], facts[j][1]};
        seen.insert(q);
        if (answers.at(q).count(best[j])) right.insert(q);
    }
    return static_cast<double>(right.size()) / static_cast<double>(seen.size());
}

struct run {
    int reached = -1;  ///< the first epoch after which every query was answered right; −1: never
    double accuracy = 0, loss = 0;  ///< after the last epoch
};

/// Full-batch Adam on softmax cross-entropy for `epochs` epochs (one step each).
run train_net(family_net& net, const std::vector<triple>& facts, const answer_map& answers, int epochs,
              bool verbose) {
    matrix<double> x, y;
    to_matrices(facts, x, y);
    xgrad::optim::adam<double> opt(net.parameters(), 0.05);
    xgrad::graph<double> g;
    run r;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        g.clear();
        net.zero_grad();
        const auto l = xgrad::softmax_cross_entropy(net(g.borrow(x, "X")), g.borrow(y, "Y"));
        g.backward(l);
        opt.step();
        r.loss = l.item();
        r.accuracy = query_accuracy(net, facts, answers);
        if (r.accuracy == 1.0 && r.reached < 0) r.reached = epoch;
        if (verbose && epoch % 250 == 0)
            std::printf("epoch %4d  loss %.4f  train accuracy %.1f %%\n", epoch, r.loss, 100 * r.accuracy);
    }
    return r;
}

// ---------------------------------------------------------------- a 2-D projection

/// The first two principal components of the columns of E [d×n], as a [2×n] matrix of coordinates: centre
/// each group of columns [g·k, (g + 1)·k) on its own mean (k = n/groups), then power iteration on the d×d
/// covariance (with deflation for the second component).
matrix<double> pca_2d(const matrix<double>& e, std::size_t groups) {
    const std::size_t d = e.shape()[0], n = e.shape()[1], k = n / groups;
    matrix<double> c = e;
    for (std::size_t i = 0; i < d; ++i) {
        for (std::size_t gi = 0; gi < groups; ++gi) {
            double mean = 0;
            for (std::size_t j = gi * k; j < (gi + 1) * k; ++j) mean += c(i, j);
            mean /= static_cast<double>(k);
            for (std::size_t j = gi * k; j < (gi + 1) * k; ++j) c(i, j) -= mean;
        }
    }
    matrix<double> cov({d, d}, 0.0);
    for (std::size_t a = 0; a < d; ++a)
        for (std::size_t b = 0; b < d; ++b)
            for (std::size_t j = 0; j < n; ++j) cov(a, b) += c(a, j) * c(b, j) / static_cast<double>(n);
    matrix<double> out({2, n}, 0.0);
    for (std::size_t k = 0; k < 2; ++k) {
        std::vector<double> v(d, 1.0 / std::sqrt(static_cast<double>(d)));
        v[k % d] += 0.5;  // not orthogonal to the component by accident
        double lambda = 0;
        for (int it = 0; it < 500; ++it) {
            std::vector<double> w(d, 0.0);
            for (std::size_t a = 0; a < d; ++a)
                for (std::size_t b = 0; b < d; ++b) w[a] += cov(a, b) * v[b];
            double norm = 0;
            for (double x : w) norm += x * x;
            norm = std::sqrt(norm);
            if (norm == 0) break;
            for (std::size_t a = 0; a < d; ++a) v[a] = w[a] / norm;
            lambda = norm;
        }
        for (std::size_t j = 0; j < n; ++j)
            for (std::size_t a = 0; a < d; ++a) out(k, j) += v[a] * c(a, j);
        for (std::size_t a = 0; a < d; ++a)  // deflate: remove this component
            for (std::size_t b = 0; b < d; ++b) cov(a, b) -= lambda * v[a] * v[b];
    }
    return out;
}

/// The SVG: one dot per person at its projected position, labelled; English in blue, Italian in red; a grey
/// line joins each English person to the Italian person in the same place of the other tree.
std::string picture(const matrix<double>& xy, const std::vector<std::string>& names, std::size_t epochs) {
    const double w = 760, h = 600, margin = 70, top = 90;  // top: below the three title lines
    double lo[2] = {1e300, 1e300}, hi[2] = {-1e300, -1e300};
    for (std::size_t k = 0; k < 2; ++k)
        for (std::size_t j = 0; j < xy.shape()[1]; ++j) {
            lo[k] = std::min(lo[k], xy(k, j));
            hi[k] = std::max(hi[k], xy(k, j));
        }
    auto sx = [&](std::size_t j) {
        return margin + (xy(0, j) - lo[0]) / (hi[0] - lo[0] + 1e-12) * (w - 2 * margin);
    };
    auto sy = [&](std::size_t j) {
        return h - margin - (xy(1, j) - lo[1]) / (hi[1] - lo[1] + 1e-12) * (h - margin - top);
    };
    using xgrad::app::xml_escape;
    std::string s = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
        "font-family=\"sans-serif\">\n<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n",
        w, h);
    s += fmt::format("<text x=\"{}\" y=\"24\" font-size=\"14\" text-anchor=\"middle\">{}</text>\n", w / 2,
                     xml_escape(fmt::format("Learned person vectors after {} epochs", epochs)));
    s += fmt::format(
        "<text x=\"{}\" y=\"42\" font-size=\"12\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n", w / 2,
        xml_escape("6-D embeddings, each tree centred on its mean, first two principal components"));
    s += fmt::format(
        "<text x=\"{}\" y=\"60\" font-size=\"12\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n", w / 2,
        xml_escape("blue: English tree, red: Italian tree; grey lines join people in the same place of the "
                   "two trees"));
    for (std::size_t j = 0; j < 12; ++j)
        s += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#bbb\"/>\n",
                         sx(j), sy(j), sx(j + 12), sy(j + 12));
    for (std::size_t j = 0; j < names.size(); ++j) {
        const char* colour = j < 12 ? "#1f5fbf" : "#c0392b";
        s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\"/>\n", sx(j), sy(j), colour);
        bool crowded = false;  // an earlier person's label nearby: put this one below its dot
        for (std::size_t i = 0; i < j; ++i)
            crowded = crowded || std::abs(sy(i) - sy(j)) < 14 && std::abs(sx(i) - sx(j)) < 60;
        s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" fill=\"{}\">{}</text>\n",
                         sx(j) + 6, sy(j) + (crowded ? 15 : -5), colour, xml_escape(names[j]));
    }
    s += "</svg>\n";
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    const std::filesystem::path dir = argc > 1 ? argv[1] : ".";
    const std::uint64_t seed = argc > 2 ? std::stoull(argv[2]) : 1;
    const std::array<const char*, 12> english = {"Christopher", "Penelope", "Andrew",   "Christine",
                                                 "Margaret",    "Arthur",   "Victoria", "James",
                                                 "Jennifer",    "Charles",  "Colin",    "Charlotte"};
    const std::array<const char*, 12> italian = {"Roberto", "Maria",  "Pierro",  "Francesca",
                                                 "Gina",    "Emilio", "Lucia",   "Marco",
                                                 "Angela",  "Tomaso", "Alfonso", "Sophia"};
    std::vector<std::string> names(english.begin(), english.end());
    names.insert(names.end(), italian.begin(), italian.end());
    auto facts = triples(tree(english), 0);
    const auto more = triples(tree(italian), 12);
    facts.insert(facts.end(), more.begin(), more.end());

    answer_map answers;  // every right person2 of each query, from all the triples
    for (const triple& t : facts) answers[{t[0], t[1]}].insert(t[2]);
    std::printf("%zu triples (%zu per tree), %zu queries (person1, relation)\n", facts.size(),
                facts.size() / 2, answers.size());

    // Full-batch training for a fixed number of epochs; the run passes when every query is answered right by
    // `deadline` and still at the end (the last epochs after that settle the feature vectors).
    const int epochs = 1500, deadline = 1000, attempts = 3;
    xgrad::rng g(seed);
    std::unique_ptr<family_net> net;
    bool ok = false;
    for (int attempt = 1; attempt <= attempts && !ok; ++attempt) {
        if (attempt > 1)
            std::printf("starting again from a new initialisation (run %d of %d)\n", attempt, attempts);
        net = std::make_unique<family_net>(g);
        const run r = train_net(*net, facts, answers, epochs, /*verbose=*/true);
        ok = r.reached >= 0 && r.reached <= deadline && r.accuracy == 1.0;
        if (r.reached >= 0) std::printf("every query answered right after %d epochs\n", r.reached);
        std::printf("train accuracy %.1f %% after %d epochs (loss %.4f): %s\n", 100 * r.accuracy, epochs,
                    r.loss, ok ? "ok" : fmt::format("not 100 % by epoch {}", deadline).c_str());
    }
    if (!ok) std::printf("FAILED: no run of %d reached 100 %% by epoch %d\n", attempts, deadline);

    // Does it generalise? As in the lecture: train a fresh network on all but 4 triples and ask the 4 it
    // never saw (queries with one right answer only, so the other answer cannot have been seen). Printed, not
    // checked.
    std::vector<triple> train_set, held_out;
    xgrad::rng pick(seed + 1);
    std::set<std::size_t> chosen;
    while (chosen.size() < 4) {
        const std::size_t k = pick.below(facts.size());
        if (answers[{facts[k][0], facts[k][1]}].size() == 1) chosen.insert(k);
    }
    for (std::size_t k = 0; k < facts.size(); ++k)
        (chosen.count(k) ? held_out : train_set).push_back(facts[k]);
    xgrad::rng g2(seed);
    family_net fresh(g2);
    train_net(fresh, train_set, answers, epochs, /*verbose=*/false);
    const std::vector<std::size_t> guesses = predict(fresh, held_out);
    std::size_t right = 0;
    for (std::size_t k = 0; k < held_out.size(); ++k) {
        const triple& t = held_out[k];
        right += guesses[k] == t[2];
        std::printf("  held out: %s's %s is %s; the network says %s\n", names[t[0]].c_str(),
                    relation_names[t[1]], names[t[2]].c_str(), names[guesses[k]].c_str());
    }
    std::printf("held-out triples answered right: %zu of %zu (trained on the other %zu)\n", right,
                held_out.size(), train_set.size());

    // Each tree centred on its own mean: what is left is where a person stands within a tree, so when the
    // network has learned that the trees have the same shape, counterparts land close together. (The
    // difference of the two means is the nationality direction.)
    const matrix<double> xy = pca_2d(net->people.weight().value(), 2);
    const auto path = dir / "family_trees.svg";
    try {
        std::filesystem::create_directories(dir);
        xgrad::io::write_atomically(path, picture(xy, names, epochs));
        std::printf("wrote %s\n", path.string().c_str());
    } catch (const std::exception& e) {  // xgrad::io_error, std::filesystem::filesystem_error
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return ok ? 0 : 1;
}
