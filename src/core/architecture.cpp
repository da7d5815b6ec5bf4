// Architecture strings: parsed into layer_specs, printed back canonically, built as nn::sequential.
#include "xgrad/architecture.hpp"

#include "xgrad/layers.hpp"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace xgrad::nn {

namespace {

/// "a" when both are equal, "axb" otherwise (kernel sizes and options).
std::string pair_text(std::size_t a, std::size_t b) {
    return a == b ? fmt::format("{}", a) : fmt::format("{}x{}", a, b);
}

/// What a layer's text is wrong with, thrown as argument_error with the layer's position and text.
struct layer_error {
    std::string why;
};

std::size_t number(std::string_view s, std::string_view what) {
    std::size_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
        throw layer_error{fmt::format("{} must be a whole number, not '{}'", what, s)};
    }
    return v;
}

std::size_t positive(std::string_view s, std::string_view what) {
    const std::size_t v = number(s, what);
    if (v == 0) throw layer_error{fmt::format("{} must be at least 1", what)};
    return v;
}

/// "3" → (3, 3); "3x2" → (3, 2).
std::pair<std::size_t, std::size_t> number_pair(std::string_view s, std::string_view what,
                                                bool at_least_one) {
    const auto x = s.find('x');
    const auto one = [&](std::string_view t) { return at_least_one ? positive(t, what) : number(t, what); };
    if (x == std::string_view::npos) {
        const std::size_t v = one(s);
        return {v, v};
    }
    return {one(s.substr(0, x)), one(s.substr(x + 1))};
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (;;) {
        const auto at = s.find(sep, start);
        parts.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
        if (at == std::string_view::npos) return parts;
        start = at + 1;
    }
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// conv's and the pools' "KERNEL[/sS][/pP][/dD]" (conv: "KERNEL:K…"): the window, with conv's "same" padding
/// d·(k − 1)/2 or the pools' stride = kernel by default.
window2d parse_window(std::string_view kernel_text, const std::vector<std::string_view>& options,
                      bool is_conv) {
    window2d w;
    std::tie(w.kernel_h, w.kernel_w) = number_pair(kernel_text, "the kernel size", true);
    bool stride = false, pad = false;
    for (std::string_view o : options) {
        if (o.empty()) throw layer_error{"an empty option (write /s2, /p1 or /d2)"};
        const std::string_view v = o.substr(1);
        switch (o.front()) {
            case 's':
                std::tie(w.stride_h, w.stride_w) = number_pair(v, "the stride", true);
                stride = true;
                break;
            case 'p':
                std::tie(w.pad_h, w.pad_w) = number_pair(v, "the padding", false);
                pad = true;
                break;
            case 'd':
                if (!is_conv) throw layer_error{"pooling takes no dilation here (options: /s, /p)"};
                std::tie(w.dilation_h, w.dilation_w) = number_pair(v, "the dilation", true);
                break;
            default:
                throw layer_error{fmt::format("unknown option '/{}' (options: /s<stride>, /p<padding>{})", o,
                                              is_conv ? ", /d<dilation>" : "")};
        }
    }
    if (!is_conv && !stride) w.stride_h = w.kernel_h, w.stride_w = w.kernel_w;
    if (is_conv && !pad) {
        w.pad_h = w.dilation_h * (w.kernel_h - 1) / 2;
        w.pad_w = w.dilation_w * (w.kernel_w - 1) / 2;
    }
    return w;
}

std::string window_options(const window2d& w, bool is_conv) {
    std::string s;
    const bool default_stride = is_conv ? (w.stride_h == 1 && w.stride_w == 1)
                                        : (w.stride_h == w.kernel_h && w.stride_w == w.kernel_w);
    if (!default_stride) s += "/s" + pair_text(w.stride_h, w.stride_w);
    const std::size_t ph = is_conv ? w.dilation_h * (w.kernel_h - 1) / 2 : 0;
    const std::size_t pw = is_conv ? w.dilation_w * (w.kernel_w - 1) / 2 : 0;
    if (w.pad_h != ph || w.pad_w != pw) s += "/p" + pair_text(w.pad_h, w.pad_w);
    if (w.dilation_h != 1 || w.dilation_w != 1) s += "/d" + pair_text(w.dilation_h, w.dilation_w);
    return s;
}

// ---- the kinds of layer: a keyword, and how its text after the keyword is read ----

void parse_conv(std::string_view rest, layer_spec& l) {
    const auto parts = split(rest, '/');
    const auto colon = parts[0].find(':');
    if (colon == std::string_view::npos) {
        throw layer_error{"conv needs its kernel and number of filters, e.g. conv3x3:32"};
    }
    l.units = positive(parts[0].substr(colon + 1), "the number of filters");
    l.window = parse_window(parts[0].substr(0, colon), {parts.begin() + 1, parts.end()}, true);
}

void parse_pool(std::string_view rest, layer_spec& l) {
    const auto parts = split(rest, '/');
    if (parts[0].empty())
        throw layer_error{fmt::format("{} needs its window size, e.g. {}2", l.kind, l.kind)};
    l.window = parse_window(parts[0], {parts.begin() + 1, parts.end()}, false);
}

void parse_fc(std::string_view rest, layer_spec& l) {
    if (rest.empty() || rest.front() != ':') throw layer_error{"fc needs its number of units, e.g. fc:128"};
    l.units = positive(rest.substr(1), "the number of units");
}

void parse_dropout(std::string_view rest, layer_spec& l) {
    l.param = 0.5;
    if (rest.empty()) return;
    if (rest.front() != ':')
        throw layer_error{"dropout takes its drop probability as dropout:<p>, e.g. dropout:0.25"};
    const std::string p(rest.substr(1));
    char* end = nullptr;
    const double v = std::strtod(p.c_str(), &end);
    if (p.empty() || end != p.c_str() + p.size() || !(v >= 0.0 && v < 1.0)) {
        throw layer_error{fmt::format("the drop probability must be a number in [0, 1), not '{}'", p)};
    }
    l.param = v;
}

/// batchnorm and layernorm: the keyword alone.
void parse_plain(std::string_view rest, layer_spec& l) {
    if (!rest.empty()) throw layer_error{fmt::format("{} takes no arguments", l.kind)};
}

struct layer_kind {
    std::string_view keyword;
    void (*parse)(std::string_view rest, layer_spec& l);
};

/// Every kind of layer but the activations (which are read by name from nn::activations). Add new kinds
/// here, in to_string, in layer_shapes and in make_layer.
constexpr layer_kind kinds[] = {
    {"conv", parse_conv}, {"maxpool", parse_pool},    {"avgpool", parse_pool},    {"gap", parse_plain},
    {"fc", parse_fc},     {"dropout", parse_dropout}, {"batchnorm", parse_plain}, {"layernorm", parse_plain}};

std::optional<activation_kind> activation_named(std::string_view name) {
    for (const activation_entry& a : activations) {
        if (a.name == name) return a.kind;
    }
    return std::nullopt;
}

layer_spec parse_layer(std::string_view text) {
    layer_spec l;
    for (const layer_kind& k : kinds) {
        if (text.substr(0, k.keyword.size()) == k.keyword) {
            l.kind = std::string(k.keyword);
            k.parse(text.substr(k.keyword.size()), l);
            return l;
        }
    }
    const auto colon = text.find(':');
    const std::string_view name = text.substr(0, colon);
    const auto act = activation_named(name);
    if (!act) {
        std::string names;
        for (const activation_entry& a : activations) names += fmt::format(", {}", a.name);
        throw layer_error{
            fmt::format("unknown layer (one of conv<k>:<filters>, maxpool<k>, avgpool<k>, gap, "
                        "fc:<units>, dropout[:p], batchnorm, layernorm{})",
                        names)};
    }
    l.kind = std::string(name);
    if (colon != std::string_view::npos) {
        const std::string p(text.substr(colon + 1));
        char* end = nullptr;
        const double v = std::strtod(p.c_str(), &end);
        if (p.empty() || end != p.c_str() + p.size() || !std::isfinite(v)) {
            throw layer_error{fmt::format("the parameter of {} must be a number, not '{}'", name, p)};
        }
        l.param = v;
    }
    try {  // the module's own checks (leaky_relu's 0 ≤ f < 1, …), with its message
        activation<double> check(*act, l.param);
    } catch (const argument_error& e) {
        throw layer_error{e.what()};
    }
    return l;
}

bool is_pool(const layer_spec& l) {
    return l.kind == "maxpool" || l.kind == "avgpool";
}

[[noreturn]] void fail_layer(std::size_t index, const layer_spec& l, std::string_view why) {
    throw argument_error(fmt::format("architecture: layer {} '{}': {}", index + 1, l.to_string(), why));
}

/// He-uniform unless the next activation after layer i is sigmoid or tanh (Xavier-uniform then).
init_scheme scheme_after(const architecture& a, std::size_t i) {
    for (std::size_t j = i + 1; j < a.layers.size(); ++j) {
        const std::string& k = a.layers[j].kind;
        if (k == "conv" || k == "fc") break;
        if (k == "sigmoid" || k == "tanh") return init_scheme::xavier_uniform;
        if (activation_named(k)) break;
    }
    return init_scheme::he_uniform;
}

/// Whether layer i is a max-pool right after a relu, which build makes one relu_max_pool2d (the same values
/// and gradients, one pass over the images instead of three): the relu's place keeps a fused_into_next.
bool fused_relu(const architecture& a, std::size_t i) {
    return i >= 1 && i < a.layers.size() && a.layers[i].kind == "maxpool" && a.layers[i - 1].kind == "relu";
}

template <class T>
void make_layer(sequential<T>& net, const architecture& a, std::size_t i, const image_shape& in, rng& g,
                rng& noise) {
    const layer_spec& l = a.layers[i];
    if (l.kind == "conv") {
        net.template emplace<conv2d<T>>(in, l.units, l.window, g, scheme_after(a, i));
    } else if (l.kind == "maxpool") {
        if (fused_relu(a, i)) {  // the relu before it is done here, in one op
            net.template emplace<relu_max_pool2d<T>>(in, l.window);
        } else {
            net.template emplace<max_pool2d<T>>(in, l.window);
        }
    } else if (fused_relu(a, i + 1)) {
        net.template emplace<fused_into_next<T>>("relu", "relu_max_pool2d");
    } else if (l.kind == "avgpool") {
        net.template emplace<avg_pool2d<T>>(in, l.window);
    } else if (l.kind == "gap") {
        net.template emplace<global_avg_pool<T>>(in);
    } else if (l.kind == "fc") {
        net.template emplace<linear<T>>(in.size(), l.units, g, scheme_after(a, i));
    } else if (l.kind == "dropout") {
        net.template emplace<dropout<T>>(*l.param, noise);
    } else if (l.kind == "batchnorm") {  // per channel on images; a 1×1 image's channels are its features
        const bool flat = in.height == 1 && in.width == 1;
        net.template emplace<batch_norm<T>>(in.channels, flat ? norm_axis::features : norm_axis::channels);
    } else if (l.kind == "layernorm") {
        net.template emplace<layer_norm<T>>(in.size());
    } else {
        std::optional<T> p;
        if (l.param) p = static_cast<T>(*l.param);
        net.template emplace<activation<T>>(parse_activation(l.kind), p);
    }
}

}  // namespace

