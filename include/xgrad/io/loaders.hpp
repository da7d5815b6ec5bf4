/// @file io/loaders.hpp
/// @brief Reading data sets from files: IDX (MNIST, Fashion-MNIST), plain or gzip, and CSV tables.
///
/// The results are data::dataset values in the lecture's layout (see data.hpp). Everything that reads a file
/// or checks an argument throws data_error, whose message starts with the file (or the function) and says
/// what is wrong. Every function here is instantiated for float and double; T defaults to float.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xgrad/data.hpp"

namespace xgrad::data {

// ---------------------------------------------------------------------------------------------------
// IDX (MNIST, Fashion-MNIST)

/// Largest IDX payload accepted (2^31 bytes); a header claiming more is rejected before any allocation.
inline constexpr std::uint64_t max_idx_bytes = std::uint64_t(1) << 31;

/// Reads an IDX image file and its label file, each plain or gzip-compressed (detected by the gzip
/// magic bytes 1f 8b):
///   images: u32 BE 0x00000803, n, rows, cols, then n·rows·cols bytes (image after image, row-major);
///   labels: u32 BE 0x00000801, n, then n bytes.
/// Result: x [rows·cols × n] with x(r·cols + c, j) = pixel (r, c) of image j ÷ 255 ∈ [0, 1];
/// y [1 × n] = labels; classes = `classes`. Both headers are validated (magic, dimensions, size ≤
/// max_idx_bytes, equal counts) before anything is allocated; the data must then be exactly as long as
/// the header says (a gzip stream is read in bounded chunks, so a lying header cannot make it allocate
/// more than the data actually present); every label must be < `classes`.
template <class T = float>
dataset<T> load_idx(const std::filesystem::path& images, const std::filesystem::path& labels,
                    std::size_t classes = 10);

/// MNIST-style directory: split "train" reads train-{images-idx3,labels-idx1}-ubyte, split "test" reads
/// t10k-…; each found as NAME.gz, NAME, or with '.' before idx (train-images.idx3-ubyte[.gz]). The
/// result is load_idx's, with class_names = mnist_class_names(); for Fashion-MNIST assign
/// fashion_mnist_class_names(). A missing file throws data_error listing every path tried.
template <class T = float>
dataset<T> load_mnist(const std::filesystem::path& dir, std::string_view split);

/// "0", "1", …, "9" — the MNIST digit classes.
std::vector<std::string> mnist_class_names();

/// "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
/// "Ankle boot" — Fashion-MNIST's labels 0…9.
std::vector<std::string> fashion_mnist_class_names();

// ---------------------------------------------------------------------------------------------------
// CSV

/// How load_csv reads a table.
struct csv_options {
    bool header = true;  ///< the first non-blank line holds column names (kept in feature_names)
    /// The column holding the labels: 0, 1, … from the left, −1, −2, … from the right (−1 = last);
    /// std::nullopt for a table without labels (y is then [0 × n], classes 0).
    std::optional<int> label_column = -1;
    char delimiter = ',';
};

/// A numeric table, one example per line: line j's feature cells become column j of x
/// ([features × n], left to right without the label column); its label cell becomes y(0, j), which must
/// be an integer ≥ 0 (below 2^16); classes = max label + 1. Cells are trimmed of blanks and of one pair
/// of surrounding double quotes (a quoted delimiter is not supported); blank lines and "\r" are ignored.
/// Throws data_error naming path:line for a missing or empty file, a ragged row (its cell count and the
/// expected one), a cell that is not a finite number (its column and text: "nan", "inf" and "abc" are
/// rejected, so no NaN or Inf ever enters a data set), a number too large for T ("1e39" as float, "1e999")
/// or a label that is not a class index. A number too small for T ("1e-999") rounds to 0.
template <class T = float>
dataset<T> load_csv(const std::filesystem::path& path, const csv_options& options = {});

}  // namespace xgrad::data
