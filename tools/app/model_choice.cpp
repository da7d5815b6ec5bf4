#include "app/model_choice.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace xgrad::app {

std::optional<nn::architecture> parse_model(std::string_view text) {
    if (text == "mlp") return std::nullopt;
    if (text == "cnn") return nn::parse_architecture(nn::default_cnn);
    return nn::parse_architecture(text);
}

image_shape input_shape_of(std::string_view dataset, std::size_t features) {
    if ((dataset == "mnist" || dataset == "fashion-mnist") && features == 28 * 28) return {1, 28, 28};
    return {features, 1, 1};
}

double parameter_count(const nn::architecture& a, const image_shape& in, std::size_t classes) {
    const auto shapes = nn::layer_shapes(a, in, classes);
    double n = 0;
    image_shape prev = in;
    for (std::size_t i = 0; i < a.layers.size(); ++i) {
        const nn::layer_spec& l = a.layers[i];
        if (l.kind == "conv") {
            n += static_cast<double>(l.units) *
                 (static_cast<double>(prev.channels * l.window.kernel_h * l.window.kernel_w) + 1);
        } else if (l.kind == "fc") {
            n += static_cast<double>(l.units) * (static_cast<double>(prev.size()) + 1);
        } else if (l.kind == "batchnorm") {
            n += 2.0 * static_cast<double>(prev.channels);
        } else if (l.kind == "layernorm") {
            n += 2.0 * static_cast<double>(prev.size());
        }
        prev = shapes[i];
    }
    return n + static_cast<double>(classes) * (static_cast<double>(prev.size()) + 1);
}

model_cost estimate_cost(const nn::architecture& a, const image_shape& in, std::size_t classes,
                         std::size_t batch, int optimizer_state, std::size_t eval_columns) {
    const auto shapes = nn::layer_shapes(a, in, classes);
    double units = static_cast<double>(in.size());
    image_shape prev = in;
    for (std::size_t i = 0; i < shapes.size(); ++i) {
        units += static_cast<double>(shapes[i].size());
        if (i < a.layers.size() && a.layers[i].kind == "conv") {  // im2col's (C·kh·kw × Ho·Wo·m) columns
            const nn::layer_spec& l = a.layers[i];
            units += static_cast<double>(prev.channels) * static_cast<double>(l.window.kernel_h) *
                     static_cast<double>(l.window.kernel_w) * static_cast<double>(shapes[i].height) *
                     static_cast<double>(shapes[i].width);
        }
        prev = shapes[i];
    }
    // The MLP formula for the parameters' bytes and the confusion matrix, with this model's counts.
    model_cost c = estimate_cost(std::vector<std::size_t>{1, classes}, batch, optimizer_state, eval_columns);
    c.parameters = parameter_count(a, in, classes);
    c.parameter_bytes = 4.0 * c.parameters * (batch > 0 ? 2.0 + optimizer_state : 1.0);
    c.activation_bytes =
        4.0 * std::max(4.0 * static_cast<double>(batch), 2.0 * static_cast<double>(eval_columns)) * units;
    return c;
}

rng epoch_noise(std::uint64_t seed, int epochs_done) {
    // splitmix64's finaliser over the seed and the epoch: nearby seeds and epochs give unrelated streams.
    std::uint64_t z =
        seed + 0x9E3779B97F4A7C15ULL * (static_cast<std::uint64_t>(epochs_done) + 1) + 0xD1B54A32D192ED03ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return rng(z ^ (z >> 31));
}

std::string describe(const nn::architecture& a, const image_shape& in, std::size_t classes) {
    return fmt::format("{}{}fc:{} ({} → {})", a.to_string(), a.layers.empty() ? "" : ",", classes,
                       to_string(in), classes);
}

}  // namespace xgrad::app