std::string layer_spec::to_string() const {
    if (kind == "conv")
        return fmt::format("conv{}x{}:{}", window.kernel_h, window.kernel_w, units) +
               window_options(window, true);
    if (kind == "maxpool" || kind == "avgpool")
        return kind + pair_text(window.kernel_h, window.kernel_w) + window_options(window, false);
    if (kind == "fc") return fmt::format("fc:{}", units);
    if (kind == "dropout") return fmt::format("dropout:{}", param.value_or(0.5));
    if (param) return fmt::format("{}:{}", kind, *param);
    return kind;
}

std::string architecture::to_string() const {
    std::string s;
    for (const layer_spec& l : layers) s += (s.empty() ? "" : ",") + l.to_string();
    return s;
}

architecture parse_architecture(std::string_view text) {
    architecture a;
    const auto parts = split(text, ',');
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const std::string_view t = trim(parts[i]);
        if (t.empty()) {
            throw argument_error(
                fmt::format("architecture '{}': layer {} is empty (layers are separated by single "
                            "commas, e.g. {})",
                            text, i + 1, default_cnn));
        }
        try {
            a.layers.push_back(parse_layer(t));
        } catch (const layer_error& e) {
            throw argument_error(fmt::format("architecture '{}': layer {} '{}': {}", text, i + 1, t, e.why));
        }
    }
    return a;
}

