// Data sets: IDX/MNIST and CSV loaders (good and corrupt files written here), synthetic sets, scaling,
// split, batcher; the real MNIST files when ../shared/data/mnist is present.
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <xgrad/data.hpp>
#include <xgrad/io/loaders.hpp>

#include "support.hpp"

namespace fs = std::filesystem;
using namespace xgrad;
using bytes = std::vector<std::uint8_t>;
using Catch::Matchers::Contains;

namespace {

/// A fresh directory under the system temp directory, removed with its contents at scope exit.
struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<int> counter{0};
        path = fs::temp_directory_path() /
               ("xgrad_data_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    fs::path operator/(const std::string& name) const { return path / name; }
};

void write_file(const fs::path& p, const bytes& b) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
void write_text(const fs::path& p, const std::string& s) {
    std::ofstream out(p, std::ios::binary);
    out << s;
}
bytes read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(in), {});
}
/// gzip-compressed with zlib's gzwrite.
void write_gz(const fs::path& p, const bytes& b) {
    gzFile f = gzopen(p.string().c_str(), "wb");
    REQUIRE(f != nullptr);
    if (!b.empty())
        REQUIRE(gzwrite(f, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
    REQUIRE(gzclose(f) == Z_OK);
}

void put32(bytes& b, std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

/// IDX images: n images of rows×cols with pixel (j, p) = (7j + 3p) mod 256.
bytes idx_images(std::uint32_t n, std::uint32_t rows, std::uint32_t cols, std::uint32_t magic = 0x803) {
    bytes b;
    put32(b, magic);
    put32(b, n);
    put32(b, rows);
    put32(b, cols);
    for (std::uint32_t j = 0; j < n; ++j)
        for (std::uint32_t p = 0; p < rows * cols; ++p)
            b.push_back(static_cast<std::uint8_t>((7 * j + 3 * p) % 256));
    return b;
}
/// IDX labels: label j = j mod 10 unless given.
bytes idx_labels(std::uint32_t n, std::uint32_t magic = 0x801) {
    bytes b;
    put32(b, magic);
    put32(b, n);
    for (std::uint32_t j = 0; j < n; ++j) b.push_back(static_cast<std::uint8_t>(j % 10));
    return b;
}

/// The message of the data_error thrown by f (fails the test when nothing or something else is thrown).
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const data_error& e) {
        return e.what();
    }
    FAIL("no data_error thrown");
    return {};
}

template <class T>
std::vector<std::size_t> label_counts(const data::dataset<T>& ds) {
    std::vector<std::size_t> c(ds.classes, 0);
    for (std::size_t j = 0; j < ds.size(); ++j) ++c.at(static_cast<std::size_t>(ds.y(0, j)));
    return c;
}

template <class T>
bool identical(const matrix<T>& a, const matrix<T>& b) {
    return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// IDX

TEMPLATE_TEST_CASE("data: load_idx reads plain and gzip IDX files as columns scaled to 0..1", "[data]", float,
                   double) {
    temp_dir dir;
    const bytes img = idx_images(5, 3, 2), lab = idx_labels(5);
    write_file(dir / "img", img);
    write_file(dir / "lab", lab);
    write_gz(dir / "img.gz", img);
    write_gz(dir / "lab.gz", lab);
    REQUIRE(read_file(dir / "img.gz").at(0) == 0x1f);

    for (auto [ip, lp] : {std::pair{"img", "lab"}, {"img.gz", "lab.gz"}, {"img.gz", "lab"}}) {
        INFO(ip << " + " << lp);
        const auto ds = data::load_idx<TestType>(dir / ip, dir / lp);
        REQUIRE(ds.size() == 5);
        REQUIRE(ds.features() == 6);
        REQUIRE(ds.classes == 10);
        REQUIRE(ds.y.shape() == std::array<std::size_t, 2>{1, 5});
        for (std::size_t j = 0; j < 5; ++j) {
            REQUIRE(ds.y(0, j) == static_cast<TestType>(j));
            for (std::size_t p = 0; p < 6; ++p)  // x(r·cols + c, j) = pixel (r, c) of image j / 255
                REQUIRE(ds.x(p, j) == static_cast<TestType>((7 * j + 3 * p) % 256) / TestType(255));
        }
    }
}

TEST_CASE("data: load_idx transposes images larger than its 64x64 blocks", "[data]") {
    temp_dir dir;
    write_gz(dir / "img.gz", idx_images(130, 9, 10));
    write_gz(dir / "lab.gz", idx_labels(130));
    const auto ds = data::load_idx<double>(dir / "img.gz", dir / "lab.gz");
    REQUIRE(ds.x.shape() == std::array<std::size_t, 2>{90, 130});
    for (std::size_t j = 0; j < 130; ++j)
        for (std::size_t p = 0; p < 90; ++p) REQUIRE(ds.x(p, j) == ((7 * j + 3 * p) % 256) / 255.0);
    REQUIRE(*std::max_element(ds.x.begin(), ds.x.end()) <= 1.0);
}

TEST_CASE("data: load_idx rejects wrong magic numbers and says which file it looks like", "[data]") {
    temp_dir dir;
    write_file(dir / "img", idx_images(3, 2, 2));
    write_file(dir / "lab", idx_labels(3));
    // Swapped arguments.
    auto msg = error_of([&] { data::load_idx<float>(dir / "lab", dir / "img"); });
    CHECK_THAT(msg, Contains("lab") && Contains("magic number 0x00000801") &&
                        Contains("expected 0x00000803") && Contains("looks like a labels file"));
    // Garbage magic, gzip-compressed.
    write_gz(dir / "bad.gz", idx_images(3, 2, 2, 0x12345678));
    msg = error_of([&] { data::load_idx<float>(dir / "bad.gz", dir / "lab"); });
    CHECK_THAT(msg, Contains("bad.gz: not an IDX images file: magic number 0x12345678"));
    // A labels file of rank 3.
    write_file(dir / "lab3", idx_labels(3, 0x803));
    msg = error_of([&] { data::load_idx<float>(dir / "img", dir / "lab3"); });
    CHECK_THAT(msg, Contains("lab3: not an IDX labels file") && Contains("looks like an images file"));
}

TEST_CASE("data: load_idx rejects a truncated header, plain or gzip", "[data]") {
    temp_dir dir;
    bytes img = idx_images(3, 2, 2);
    img.resize(10);
    write_file(dir / "img", img);
    write_gz(dir / "img.gz", img);
    write_file(dir / "lab", idx_labels(3));
    write_file(dir / "empty", {});
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "img", dir / "lab"); }),
               Contains("img: truncated header") && Contains("ends after 10 bytes") && Contains("16 bytes"));
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "img.gz", dir / "lab"); }),
               Contains("img.gz: truncated header") && Contains("decompressed data ends after 10 bytes"));
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "empty", dir / "lab"); }),
               Contains("empty: truncated header") && Contains("after 0 bytes"));
    bytes lab = idx_labels(3);
    lab.resize(6);
    write_file(dir / "lab6", lab);
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "img.gz", dir / "lab6"); }),
               Contains("truncated header"));
}

