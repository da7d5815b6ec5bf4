/// @file xgrad/workflow.hpp
/// @brief The xgrad command's file workflow: tables given as files (--train, --val, --test, evaluate --data,
/// predict --input), read and validated against the training file; what inference needs besides the weights
/// (model.json's "inputs": classes, features, standardization); predictions written as CSV; the state that
/// lets `xgrad train --resume` continue a run bit for bit (resume.npz and model.json's "resume").
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <xgrad/data.hpp>
#include <xgrad/nn.hpp>
#include <xgrad/optim.hpp>
#include <xgrad/train.hpp>

namespace xgrad::cli {

namespace fs = std::filesystem;
using real = float;

/// How the table files of a run are read: --label-column NAME (default: the last column), --no-header.
struct table_format {
    std::optional<std::string> label_column;
    bool header = true;
};

/// What inference needs besides the weights (model.json "inputs"): how the tables are read, the class
/// names (from the training file), the feature names (its header) and the standardization z = (x − mean) /
/// std fitted on the training examples.
struct model_inputs {
    table_format format;
    std::string kind = "csv";  ///< csv | idx (an IDX images file and the labels file beside it)
    std::vector<std::string> class_names, feature_names;
    std::vector<double> mean, std;  ///< empty: not recorded (a checkpoint of an older xgrad)
};

/// Reads a table given by `flag` (--train, --val, --test, --data, --input): an IDX images file
/// (NAME-images-idx3-ubyte[.gz], its labels file NAME-labels-idx1-ubyte[.gz] beside it) or a CSV table.
/// With `like` (the training file's inputs), the features must be the training file's (names and order)
/// and every label one of its classes (an error names file:line, the column and the label); the result
/// then has the training file's classes and class names. `labels_optional`: a table without the label
/// column is read unlabelled (y [0 × n]). A missing file is a usage_error (exit 2); a malformed one a
/// data_error (exit 1) whose advice names the command's flags.
data::dataset<real> load_table(const fs::path& file, std::string_view flag, const table_format& format,
                               const model_inputs* like, bool labels_optional = false);

/// "idx" for an IDX images file (named like train-images-idx3-ubyte.gz), else "csv".
std::string table_kind(const fs::path& file);

/// Sets mean and std from the standardizer.
void record_standardization(model_inputs& m, const data::standardizer<real>& z);
/// x ← (x − mean) / std with the recorded statistics (checked: x has as many rows as there are features).
void apply_standardization(const model_inputs& m, matrix<real>& x, std::string_view what);

nlohmann::json to_json(const model_inputs& m);
/// model.json's "inputs", checked field by field (messages name `where`); std::nullopt when absent.
std::optional<model_inputs> inputs_from_json(const nlohmann::json& meta, const std::string& where);

/// Writes one CSV row per example of `ds`, in order: row (0-based, pandas' default index), the label (when
/// `ds` is labelled), the predicted class name and the probability of each class (softmax of the model's
/// outputs, 9 significant digits: float values read back exactly). Returns the number of rows.
std::size_t write_predictions(const fs::path& output, nn::module<real>& net, const data::dataset<real>& ds,
                              const std::vector<std::string>& class_names);

/// The optimizer's state and where the run is, for --resume: resume.npz holds the optimizer's buffers;
/// model.json "resume" the epochs done, the step count and the history so far.
struct resume_state {
    int epochs_done = 0;
    std::uint64_t steps = 0;
    std::vector<train::epoch_stats> history;
};
nlohmann::json to_json(const resume_state& r);
resume_state resume_from_json(const nlohmann::json& j, const std::string& where);
/// Saves the optimizer's state buffers to `path` (npz, through io::write_atomically): Adam's moments "m.<k>"
/// and "v.<k>", momentum's velocity "velocity.<k>", each shaped like parameter k; nothing for plain SGD.
void save_optimizer_state(const fs::path& path, optim::optimizer<real>& opt);
/// Loads them back (names and shapes must match: every problem is named) and sets the step count (Adam's t).
void load_optimizer_state(const fs::path& path, optim::optimizer<real>& opt, std::uint64_t steps);
/// The number of updates the optimizer has made where its update depends on it (Adam's t); else 0.
std::uint64_t optimizer_steps(optim::optimizer<real>& opt);

}  // namespace xgrad::cli
