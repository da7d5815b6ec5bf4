#include "app/model_choice.hpp"

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
        }
        prev = shapes[i];
    }
    return n + static_cast<double>(classes) * (static_cast<double>(prev.size()) + 1);
}

std::string describe(const nn::architecture& a, const image_shape& in, std::size_t classes) {
    return fmt::format("{}{}fc:{} ({} → {})", a.to_string(), a.layers.empty() ? "" : ",", classes,
                       to_string(in), classes);
}

}  // namespace xgrad::app