TEST_CASE("data: load_idx rejects truncated data and trailing bytes, plain or gzip", "[data]") {
    temp_dir dir;
    bytes img = idx_images(5, 3, 2);  // 16 + 30 bytes
    img.resize(16 + 20);
    write_file(dir / "img", img);
    write_gz(dir / "img.gz", img);
    write_file(dir / "lab", idx_labels(5));
    CHECK_THAT(
        error_of([&] { data::load_idx<float>(dir / "img", dir / "lab"); }),
        Contains("img: truncated: the header promises 5 images of 3×2 (30 bytes) but the data ends after "
                 "20 bytes"));
    CHECK_THAT(
        error_of([&] { data::load_idx<float>(dir / "img.gz", dir / "lab"); }),
        Contains("img.gz: truncated: the header promises 5 images of 3×2 (30 bytes) but the decompressed "
                 "data ends after 20 bytes"));
    bytes lab = idx_labels(5);
    lab.pop_back();
    write_gz(dir / "lab.gz", lab);
    write_file(dir / "img_ok", idx_images(5, 3, 2));
    CHECK_THAT(
        error_of([&] { data::load_idx<float>(dir / "img_ok", dir / "lab.gz"); }),
        Contains("lab.gz: truncated: the header promises 5 labels (5 bytes)") && Contains("after 4 bytes"));

    bytes longer = idx_images(5, 3, 2);
    longer.push_back(0);
    write_file(dir / "long", longer);
    write_gz(dir / "long.gz", longer);
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "long", dir / "lab"); }),
               Contains("long: 1 more bytes after the 30 bytes of data"));
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "long.gz", dir / "lab"); }),
               Contains("long.gz: more data after the 30 bytes of data"));
}

