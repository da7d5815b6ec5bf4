// The driver of tests/io/peaks/peaks.sh: loads one file the way xgrad does and prints the outcome.
#include <cstdio>
#include <cstring>
#include <string>
#include <xgrad/graph.hpp>
#include <xgrad/io/checkpoint.hpp>
#include <xgrad/io/loaders.hpp>
int main(int argc, char** argv) {
    const std::string what = argv[1];
    try {
        if (what == "npz") {
            xgrad::parameter<float> w(xgrad::matrix<float>({2, 3}, 0.f), "w"),
                b(xgrad::matrix<float>({2, 1}, 0.f), "b");
            xgrad::load_parameters<float>(argv[2], {{"w", &w}, {"b", &b}});
            std::printf("loaded\n");
        } else if (what == "idx") {
            auto ds = xgrad::data::load_idx<float>(argv[2], argv[3]);
            std::printf("loaded %zu x %zu\n", ds.features(), ds.size());
        } else if (what == "csv") {
            xgrad::data::csv_options o;
            if (argc > 3 && std::strcmp(argv[3], "noheader") == 0) {
                o.header = false;
                o.label_column = std::nullopt;
            }
            auto ds = xgrad::data::load_csv<float>(argv[2], o);
            std::printf("loaded %zu x %zu\n", ds.features(), ds.size());
        }
    } catch (const std::exception& e) {
        const std::string m = e.what();
        std::printf("error: %s\n", m.substr(0, 300).c_str());
        return 1;
    }
}
