// The "no framework" floor: the lecture's formulas written directly with BLAS gemm (transpose flags) and
// plain loops into buffers allocated once. This is what xgrad's overhead is measured against.
//
//   forward:  A[l] = W[l]·H[l−1] + b[l]      H[l] = act(A[l])           (H[0] = X; last layer: softmax or σ)
//   backward: dA[L] = (H[L] − Y)/m
//             dW[l] = dA[l]·H[l−1]ᵀ   db[l] = Σ_columns dA[l]   dA[l−1] = W[l]ᵀ·dA[l] ⊙ act′(H[l−1])
//   update:   W = W − α·dW,  b = b − α·db
#include <cblas.h>

#include <cmath>
#include <vector>

#include "bench.hpp"

namespace bench {

namespace {

inline void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                 int ldb, float beta, float* c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                a, lda, b, ldb, beta, c, ldc);
}
inline void gemm(bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda,
                 const double* b, int ldb, double beta, double* c, int ldc) {
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                a, lda, b, ldb, beta, c, ldc);
}

template <class T>
class hand_stepper final : public stepper {
public:
    hand_stepper(const model_spec& s, const problem& p)
        : m_spec(s), m_layers(s.sizes.size() - 1), m_m(s.batch) {
        m_x.assign(p.x.begin(), p.x.end());
        m_labels.assign(p.labels.begin(), p.labels.end());
        for (std::size_t l = 0; l < m_layers; ++l) {
            const std::size_t in = s.sizes[l], out = s.sizes[l + 1];
            m_w.emplace_back(p.w[l].begin(), p.w[l].end());
            m_b.emplace_back(p.b[l].begin(), p.b[l].end());
            m_dw.emplace_back(out * in);
            m_db.emplace_back(out);
            m_h.emplace_back(out * m_m);  // A then H, in place
            m_da.emplace_back(out * m_m);
        }
        m_col.resize(2 * m_m);
    }