TEST_CASE("data: load_idx rejects a truncated or corrupt gzip stream", "[data]") {
    temp_dir dir;
    write_file(dir / "lab", idx_labels(200));
    write_gz(dir / "full.gz", idx_images(200, 8, 8));
    const bytes gz = read_file(dir / "full.gz");
    REQUIRE(gz.size() > 100);

    // Cut in the middle of the compressed data: the data is short and zlib saw the stream end early.
    write_file(dir / "half.gz", bytes(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(gz.size() / 2)));
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "half.gz", dir / "lab"); }),
               Contains("half.gz: truncated: the header promises 200 images of 8×8 (12800 bytes)") &&
                   Contains("the gzip stream itself is cut short"));

    // Only the 8-byte trailer (CRC-32, size) missing: every byte of data is there, the stream is still cut.
    write_file(dir / "notrailer.gz", bytes(gz.begin(), gz.end() - 8));
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "notrailer.gz", dir / "lab"); }),
               Contains("notrailer.gz: truncated gzip stream"));

    // A flipped byte in the stored CRC-32.
    bytes bad = gz;
    bad[bad.size() - 6] ^= 0xff;
    write_file(dir / "crc.gz", bad);
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "crc.gz", dir / "lab"); }),
               Contains("crc.gz: corrupt gzip stream"));

    // Only the gzip magic.
    write_file(dir / "magic.gz", {0x1f, 0x8b});
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "magic.gz", dir / "lab"); }), Contains("magic.gz"));
}

TEST_CASE("data: load_idx rejects headers whose size overflows or is absurd, before allocating", "[data]") {
    temp_dir dir;
    write_file(dir / "lab", idx_labels(3));
    bytes img;
    put32(img, 0x803);
    put32(img, 0xffffffffu);
    put32(img, 0xffffffffu);
    put32(img, 0xffffffffu);
    write_gz(dir / "overflow.gz", img);
    CHECK_THAT(
        error_of([&] { data::load_idx<float>(dir / "overflow.gz", dir / "lab"); }),
        Contains("overflow.gz: bad header: 4294967295 images of 4294967295×4294967295: the size overflows "
                 "64 bits"));
    img.clear();
    put32(img, 0x803);
    put32(img, 1u << 16);
    put32(img, 1u << 8);
    put32(img, 1u << 8);  // 2^32 bytes, no overflow but above the cap
    write_gz(dir / "huge.gz", img);
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "huge.gz", dir / "lab"); }),
               Contains("huge.gz: bad header: 65536 images of 256×256 (4294967296 bytes) is more than the "
                        "2147483648 bytes accepted"));
    img.clear();
    put32(img, 0x803);
    put32(img, 3);
    put32(img, 0);
    put32(img, 28);
    write_file(dir / "zero", img);
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "zero", dir / "lab"); }),
               Contains("without pixels"));
    // Header claims 16 M images of 28×28 (~12.5 GB): rejected; a claim under the cap with a tiny gzip body
    // fails on truncation after reading what is there.
    img.clear();
    put32(img, 0x803);
    put32(img, 2000000);
    put32(img, 28);
    put32(img, 28);
    img.resize(img.size() + 100);
    write_gz(dir / "liar.gz", img);
    bytes lab;
    put32(lab, 0x801);
    put32(lab, 2000000);
    write_gz(dir / "liarlab.gz", lab);
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "liar.gz", dir / "liarlab.gz"); }),
               Contains("liarlab.gz: truncated: the header promises 2000000 labels"));
}

TEST_CASE("data: load_idx rejects image/label count mismatch and out-of-range labels", "[data]") {
    temp_dir dir;
    write_file(dir / "img", idx_images(5, 2, 2));
    write_file(dir / "lab4", idx_labels(4));
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "img", dir / "lab4"); }),
               Contains("img holds 5 images but") && Contains("lab4 holds 4 labels"));
    bytes lab = idx_labels(5);
    lab[8 + 2] = 10;
    write_file(dir / "lab10", lab);
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "img", dir / "lab10"); }),
               Contains("lab10: label 10 of example 2 is not in [0, 10)"));
    // With 11 classes the same file is fine; classes must be in [1, 256].
    REQUIRE(data::load_idx<float>(dir / "img", dir / "lab10", 11).classes == 11);
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "img", dir / "lab10", 0); }), Contains("classes"));
}

TEST_CASE("data: load_idx and load_mnist name missing files", "[data]") {
    temp_dir dir;
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir / "nope", dir / "nope2"); }),
               Contains("nope: cannot open: no such file"));
    CHECK_THAT(error_of([&] { data::load_idx<float>(dir.path, dir / "nope2"); }), Contains("is a directory"));
    const auto msg = error_of([&] { data::load_mnist<float>(dir.path, "train"); });
    CHECK_THAT(msg, Contains("no train images file") && Contains("train-images-idx3-ubyte.gz") &&
                        Contains("train-images-idx3-ubyte\n") && Contains("train-images.idx3-ubyte.gz"));
    CHECK_THAT(error_of([&] { data::load_mnist<float>(dir.path, "validation"); }),
               Contains("split must be \"train\" or \"test\""));
}

