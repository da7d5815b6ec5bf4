/// @file checkpoint.hpp
/// @brief Checkpoints as NumPy .npz archives, readable by `numpy.load` and by any ZIP tool.
///
/// An archive holds one `<name>.npy` entry per tensor (NPY format 1.0, `'<f4'` or `'<f8'`, C order,
/// shape `(rows, cols)`, header padded so the array data starts at a multiple of 64 bytes in the .npy
/// stream). Entries are stored uncompressed, with a fixed timestamp (the same tensors give the same bytes);
/// the CRC-32 of each is checked on load. The ZIP container is read and written by libzip; the NPY headers,
/// the checks below and the durable write are xgrad's.
///
/// Saving is atomic: the archive is built in memory, then written through io::write_atomically (a temporary
/// file with a unique name beside `path`, fsync, rename over `path`, fsync of the directory). A crash or
/// SIGKILL at any moment leaves either the previous file or the new one at `path`, never a mix; at worst a
/// stale `<path>.tmp-…` remains, which is safe to delete.
///
/// Loading accepts what numpy writes: `np.savez` (stored) and `np.savez_compressed` (deflate) archives,
/// ZIP64 records, NPY versions 1.0–3.0, C or Fortran order, dtypes `'<f4'` and `'<f8'` (converted to T).
/// Arrays of other dimensionality map onto xgrad's 2-D matrices as follows:
///   - 2-D `(r, c)` → [r×c];
///   - 1-D `(n,)`   → [n×1], a column vector (xgrad's bias layout: a PyTorch bias `(out,)` loads as the
///                    `(units × 1)` b of the lecture);
///   - 0-D `()`     → [1×1];
///   - 3-D and more → rejected.
/// Only a regular file is read (a FIFO or a device is refused without blocking). Before any array is
/// allocated, every entry's name and .npy header (dtype, shape, and the size they imply against the size the
/// archive declares, which for deflate cannot exceed 1032 times its compressed size) are read and checked;
/// each array is then read into memory of exactly its declared size, and its CRC-32 and size are checked.
/// Anything truncated, corrupt or unsupported throws checkpoint_error naming the file, the entry and the
/// problem.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "xgrad/config.hpp"
#include "xgrad/error.hpp"
#include "xgrad/fwd.hpp"

namespace xgrad {

/// A checkpoint could not be written or read: an I/O error (with the errno text), a truncated or corrupt
/// archive, an unsupported dtype or shape, or names and shapes that do not match the model.
class checkpoint_error : public error {
public:
    using error::error;
};

/// Writes `tensors` to `path` as an .npz archive, atomically (see the file comment).
///
/// Each tensor becomes the entry `<name>.npy` (`'<f4'` for float, `'<f8'` for double, shape
/// `(rows, cols)`). Names must be non-empty, unique and free of NUL bytes; dots and slashes are fine
/// ("0.weight"). Archives beyond 4 GiB or 65535 entries get ZIP64 records (numpy reads them). The
/// archive is built in memory first: besides the tensors, saving takes about twice their size.
/// @throws checkpoint_error on invalid names, a null pointer, a size limit, or any I/O error (the
///         message names `path` and the errno text); the previous file at `path` is then untouched and the
///         temporary file removed.
template <class T>
void save_npz(const std::string& path, const std::vector<std::pair<std::string, const matrix<T>*>>& tensors);

/// Reads every array of the .npz archive at `path`, in archive order, as (name without ".npy", matrix).
///
/// Values stored as float32 or float64 are converted to T (float64 → float rounds; a finite float64 beyond
/// float's range, such as 1e300, throws, naming the entry and the position). NaN and ±Inf are returned as
/// stored (load_parameters rejects them). The memory taken is the arrays' declared sizes, all headers being
/// checked first. See the file comment for the shapes accepted and how 0-D and 1-D arrays map onto matrices.
/// @throws checkpoint_error naming the file, the entry and the problem if the file cannot be read, is
///         not a ZIP archive, is truncated or corrupt (bad CRC, sizes, offsets), holds an entry that is not
///         a `.npy` array, or holds an unsupported dtype (e.g. `'<i8'`, big-endian `'>f8'`) or shape.
template <class T>
std::vector<std::pair<std::string, matrix<T>>> load_npz(const std::string& path);

/// Saves the values of `params` under the given names (save_npz of their values).
/// @throws checkpoint_error as save_npz, and on a null parameter pointer.
template <class T>
void save_parameters(const std::string& path,
                     const std::vector<std::pair<std::string, const parameter<T>*>>& params);

/// Loads the archive at `path` into `params`: every name must be present with exactly the parameter's
/// shape, and the archive must hold no other entries.
///
/// Names and shapes are compared from the headers alone, before any array data is read: an archive that does
/// not fit the model costs no more memory than its headers, whatever sizes it declares. Then only the
/// matching arrays are read (exactly the model's sizes); every value must be a finite number within the range
/// of T. All-or-nothing: everything is read and checked before any parameter is modified. Values are copied
/// into the parameters' existing buffers; gradients are left alone.
/// @throws checkpoint_error listing every problem, e.g.
///         `model.npz: '0.weight' has shape [128×784] but the model expects [256×784]`,
///         `model.npz: '1.bias' is missing (the model expects [10×1])`,
///         `model.npz: unexpected entry 'extra' [3×4] (not a parameter of the model)`,
///         `model.npz: entry 'w': the value at [1, 2] of [2×3] is NaN (parameters must be finite numbers)`,
///         or anything load_npz throws; duplicate or null entries in `params` are rejected too.
template <class T>
void load_parameters(const std::string& path,
                     const std::vector<std::pair<std::string, parameter<T>*>>& params);

namespace nn {
template <class T>
class module;
}

/// Saves a model's state — its parameters and its buffers (batch_norm's running statistics) — under their
/// dotted names (module::named_state), as save_parameters does.
template <class T>
void save_module(const std::string& path, nn::module<T>& model);

/// Loads a checkpoint written by save_module into `model`: parameters and buffers, all-or-nothing, with
/// load_parameters' checks (every name present with its shape, nothing else, finite values).
template <class T>
void load_module(const std::string& path, nn::module<T>& model);

}  // namespace xgrad