    void step() override {
        const std::size_t m = m_m, L = m_layers;
        const auto& sz = m_spec.sizes;
        // forward
        const T* prev = m_x.data();
        for (std::size_t l = 0; l < L; ++l) {
            const int out = static_cast<int>(sz[l + 1]), in = static_cast<int>(sz[l]);
            T* h = m_h[l].data();
            gemm(false, false, out, static_cast<int>(m), in, T(1), m_w[l].data(), in, prev,
                 static_cast<int>(m), T(0), h, static_cast<int>(m));
            for (int i = 0; i < out; ++i) {
                const T bi = m_b[l][i];
                T* row = h + i * m;
                if (l + 1 < L) {
                    switch (m_spec.hidden) {
                        case act::relu:
                            for (std::size_t j = 0; j < m; ++j) row[j] = std::max(row[j] + bi, T(0));
                            break;
                        case act::sigmoid:
                            for (std::size_t j = 0; j < m; ++j)
                                row[j] = T(1) / (T(1) + std::exp(-(row[j] + bi)));
                            break;
                        case act::tanh:
                            for (std::size_t j = 0; j < m; ++j) row[j] = std::tanh(row[j] + bi);
                            break;
                    }
                } else {
                    for (std::size_t j = 0; j < m; ++j) row[j] += bi;
                }
            }
            prev = h;
        }
        // loss and dA[L] = (H[L] − Y)/m
        const std::size_t c = sz.back();
        T* z = m_h[L - 1].data();
        T* dz = m_da[L - 1].data();
        const T inv_m = T(1) / static_cast<T>(m);
        double loss = 0;
        if (m_spec.objective == loss::softmax_ce) {
            T* mx = m_col.data();
            T* sum = m_col.data() + m;
            for (std::size_t j = 0; j < m; ++j) mx[j] = z[j], sum[j] = 0;
            for (std::size_t i = 1; i < c; ++i)
                for (std::size_t j = 0; j < m; ++j) mx[j] = std::max(mx[j], z[i * m + j]);
            for (std::size_t i = 0; i < c; ++i)
                for (std::size_t j = 0; j < m; ++j) {
                    const T e = std::exp(z[i * m + j] - mx[j]);
                    dz[i * m + j] = e;
                    sum[j] += e;
                }
            for (std::size_t j = 0; j < m; ++j) {
                const std::size_t t = static_cast<std::size_t>(m_labels[j]);
                loss -= static_cast<double>(z[t * m + j] - mx[j] - std::log(sum[j]));
                sum[j] = inv_m / sum[j];
            }
            for (std::size_t i = 0; i < c; ++i)
                for (std::size_t j = 0; j < m; ++j) dz[i * m + j] *= sum[j];
            for (std::size_t j = 0; j < m; ++j) dz[static_cast<std::size_t>(m_labels[j]) * m + j] -= inv_m;
        } else {
            for (std::size_t j = 0; j < m; ++j) {
                const T zj = z[j], y = m_labels[j];
                loss +=
                    static_cast<double>(std::max(zj, T(0)) - zj * y + std::log1p(std::exp(-std::abs(zj))));
                dz[j] = (T(1) / (T(1) + std::exp(-zj)) - y) * inv_m;
            }
        }
        m_loss = loss / static_cast<double>(m);
        // backward
        for (std::size_t l = L; l-- > 0;) {
            const int out = static_cast<int>(sz[l + 1]), in = static_cast<int>(sz[l]);
            const T* hp = l == 0 ? m_x.data() : m_h[l - 1].data();
            const T* da = m_da[l].data();
            gemm(false, true, out, in, static_cast<int>(m), T(1), da, static_cast<int>(m), hp,
                 static_cast<int>(m), T(0), m_dw[l].data(), in);  // dW = dA·Hᵀ
            for (int i = 0; i < out; ++i) {                       // db = Σ_columns dA
                T s = 0;
                for (std::size_t j = 0; j < m; ++j) s += da[i * m + j];
                m_db[l][i] = s;
            }
            if (l > 0) {
                T* dprev = m_da[l - 1].data();
                gemm(true, false, in, static_cast<int>(m), out, T(1), m_w[l].data(), in, da,
                     static_cast<int>(m), T(0), dprev, static_cast<int>(m));  // dH = Wᵀ·dA
                const T* h = m_h[l - 1].data();
                const std::size_t n = static_cast<std::size_t>(in) * m;
                switch (m_spec.hidden) {  // dA = dH ⊙ act′
                    case act::relu:
                        for (std::size_t k = 0; k < n; ++k) dprev[k] *= static_cast<T>(h[k] > T(0));
                        break;
                    case act::sigmoid:
                        for (std::size_t k = 0; k < n; ++k) dprev[k] *= h[k] * (T(1) - h[k]);
                        break;
                    case act::tanh:
                        for (std::size_t k = 0; k < n; ++k) dprev[k] *= T(1) - h[k] * h[k];
                        break;
                }
            }
        }
        // update
        const T lr = T(learning_rate);
        for (std::size_t l = 0; l < L; ++l) {
            for (std::size_t k = 0; k < m_w[l].size(); ++k) m_w[l][k] -= lr * m_dw[l][k];
            for (std::size_t k = 0; k < m_b[l].size(); ++k) m_b[l][k] -= lr * m_db[l][k];
        }
    }
    double last_loss() const override { return m_loss; }

private:
    model_spec m_spec;
    std::size_t m_layers, m_m;
    std::vector<T> m_x, m_labels, m_col;
    std::vector<std::vector<T>> m_w, m_b, m_dw, m_db, m_h, m_da;
    double m_loss = 0;
};

}  // namespace

template <class T>
std::unique_ptr<stepper> make_hand(const model_spec& s, const problem& p) {
    return std::make_unique<hand_stepper<T>>(s, p);
}
template std::unique_ptr<stepper> make_hand<float>(const model_spec&, const problem&);
template std::unique_ptr<stepper> make_hand<double>(const model_spec&, const problem&);

}  // namespace bench