TEST_CASE("data: load_mnist finds plain and .gz files for each split", "[data]") {
    temp_dir dir;
    write_file(dir / "train-images-idx3-ubyte", idx_images(12, 4, 4));
    write_gz(dir / "train-labels-idx1-ubyte.gz", idx_labels(12));
    write_gz(dir / "t10k-images.idx3-ubyte.gz", idx_images(3, 4, 4));
    write_file(dir / "t10k-labels.idx1-ubyte", idx_labels(3));
    const auto train = data::load_mnist<double>(dir.path, "train");
    const auto test = data::load_mnist<float>(dir.path, "test");
    REQUIRE(train.size() == 12);
    REQUIRE(test.size() == 3);
    REQUIRE(train.features() == 16);
    REQUIRE(train.class_names == data::mnist_class_names());
    REQUIRE(data::fashion_mnist_class_names().size() == 10);
    REQUIRE(data::fashion_mnist_class_names()[9] == "Ankle boot");
    // Only the labels present for the test split: the images are what is missing.
    fs::remove(dir / "t10k-images.idx3-ubyte.gz");
    CHECK_THAT(error_of([&] { data::load_mnist<float>(dir.path, "test"); }), Contains("no test images file"));
}

// ---------------------------------------------------------------------------------------------------
// CSV

TEST_CASE("data: load_csv with a header and the label in the last column", "[data]") {
    temp_dir dir;
    write_text(dir / "t.csv", "a,b,label\n1,2,0\n3,4.5,1\n-5e-1,6,2\n");
    const auto ds = data::load_csv<double>(dir / "t.csv");
    REQUIRE(ds.x.shape() == std::array<std::size_t, 2>{2, 3});
    XGRAD_REQUIRE_CLOSE(ds.x, (matrix<double>{{1, 3, -0.5}, {2, 4.5, 6}}), 0, 0);
    XGRAD_REQUIRE_CLOSE(ds.y, (matrix<double>{{0, 1, 2}}), 0, 0);
    REQUIRE(ds.classes == 3);
    REQUIRE(ds.feature_names == std::vector<std::string>{"a", "b"});
}

TEST_CASE("data: load_csv without a header, label first, CRLF, blanks, quotes and another delimiter",
          "[data]") {
    temp_dir dir;
    write_text(dir / "t.csv", "\r\n 1 ; 10;\"20\"\r\n\r\n0;11;21\r\n   \n3;+12;22");
    data::csv_options o;
    o.header = false;
    o.label_column = 0;
    o.delimiter = ';';
    const auto ds = data::load_csv<float>(dir / "t.csv", o);
    XGRAD_REQUIRE_CLOSE(ds.x, (matrix<float>{{10, 11, 12}, {20, 21, 22}}), 0, 0);
    XGRAD_REQUIRE_CLOSE(ds.y, (matrix<float>{{1, 0, 3}}), 0, 0);
    REQUIRE(ds.classes == 4);
    REQUIRE(ds.feature_names.empty());
    o.label_column = -3;  // the same column counted from the right
    REQUIRE(identical(data::load_csv<float>(dir / "t.csv", o).y, ds.y));
}

TEST_CASE("data: load_csv without labels keeps every column as a feature", "[data]") {
    temp_dir dir;
    write_text(dir / "t.csv", "x,y\n1,2\n3,4\n");
    data::csv_options o;
    o.label_column = std::nullopt;
    const auto ds = data::load_csv<double>(dir / "t.csv", o);
    XGRAD_REQUIRE_CLOSE(ds.x, (matrix<double>{{1, 3}, {2, 4}}), 0, 0);
    REQUIRE(ds.y.shape() == std::array<std::size_t, 2>{0, 2});
    REQUIRE(ds.classes == 0);
    REQUIRE(ds.feature_names == std::vector<std::string>{"x", "y"});
}

