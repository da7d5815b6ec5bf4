/// @file io/loaders.hpp
/// @brief Reading data sets from files: IDX (MNIST, Fashion-MNIST), plain or gzip, and CSV tables.
///
/// The results are data::dataset values in the lecture's layout (see data.hpp). Everything that reads a file
/// or checks an argument throws data_error, whose message starts with the file (or the function) and says
/// what is wrong. Every function here is instantiated for float and double; T defaults to float.
///
/// Memory is bounded by the bytes a file really holds and by the limits below, never by what a header or a
/// label claims: sizes are checked before anything is allocated, and the files are streamed or decoded in
/// place, so a load costs about the data set it returns (IDX: the matrices plus 1 MiB buffers, or plus the
/// compressed file for a gzip file decoded whole; CSV: twice the matrices plus one line). Only regular files
/// are read: a directory, a FIFO or a device (/dev/zero, /dev/stdin) is refused before a byte is read, so a
/// loader never blocks or reads without end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xgrad/data.hpp"

namespace xgrad::data {

// ---------------------------------------------------------------------------------------------------
// IDX (MNIST, Fashion-MNIST)

/// Largest matrix load_idx makes: x holds images × rows × cols values of T, which must fit in 2 GiB
/// (536 870 912 pixels as float, 268 435 456 as double; MNIST's training set has 47 040 000). A header
/// promising more is rejected before anything is allocated.
inline constexpr std::uint64_t max_idx_matrix_bytes = std::uint64_t(1) << 31;

/// Reads an IDX image file and its label file, each plain or gzip-compressed (detected by the gzip
/// magic bytes 1f 8b):
///   images: u32 BE 0x00000803, n, rows, cols, then n·rows·cols bytes (image after image, row-major);
///   labels: u32 BE 0x00000801, n, then n bytes.
/// Result: x [rows·cols × n] with x(r·cols + c, j) = pixel (r, c) of image j ÷ 255 ∈ [0, 1];
/// y [1 × n] = labels; classes = `classes`. Before anything is allocated, both headers are validated
/// (magic, dimensions, equal counts, x within max_idx_matrix_bytes) and so is what the files can hold: a
/// plain file must be exactly as long as its header says, a gzip file cannot promise more than 1032 times its
/// own size (deflate's maximum ratio). The data is then streamed into x and y in 1 MiB chunks — or, for a
/// gzip file of one member whose size trailer agrees with its header, decoded whole (libdeflate) into x's
/// own storage and rearranged there; it must be exactly as long as the header says, and every label must be
/// < `classes`.
template <class T = float>
dataset<T> load_idx(const std::filesystem::path& images, const std::filesystem::path& labels,
                    std::size_t classes = 10);

/// MNIST-style directory: split "train" reads train-{images-idx3,labels-idx1}-ubyte, split "test" reads
/// t10k-…; each found as NAME.gz, NAME, or with '.' before idx (train-images.idx3-ubyte[.gz]). The
/// result is load_idx's, with class_names = mnist_class_names(); for Fashion-MNIST assign
/// fashion_mnist_class_names(). A missing file throws data_error listing every path tried.
template <class T = float>
dataset<T> load_mnist(const std::filesystem::path& dir, std::string_view split);

/// split(load_idx(images, labels, classes), validation_fraction, seed), bit for bit — {train, validation}
/// with the columns data::split_columns gives — without the whole set as T in between: the pixels are
/// decoded as the file's bytes (rows·cols bytes per image, a quarter of the float matrix) and each part is
/// made from them. The same checks and messages as load_idx; the peak is the two parts plus the bytes (plus
/// the compressed file for a gzip file decoded whole), against the whole set plus both parts for a load
/// followed by a split.
template <class T = float>
std::pair<dataset<T>, dataset<T>> load_idx_split(const std::filesystem::path& images,
                                                 const std::filesystem::path& labels,
                                                 double validation_fraction, std::uint64_t seed,
                                                 std::size_t classes = 10);

/// split(load_mnist(dir, split), validation_fraction, seed), bit for bit, through load_idx_split.
template <class T = float>
std::pair<dataset<T>, dataset<T>> load_mnist_split(const std::filesystem::path& dir, std::string_view split,
                                                   double validation_fraction, std::uint64_t seed);

/// "0", "1", …, "9" — the MNIST digit classes.
std::vector<std::string> mnist_class_names();

/// "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
/// "Ankle boot" — Fashion-MNIST's labels 0…9.
std::vector<std::string> fashion_mnist_class_names();

// ---------------------------------------------------------------------------------------------------
// CSV

/// Longest line load_csv accepts (1 MiB, e.g. 100 000 numbers of 9 characters); a longer one is an error
/// raised after reading at most this much of it.
inline constexpr std::size_t max_csv_line_bytes = std::size_t(1) << 20;
/// Longest cell load_csv accepts, header names included (1 KiB). Messages show at most 40 bytes of a cell,
/// cut with "…".
inline constexpr std::size_t max_csv_cell_bytes = 1024;
/// Most classes a CSV table may have: labels are integers in [0, 65535].
inline constexpr std::size_t max_csv_classes = 65536;

/// How load_csv's messages name its options. A library caller reads the defaults (C++ advice); an application
/// sets its own (the xgrad command names its flags).
struct csv_advice {
    /// Completes "…holds only numbers: if the file has no header, …".
    std::string no_header = "load it with header = false (csv_options::header)";
    /// Completes "…is not a class index (…); …" for a table whose labels are all numbers.
    std::string not_a_label =
        "use csv_options::label_column = std::nullopt for a table without labels, or write the labels as "
        "names (text such as 'cat' is read as a class name)";
    /// Completes "…makes K classes, but … no example (…); …".
    std::string missing_classes = "pass csv_options::classes if classes without examples are intended";
    /// Names the class list in "…is not one of the N classes of …".
    std::string class_names = "csv_options::class_names";
    /// Names the expected columns in "…but … expects …".
    std::string feature_names = "csv_options::feature_names";
    /// Names the label column option in messages about it.
    std::string label_name = "csv_options::label_name";
};

/// How load_csv reads a table.
struct csv_options {
    /// The first non-blank line holds column names (kept in feature_names). When it holds only numbers,
    /// load_csv refuses the file rather than guessing: set header = false for a table without names.
    bool header = true;
    /// The column holding the labels: 0, 1, … from the left, −1, −2, … from the right (−1 = last);
    /// std::nullopt for a table without labels (y is then [0 × n], classes 0).
    std::optional<int> label_column = -1;
    /// The label column by its name in the header (overrides label_column; needs header). A header without
    /// it throws data_error listing the columns.
    std::optional<std::string> label_name;
    /// A table without the label column is read without labels (new data to predict) instead of an error:
    /// with label_name, a header without that column; otherwise a table of exactly feature_names.size()
    /// (or `features`) columns.
    bool labels_optional = false;
    char delimiter = ',';
    /// The number of classes, 1 … max_csv_classes; every label must be below it. std::nullopt: max label + 1,
    /// accepted only when each class 0 … max label has at least one example (so there are never more
    /// classes than rows, and one stray label such as 65535 among 0s and 1s is an error naming its line,
    /// not a model with 65536 outputs). Pass it for a table that lacks some classes, e.g. a small test split.
    std::optional<std::size_t> classes;
    /// The classes by name, to read a table like the training table it came with (validation, test, new
    /// data): every label must be one of these names, and its class is the name's position here (classes
    /// and class_names of the result are these). A label that is not one throws data_error naming
    /// path:line, the column and the label. Empty: the classes come from this table (see load_csv).
    std::vector<std::string> class_names;
    /// The feature columns expected, by name and in order (with header) — a different header throws
    /// data_error naming the first column that differs. Without a header, only their number is checked.
    /// Empty: any columns.
    std::vector<std::string> feature_names;
    /// The number of feature columns expected without names (0: any; feature_names, when given, decides).
    std::size_t features = 0;
    /// How the messages name these options.
    csv_advice advice;
};

/// A table of numbers, one example per line: line j's feature cells become column j of x
/// ([features × n], left to right without the label column); its label cell becomes y(0, j).
/// Labels are class numbers or class names:
///   - every label a number: each must be an integer in [0, classes) (see csv_options::classes);
///   - some label text (`setosa`): every label is a class name; the classes are the distinct names in byte
///     order (class_names), at most max_csv_classes of them;
///   - csv_options::class_names given: every label must be one of those names.
/// Cells are trimmed of blanks and of one pair
/// of surrounding double quotes (a quoted delimiter is not supported); blank lines and "\r" are ignored.
/// Throws data_error naming path:line (and the column) for a missing or empty file, a file that is not a
/// regular file, a line longer than max_csv_line_bytes or a cell longer than max_csv_cell_bytes, a ragged row
/// (its cell count and the expected one), a header line of numbers only, a cell that is not a finite number
/// (its column and text: "nan", "inf" and "abc" are rejected, so no NaN or Inf ever enters a data set), a
/// number too large for T ("1e39" as float, "1e999") or a label that is not a class (an empty one, a number
/// that is not a class index among numbers, a name not in csv_options::class_names). A number too small
/// for T ("1e-999") rounds to 0. The file is read line by line: the peak memory is about twice x and y plus
/// one line (and the distinct label names).
template <class T = float>
dataset<T> load_csv(const std::filesystem::path& path, const csv_options& options = {});

}  // namespace xgrad::data