bool has_image_layers(const architecture& a) {
    for (const layer_spec& l : a.layers) {
        if (l.kind == "conv" || is_pool(l) || l.kind == "gap") return true;
    }
    return false;
}

std::vector<image_shape> layer_shapes(const architecture& a, const image_shape& in, std::size_t outputs) {
    std::vector<image_shape> shapes;
    image_shape s = in;
    for (std::size_t i = 0; i < a.layers.size(); ++i) {
        const layer_spec& l = a.layers[i];
        if (l.kind == "conv" || is_pool(l)) {
            if (std::string p = window_problem(s, l.window); !p.empty()) {
                fail_layer(i, l, fmt::format("over {} images: {}", xgrad::to_string(s), p));
            }
            if (is_pool(l) &&
                (2 * l.window.pad_h > l.window.kernel_h || 2 * l.window.pad_w > l.window.kernel_w)) {
                fail_layer(i, l, "the padding must be at most half the window");
            }
            s = window_output(s, l.window, l.kind == "conv" ? l.units : s.channels);
        } else if (l.kind == "gap") {
            s = {s.channels, 1, 1};
        } else if (l.kind == "fc") {
            s = {l.units, 1, 1};
        }
        shapes.push_back(s);
    }
    if (outputs > 0) shapes.push_back({outputs, 1, 1});
    return shapes;
}

template <class T>
std::unique_ptr<sequential<T>> build(const architecture& a, const image_shape& in, std::size_t outputs,
                                     rng& g, rng& noise) {
    const std::vector<image_shape> shapes = layer_shapes(a, in, outputs);  // every layer fits
    auto net = std::make_unique<sequential<T>>();
    for (std::size_t i = 0; i < a.layers.size(); ++i)
        make_layer(*net, a, i, i == 0 ? in : shapes[i - 1], g, noise);
    if (outputs > 0) {
        net->template emplace<linear<T>>(a.layers.empty() ? in.size() : shapes[a.layers.size() - 1].size(),
                                         outputs, g, init_scheme::he_uniform);
    }
    return net;
}

template std::unique_ptr<sequential<float>> build(const architecture&, const image_shape&, std::size_t, rng&,
                                                  rng&);
template std::unique_ptr<sequential<double>> build(const architecture&, const image_shape&, std::size_t, rng&,
                                                   rng&);

}  // namespace xgrad::nn