TEST_CASE("data: load_csv names the line and the cell of each error", "[data]") {
    temp_dir dir;
    auto load = [&](const std::string& text, data::csv_options o = {}) {
        write_text(dir / "t.csv", text);
        return error_of([&] { data::load_csv<float>(dir / "t.csv", o); });
    };
    CHECK_THAT(load("a,b,c\n1,2,0\n3,4\n"),
               Contains("t.csv:3: ragged row: 2 cells but the header (line 1) has 3"));
    data::csv_options nh;
    nh.header = false;
    CHECK_THAT(load("1,2,0\n\n3,4,5,1\n", nh),
               Contains("t.csv:3: ragged row: 4 cells but the first row (line 1) has 3"));
    CHECK_THAT(load("a,b,c\n1,2,0\n3,abc,1\n"), Contains("t.csv:3: column 2 ('b'): 'abc' is not a number"));
    CHECK_THAT(load("1,,0\n", nh), Contains("t.csv:1: column 2: empty cell is not a number"));
    CHECK_THAT(load("1,nan,0\n", nh), Contains("'nan' is not a number"));
    CHECK_THAT(load("a,b,c\n1,2,0.5\n"),
               Contains("t.csv:2: label '0.5' in column 3 ('c') is not a class index"));
    CHECK_THAT(load("a,b,c\n1,2,-1\n"), Contains("label '-1'"));
    CHECK_THAT(load("a,b,c\n1,2,cat\n"), Contains("label 'cat'") && Contains("label_column = std::nullopt"));
    CHECK_THAT(load(""), Contains("t.csv: empty file"));
    CHECK_THAT(load(" \n\r\n"), Contains("t.csv: empty file"));
    CHECK_THAT(load("a,b,c\n"), Contains("t.csv: no data rows after the header"));
    data::csv_options far;
    far.label_column = 5;
    CHECK_THAT(load("a,b,c\n1,2,3\n", far), Contains("label_column 5 is outside the table's 3 columns"));
    CHECK_THAT(load("label\n1\n"), Contains("no feature columns"));
    CHECK_THAT(error_of([&] { data::load_csv<float>(dir / "missing.csv"); }),
               Contains("missing.csv: cannot open: no such file"));
}

// ---------------------------------------------------------------------------------------------------
// Synthetic sets

TEST_CASE("data: synthetic sets have the stated shapes, classes and balance", "[data]") {
    for (double noise : {0.0, 0.25}) {
        INFO("noise " << noise);
        const auto circle = data::make_circle<double>(201, noise, 1);
        const auto gauss = data::make_gauss<double>(201, noise, 2);
        const auto xo = data::make_xor<double>(400, noise, 3);
        const auto s2 = data::make_spiral<double>(201, 2, noise, 4);
        const auto s3 = data::make_spiral<double>(200, 3, noise, 5);
        for (const auto* ds : {&circle, &gauss, &s2}) {
            REQUIRE(ds->x.shape() == std::array<std::size_t, 2>{2, 201});
            REQUIRE(ds->y.shape() == std::array<std::size_t, 2>{1, 201});
        }
        REQUIRE(s3.classes == 3);
        REQUIRE(label_counts(s3) == std::vector<std::size_t>{67, 67, 66});
        REQUIRE(label_counts(s2) == std::vector<std::size_t>{101, 100});
        REQUIRE(label_counts(gauss) == std::vector<std::size_t>{101, 100});
        const auto xc = label_counts(xo);
        REQUIRE(xc.size() == 2);
        CHECK(xc[0] > 150);
        CHECK(xc[1] > 150);
        const auto cc = label_counts(circle);  // noise can flip labels near the boundary
        if (noise == 0) REQUIRE(cc == std::vector<std::size_t>{101, 100});
        CHECK(cc[1] > 70);
        // Labels interleaved, not sorted by class.
        std::size_t changes = 0;
        for (std::size_t j = 1; j < 201; ++j) changes += gauss.y(0, j) != gauss.y(0, j - 1);
        CHECK(changes > 50);
    }
}

TEST_CASE("data: synthetic sets without noise follow their defining rules", "[data]") {
    const auto circle = data::make_circle<double>(500, 0, 7);
    const auto xo = data::make_xor<double>(500, 0, 7);
    const auto spiral = data::make_spiral<double>(500, 3, 0, 7);
    for (std::size_t j = 0; j < 500; ++j) {
        const double r = std::hypot(circle.x(0, j), circle.x(1, j));
        REQUIRE(r <= 5.0);
        REQUIRE((r < 2.5) == (circle.y(0, j) == 1));
        REQUIRE(!(r >= 2.5 && r < 3.5));  // the gap between the disc and the ring
        REQUIRE(std::abs(xo.x(0, j)) >= 0.3);
        REQUIRE(std::abs(xo.x(0, j)) <= 5.3);
        REQUIRE((xo.x(0, j) * xo.x(1, j) >= 0) == (xo.y(0, j) == 1));
        REQUIRE(std::hypot(spiral.x(0, j), spiral.x(1, j)) < 5.0);
    }
    // Gaussian clusters: means near (2, 2) and (−2, −2), variance near 0.5.
    const auto g = data::make_gauss<double>(20000, 0, 8);
    double sum[2][2] = {}, sq[2] = {};
    for (std::size_t j = 0; j < g.size(); ++j) {
        const int c = static_cast<int>(g.y(0, j));
        sum[c][0] += g.x(0, j);
        sum[c][1] += g.x(1, j);
        const double d = g.x(0, j) - (c ? 2 : -2);
        sq[c] += d * d;
    }
    for (int c = 0; c < 2; ++c) {
        CHECK(std::abs(sum[c][0] / 10000 - (c ? 2 : -2)) < 0.05);
        CHECK(std::abs(sum[c][1] / 10000 - (c ? 2 : -2)) < 0.05);
        CHECK(std::abs(sq[c] / 10000 - 0.5) < 0.05);
    }
}

