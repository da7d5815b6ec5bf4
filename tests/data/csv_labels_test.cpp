// load_csv's labels and columns: text labels as class names, a label column by name, and a second table
// (validation, test, new data) read like the training table, every label and column checked against it.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <xgrad/io/loaders.hpp>

namespace fs = std::filesystem;
using namespace xgrad;
using Catch::Matchers::Contains;

namespace {

struct csv_dir {
    fs::path path;
    csv_dir() {
        static std::atomic<int> counter{0};
        path = fs::temp_directory_path() /
               ("xgrad_csv_labels_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::create_directories(path);
    }
    ~csv_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    /// Writes `text` to NAME in the directory and returns its path.
    fs::path write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name, std::ios::binary) << text;
        return path / name;
    }
};

std::string message_of(const fs::path& p, const data::csv_options& o) {
    try {
        data::load_csv<float>(p, o);
    } catch (const data_error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("load_csv: text labels are class names, in byte order", "[data][csv]") {
    csv_dir d;
    const auto p =
        d.write("iris.csv", "a,b,species\n1,2,virginica\n3,4,setosa\n5,6,versicolor\n7,8,setosa\n");
    const auto ds = data::load_csv<float>(p);
    CHECK(ds.classes == 3);
    CHECK(ds.class_names == std::vector<std::string>{"setosa", "versicolor", "virginica"});
    CHECK(ds.y(0, 0) == 2.0f);  // virginica
    CHECK(ds.y(0, 1) == 0.0f);  // setosa
    CHECK(ds.y(0, 2) == 1.0f);  // versicolor
    CHECK(ds.y(0, 3) == 0.0f);
    CHECK(ds.feature_names == std::vector<std::string>{"a", "b"});
}

TEST_CASE("load_csv: numbers among text labels are names too, numbers alone are class indices",
          "[data][csv]") {
    csv_dir d;
    const auto mixed = data::load_csv<float>(d.write("m.csv", "a,c\n1,cat\n2,0.5\n3,cat\n"));
    CHECK(mixed.class_names == std::vector<std::string>{"0.5", "cat"});
    const auto numbers = data::load_csv<float>(d.write("n.csv", "a,c\n1,1\n2,0\n3,1\n"));
    CHECK(numbers.classes == 2);
    CHECK(numbers.class_names.empty());
    CHECK_THAT(message_of(d.write("f.csv", "a,c\n1,1\n2,0.5\n"), {}),
               Contains("f.csv:3: label '0.5' in column 2 ('c') is not a class index"));
    CHECK_THAT(message_of(d.write("e.csv", "a,c\n1,cat\n2, \n"), {}),
               Contains("e.csv:3: the label in column 2 ('c') is empty"));
}

TEST_CASE("load_csv: the label column by name", "[data][csv]") {
    csv_dir d;
    const auto p = d.write("t.csv", "x,kind,y\n1,dog,2\n3,cat,4\n");
    data::csv_options o;
    o.label_name = "kind";
    const auto ds = data::load_csv<float>(p, o);
    CHECK(ds.feature_names == std::vector<std::string>{"x", "y"});
    CHECK(ds.class_names == std::vector<std::string>{"cat", "dog"});
    CHECK(ds.x(1, 0) == 2.0f);
    o.label_name = "species";
    CHECK_THAT(message_of(p, o), Contains("t.csv:1: no column named 'species' (csv_options::label_name); the "
                                          "columns are 'x', 'kind', 'y'"));
}

TEST_CASE("load_csv: a table read like the training table: its classes and its columns", "[data][csv]") {
    csv_dir d;
    const auto train = data::load_csv<float>(
        d.write("train.csv", "a,b,species\n1,2,virginica\n3,4,setosa\n5,6,versicolor\n"));
    data::csv_options like;
    like.class_names = train.class_names;
    like.feature_names = train.feature_names;
    // A test file holding only some classes keeps the training file's classes and numbering.
    const auto test =
        data::load_csv<float>(d.write("test.csv", "a,b,species\n1,2,virginica\n3,4,virginica\n"), like);
    CHECK(test.classes == 3);
    CHECK(test.class_names == train.class_names);
    CHECK(test.y(0, 1) == 2.0f);
    // A label that is not a class: file, line, column and label, and the classes.
    CHECK_THAT(message_of(d.write("rose.csv", "a,b,species\n1,2,setosa\n3,4,rose\n"), like),
               Contains("rose.csv:3: label 'rose' in column 3 ('species') is not one of the 3 classes of "
                        "csv_options::class_names ('setosa', 'versicolor', 'virginica')"));
    // A label 5 in a table of classes 0, 1, 2 (as names "0", "1", "2").
    const auto numeric = data::load_csv<float>(d.write("n.csv", "a,label\n1,0\n2,1\n3,2\n"));
    REQUIRE(numeric.class_names.empty());
    data::csv_options three;
    three.class_names = {"0", "1", "2"};
    CHECK_THAT(message_of(d.write("five.csv", "a,label\n1,0\n2,5\n"), three),
               Contains("five.csv:3: label '5' in column 2 ('label') is not one of the 3 classes"));
    // Other columns, or the same in another order.
    CHECK_THAT(message_of(d.write("swap.csv", "b,a,species\n1,2,setosa\n"), like),
               Contains("swap.csv:1: column 1 ('b') should be 'a', feature 1 of csv_options::feature_names"));
    CHECK_THAT(message_of(d.write("more.csv", "a,b,c,species\n1,2,3,setosa\n"), like),
               Contains("more.csv:1: 3 feature columns besides the labels in column 4 ('species'), but "
                        "csv_options::feature_names expects 2"));
    // New data without the label column, when labels are optional.
    like.labels_optional = true;
    const auto fresh = data::load_csv<float>(d.write("new.csv", "a,b\n1,2\n3,4\n5,6\n"), like);
    CHECK(fresh.y.shape()[0] == 0);
    CHECK(fresh.size() == 3);
    CHECK(fresh.x(1, 2) == 6.0f);
}

TEST_CASE("load_csv: the advice in messages is the caller's", "[data][csv]") {
    csv_dir d;
    data::csv_options o;
    o.advice.no_header = "pass --no-header";
    const std::string m = message_of(d.write("h.csv", "1,2,0\n3,4,1\n"), o);
    CHECK_THAT(m, Contains("if the file has no header, pass --no-header"));
    CHECK_THAT(m, !Contains("csv_options"));
    CHECK_THAT(message_of(d.write("h2.csv", "1,2,0\n3,4,1\n"), {}),
               Contains("header = false (csv_options::header)"));
}