TEST_CASE("data: synthetic sets are deterministic for a seed and differ across seeds", "[data]") {
    auto check = [](auto make) {
        const auto a = make(1), b = make(1), c = make(2);
        REQUIRE(identical(a.x, b.x));
        REQUIRE(identical(a.y, b.y));
        REQUIRE_FALSE(identical(a.x, c.x));
    };
    check([](std::uint64_t s) { return data::make_circle<double>(100, 0.1, s); });
    check([](std::uint64_t s) { return data::make_xor<double>(100, 0.1, s); });
    check([](std::uint64_t s) { return data::make_gauss<double>(100, 0.1, s); });
    check([](std::uint64_t s) { return data::make_spiral<double>(100, 2, 0.1, s); });
    // float is the double data rounded.
    const auto d = data::make_spiral<double>(100, 3, 0.2, 9);
    const auto f = data::make_spiral<float>(100, 3, 0.2, 9);
    for (std::size_t k = 0; k < d.x.size(); ++k) REQUIRE(f.x.data()[k] == static_cast<float>(d.x.data()[k]));
    // Fixed values pin the generator (xgrad::rng: mt19937_64, Box–Muller with the pair's second value kept,
    // the shuffle) across platforms and refactorings; the tolerance only allows for libm's last-bit
    // differences in log, sin and cos. They were printed by this implementation when the data sets moved onto
    // xgrad::rng (the project's one generator); a change here changes every synthetic data set, so it must be
    // deliberate.
    const auto pin = data::make_gauss<double>(4, 0, 42);
    XGRAD_REQUIRE_CLOSE(
        pin.x,
        (matrix<double>{{1.6597277012431231, -2.5193388428615258, 2.3497235986093119, -1.7351501365739275},
                        {1.5937410804247876, -1.466689601593218, 2.4031368156664348, -1.8222657572813439}}),
        1e-12, 1e-12);
    XGRAD_REQUIRE_CLOSE(pin.y, (matrix<double>{{1, 0, 1, 0}}), 0, 0);  // the signs of x: (+,+) is class 1
    CHECK_THAT(error_of([] { data::make_spiral<float>(10, 1, 0, 1); }), Contains("arms must be at least 2"));
    CHECK_THAT(error_of([] { data::make_circle<float>(10, -0.1, 1); }), Contains("make_circle: noise"));
}

// ---------------------------------------------------------------------------------------------------
// standardizer, split

TEST_CASE("data: standardizer gives each feature row mean 0 and std 1 and inverts", "[data]") {
    matrix<double> x = xgrad::test::random_matrix<double>(3, 50, 11, -1, 1);
    for (std::size_t j = 0; j < 50; ++j) {
        x(0, j) = 100 + 10 * x(0, j);
        x(2, j) = 7;  // constant feature: std 0 → 1
    }
    const matrix<double> original = x;
    data::standardizer<double> s;
    s.fit(x).apply(x);
    for (std::size_t r = 0; r < 2; ++r) {
        double mean = 0, sq = 0;
        for (std::size_t j = 0; j < 50; ++j) mean += x(r, j) / 50;
        for (std::size_t j = 0; j < 50; ++j) sq += (x(r, j) - mean) * (x(r, j) - mean) / 50;
        CHECK(std::abs(mean) < 1e-12);
        CHECK(std::abs(sq - 1) < 1e-12);
    }
    REQUIRE(s.scale()(2, 0) == 1);
    for (std::size_t j = 0; j < 50; ++j) REQUIRE(x(2, j) == 0);
    s.invert(x);
    XGRAD_REQUIRE_CLOSE(x, original, 1e-12, 1e-12);

    data::standardizer<float> mm(data::scaling::min_max);
    matrix<float> y = xgrad::test::random_matrix<float>(2, 20, 12, -3, 5);
    mm.fit(y).apply(y);
    for (std::size_t r = 0; r < 2; ++r) {
        const float* row = y.data() + r * 20;
        CHECK(*std::min_element(row, row + 20) == 0.0f);
        CHECK(std::abs(*std::max_element(row, row + 20) - 1.0f) < 1e-6f);
    }
    // The training statistics are applied to other data unchanged.
    matrix<float> other{{0.0f, 1.0f}, {2.0f, 3.0f}};
    mm.apply(other);
    CHECK(other(0, 1) - other(0, 0) == Approx(1.0f / mm.scale()(0, 0)));

    matrix<float> wrong({3, 4}, 0.0f);
    CHECK_THAT(error_of([&] { mm.apply(wrong); }), Contains("fitted on 2 features"));
    CHECK_THAT(error_of([&] { data::standardizer<float>().apply(wrong); }), Contains("not fitted"));
    CHECK_THAT(error_of([&] {
                   data::standardizer<float>().fit(matrix<float>({3, 0}));
               }),
               Contains("no columns"));
}

TEST_CASE("data: split is disjoint, complete, sized by the fraction and deterministic", "[data]") {
    data::dataset<double> ds;
    ds.x = matrix<double>({2, 101});
    ds.y = matrix<double>({1, 101});
    for (std::size_t j = 0; j < 101; ++j) {
        ds.x(0, j) = static_cast<double>(j);  // the column's id
        ds.x(1, j) = -static_cast<double>(j);
        ds.y(0, j) = static_cast<double>(j % 4);
    }
    ds.classes = 4;
    ds.class_names = {"a", "b", "c", "d"};
    const auto [train, val] = data::split(ds, 0.2, 3);
    REQUIRE(val.size() == 20);
    REQUIRE(train.size() == 81);
    REQUIRE(train.classes == 4);
    REQUIRE(val.class_names == ds.class_names);
    std::set<std::size_t> seen;
    for (const auto* part : {&train, &val}) {
        for (std::size_t j = 0; j < part->size(); ++j) {
            const auto id = static_cast<std::size_t>(part->x(0, j));
            REQUIRE(seen.insert(id).second);  // disjoint
            REQUIRE(part->x(1, j) == -static_cast<double>(id));
            REQUIRE(part->y(0, j) == static_cast<double>(id % 4));
        }
    }
    REQUIRE(seen.size() == 101);
    // Shuffled, deterministic for a seed, different for another.
    bool sorted = true;
    for (std::size_t j = 1; j < train.size(); ++j) sorted = sorted && train.x(0, j) > train.x(0, j - 1);
    CHECK_FALSE(sorted);
    REQUIRE(identical(data::split(ds, 0.2, 3).second.x, val.x));
    REQUIRE_FALSE(identical(data::split(ds, 0.2, 4).second.x, val.x));
    REQUIRE(data::split(ds, 0.0, 1).second.size() == 0);
    REQUIRE(data::split(ds, 1.0, 1).first.size() == 0);
    CHECK_THAT(error_of([&] { data::split(ds, 1.5, 1); }), Contains("validation_fraction"));
    const std::vector<std::size_t> cols{5, 200};
    CHECK_THAT(error_of([&] { data::subset(ds, cols); }), Contains("column 200"));
}

// ---------------------------------------------------------------------------------------------------
// batcher

TEST_CASE("data: batcher covers every example once per epoch in column blocks with reused buffers",
          "[data]") {
    data::dataset<float> ds;
    const std::size_t n = 10;
    ds.x = matrix<float>({3, n});
    ds.y = matrix<float>({1, n});
    for (std::size_t j = 0; j < n; ++j) {
        for (std::size_t r = 0; r < 3; ++r) ds.x(r, j) = static_cast<float>(100 * r + j);
        ds.y(0, j) = static_cast<float>(j % 3);
    }
    ds.classes = 3;
    data::batcher<float> b(ds, 4, 17);
    REQUIRE(b.batches_per_epoch() == 3);
    const float* full_x = nullptr;
    const float* full_y = nullptr;
    const float* tail_x = nullptr;
    std::vector<std::vector<std::size_t>> orders;
    for (int epoch = 0; epoch < 3; ++epoch) {
        b.start_epoch();
        REQUIRE(b.epoch() == static_cast<std::size_t>(epoch + 1));
        std::vector<std::size_t> order, sizes;
        while (b.next()) {
            const auto idx = b.indices();
            sizes.push_back(idx.size());
            REQUIRE(b.x().shape() == std::array<std::size_t, 2>{3, idx.size()});
            REQUIRE(b.y().shape() == std::array<std::size_t, 2>{1, idx.size()});
            for (std::size_t k = 0; k < idx.size(); ++k) {
                for (std::size_t r = 0; r < 3; ++r) REQUIRE(b.x()(r, k) == ds.x(r, idx[k]));
                REQUIRE(b.y()(0, k) == ds.y(0, idx[k]));
                order.push_back(idx[k]);
            }
            if (idx.size() == 4) {
                if (!full_x) full_x = b.x().data(), full_y = b.y().data();
                REQUIRE(b.x().data() == full_x);
                REQUIRE(b.y().data() == full_y);
            } else {
                if (!tail_x) tail_x = b.x().data();
                REQUIRE(b.x().data() == tail_x);
            }
        }
        REQUIRE_FALSE(b.next());  // stays exhausted until the next start_epoch
        REQUIRE(sizes == std::vector<std::size_t>{4, 4, 2});
        std::vector<std::size_t> sorted = order;
        std::sort(sorted.begin(), sorted.end());
        for (std::size_t j = 0; j < n; ++j) REQUIRE(sorted[j] == j);  // each example exactly once
        orders.push_back(order);
    }
    CHECK((orders[0] != orders[1] || orders[1] != orders[2]));  // reshuffled every epoch

    // Same seed, same sequence of epochs; next() starts the first epoch by itself.
    data::batcher<float> again(ds, 4, 17);
    std::vector<std::size_t> first;
    while (again.next())
        for (auto i : again.indices()) first.push_back(i);
    REQUIRE(first == orders[0]);
}

TEST_CASE("data: batcher in order, oversized batches, unlabelled data and bad sizes", "[data]") {
    data::dataset<double> ds;
    ds.x = xgrad::test::random_matrix<double>(2, 7, 5);
    ds.y = matrix<double>({0, 7});
    data::batcher<double> seq(ds, 3, 0, false);
    std::vector<std::size_t> order;
    while (seq.next()) {
        REQUIRE(seq.y().shape() == std::array<std::size_t, 2>{0, seq.indices().size()});
        for (auto i : seq.indices()) order.push_back(i);
    }
    REQUIRE(order == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6});
    data::batcher<double> big(ds, 100, 1);
    REQUIRE(big.next());
    REQUIRE(big.x().shape() == std::array<std::size_t, 2>{2, 7});
    REQUIRE_FALSE(big.next());
    CHECK_THAT(error_of([&] { data::batcher<double>(ds, 0, 1); }), Contains("batch_size"));
}

// ---------------------------------------------------------------------------------------------------
// Real data (when the shared data directory is present)

TEST_CASE("data: real MNIST train and test load with the published sizes and class counts", "[data]") {
    const fs::path dir = fs::path(XGRAD_SHARED_DIR) / "data" / "mnist";
    if (!fs::exists(dir / "train-images-idx3-ubyte.gz")) {
        WARN("skipped: MNIST not found in " << dir.string());
        return;
    }
    const auto train = data::load_mnist<float>(dir, "train");
    const auto test = data::load_mnist<float>(dir, "test");
    REQUIRE(train.size() == 60000);
    REQUIRE(test.size() == 10000);
    REQUIRE(train.features() == 784);
    REQUIRE(test.features() == 784);
    REQUIRE(label_counts(train) ==
            std::vector<std::size_t>{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949});
    REQUIRE(label_counts(test) ==
            std::vector<std::size_t>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009});
    REQUIRE(train.y(0, 0) == 5);  // the well-known first labels
    REQUIRE(test.y(0, 0) == 7);
    REQUIRE(*std::min_element(train.x.begin(), train.x.end()) == 0.0f);
    REQUIRE(*std::max_element(train.x.begin(), train.x.end()) == 1.0f);
}

TEST_CASE("data: real Fashion-MNIST test split has 1000 examples per class", "[data]") {
    const fs::path dir = fs::path(XGRAD_SHARED_DIR) / "data" / "fashion-mnist";
    if (!fs::exists(dir / "t10k-images-idx3-ubyte.gz")) {
        WARN("skipped: Fashion-MNIST not found in " << dir.string());
        return;
    }
    auto test = data::load_mnist<float>(dir, "test");
    test.class_names = data::fashion_mnist_class_names();
    REQUIRE(test.size() == 10000);
    REQUIRE(label_counts(test) == std::vector<std::size_t>(10, 1000));
}
