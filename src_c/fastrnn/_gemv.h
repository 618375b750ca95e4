/* The row product of the batch-1 LSTM steps, y[r] += W[r, :] . x, and the backward's
 * transposed product y = beta y + W^T x (float32, float64).
 *
 * Private; included through src_c/fastrnn/_blas.pxd (gemv_rows). At batch 1 a step of
 * the LSTM forward pass and of its sampler is one product of the recurrent weights
 * (4H x H) with a vector: a stream of the whole matrix from L2, which bounds its speed.
 * This kernel streams W in memory order, one row at a time, with x held in registers
 * (n <= 128 columns), 16 rows (float64: 8) per block, whose sums one transposition
 * adds up; and it takes the blocks in either order (rev), so that the rows the previous
 * step read last, still in L1, come first. It is instantiated per number of column
 * chunks (a switch), so that its loops unroll and nothing spills. Against OpenBLAS's
 * GEMV (SkylakeX kernels) in LSTM sampling at one thread: float32 2-6 % faster by H
 * (the output layer's 27 x 100 product 0.10 against 0.15 us), float64 12-22 %.
 * AVX-512F only; fr_gemv_rows_* return 0 where it does not apply (another CPU,
 * n > 128, the test switch), and the caller then calls BLAS.
 *
 * Each row's sum has one order, whatever the block, the part of the rows or the
 * direction: x_c * W[r, c] over the column chunks c in order into one accumulator,
 * then its lanes as ((l0 + l8) + (l4 + l12)) + ((l2 + l10) + (l6 + l14)) + ... (float64:
 * ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))), the same tree for every row. So
 * a product split into parts of rows (the two threads of a pair) gives the bits of the
 * whole product.
 */
#ifndef FASTRNN_GEMV_H
#define FASTRNN_GEMV_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>

static int fr_gemv_isa = -1;        /* 1: AVX-512F, 0: not; -1 not yet known */
static int fr_gemv_off = 0;         /* test switch: always BLAS */

#define FR_GEMV_AVX512 __attribute__((target("avx512f")))

/* 16 accumulators -> their 16 horizontal sums, in the lane order
 * [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15] of the rows */
FR_GEMV_AVX512 static inline __m512 fr_gemv_sum16(const __m512 *v)
{
    __m512 t[8], u[4], w[2];
    for (int k = 0; k < 8; k++)         /* lane i + lane i + 8, two rows a vector */
        t[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0x44),
                             _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0xEE));
    for (int k = 0; k < 4; k++)         /* + lane i + 4: four rows a vector */
        u[k] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * k], t[2 * k + 1], 0x88),
                             _mm512_shuffle_f32x4(t[2 * k], t[2 * k + 1], 0xDD));
    for (int k = 0; k < 2; k++)         /* + lane i + 2 */
        w[k] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * k], u[2 * k + 1], 0x44),
                             _mm512_shuffle_ps(u[2 * k], u[2 * k + 1], 0xEE));
    return _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], 0x88),     /* + lane i + 1 */
                         _mm512_shuffle_ps(w[0], w[1], 0xDD));
}

/* the 16 row sums of rows [r0, r0 + rows) (zero past them), rows <= 16; nc a constant
 * where it is inlined, so that the loops unroll and x and the sums stay in registers */
#define FR_GEMV_INLINE __attribute__((target("avx512f"), always_inline)) static inline
FR_GEMV_INLINE __m512 fr_gemv_row(const float *w, const __m512 *xv, const int nc,
                                  __mmask16 last)
{
    __m512 a = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int c = 0; c < nc - 1; c++)
        a = _mm512_fmadd_ps(_mm512_loadu_ps(w + 16 * c), xv[c], a);
    return _mm512_fmadd_ps(_mm512_maskz_loadu_ps(last, w + 16 * (nc - 1)), xv[nc - 1], a);
}

FR_GEMV_INLINE void fr_gemv_rows_f_nc(int m, int n, const float *W, const float *x,
                                      float *y, int rev, const int nc)
{
    static const int order[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
    const __m512i perm = _mm512_loadu_si512((const void *)order);
    const int nb = (m + 15) / 16;
    const __mmask16 last = (n % 16) ? (__mmask16)((1u << (n % 16)) - 1) : (__mmask16)0xFFFF;
    __m512 xv[8], acc[16], s;
#pragma GCC unroll 8
    for (int c = 0; c < nc; c++)
        xv[c] = _mm512_maskz_loadu_ps(c == nc - 1 ? last : (__mmask16)0xFFFF, x + 16 * c);
    for (int bi = 0; bi < nb; bi++) {
        const int r0 = 16 * (rev ? nb - 1 - bi : bi), left = m - r0;
        if (left >= 16) {                   /* a whole block */
#pragma GCC unroll 16
            for (int r = 0; r < 16; r++)
                acc[r] = fr_gemv_row(W + (Py_ssize_t)(r0 + r) * n, xv, nc, last);
            s = _mm512_permutexvar_ps(perm, fr_gemv_sum16(acc));
            _mm512_storeu_ps(y + r0, _mm512_add_ps(_mm512_loadu_ps(y + r0), s));
        } else {                            /* the last rows: zero sums past them */
            const __mmask16 k = (__mmask16)((1u << left) - 1);
            for (int r = 0; r < 16; r++)
                acc[r] = r < left ? fr_gemv_row(W + (Py_ssize_t)(r0 + r) * n, xv, nc, last)
                                  : _mm512_setzero_ps();
            s = _mm512_permutexvar_ps(perm, fr_gemv_sum16(acc));
            _mm512_mask_storeu_ps(y + r0, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, y + r0), s));
        }
    }
}

FR_GEMV_AVX512 static void fr_gemv_rows_f_avx512(int m, int n, const float *W,
                                                 const float *x, float *y, int rev)
{
    switch ((n + 15) / 16) {                /* 1 <= n <= 128 */
    case 1: fr_gemv_rows_f_nc(m, n, W, x, y, rev, 1); break;
    case 2: fr_gemv_rows_f_nc(m, n, W, x, y, rev, 2); break;
    case 3: fr_gemv_rows_f_nc(m, n, W, x, y, rev, 3); break;
    case 4: fr_gemv_rows_f_nc(m, n, W, x, y, rev, 4); break;
    case 5: fr_gemv_rows_f_nc(m, n, W, x, y, rev, 5); break;
    case 6: fr_gemv_rows_f_nc(m, n, W, x, y, rev, 6); break;
    case 7: fr_gemv_rows_f_nc(m, n, W, x, y, rev, 7); break;
    default: fr_gemv_rows_f_nc(m, n, W, x, y, rev, 8); break;
    }
}

/* float64: 8 columns a chunk (x in up to 16 registers), 8 rows a block; each row as
 * ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)) of its accumulator's lanes */
FR_GEMV_INLINE __m512d fr_gemv_sum8(const __m512d *v)
{
    __m512d t[4], u[2];
    for (int k = 0; k < 4; k++)         /* lane i + lane i + 4, two rows a vector */
        t[k] = _mm512_add_pd(_mm512_shuffle_f64x2(v[2 * k], v[2 * k + 1], 0x44),
                             _mm512_shuffle_f64x2(v[2 * k], v[2 * k + 1], 0xEE));
    for (int k = 0; k < 2; k++)         /* + lane i + 2: four rows a vector */
        u[k] = _mm512_add_pd(_mm512_shuffle_f64x2(t[2 * k], t[2 * k + 1], 0x88),
                             _mm512_shuffle_f64x2(t[2 * k], t[2 * k + 1], 0xDD));
    return _mm512_add_pd(_mm512_unpacklo_pd(u[0], u[1]),         /* + lane i + 1 */
                         _mm512_unpackhi_pd(u[0], u[1]));
}

FR_GEMV_INLINE __m512d fr_gemv_row_d(const double *w, const __m512d *xv, const int nc,
                                     __mmask8 last)
{
    __m512d a = _mm512_setzero_pd();
#pragma GCC unroll 16
    for (int c = 0; c < nc - 1; c++)
        a = _mm512_fmadd_pd(_mm512_loadu_pd(w + 8 * c), xv[c], a);
    return _mm512_fmadd_pd(_mm512_maskz_loadu_pd(last, w + 8 * (nc - 1)), xv[nc - 1], a);
}

FR_GEMV_INLINE void fr_gemv_rows_d_nc(int m, int n, const double *W, const double *x,
                                      double *y, int rev, const int nc)
{
    const __m512i perm = _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0);
    const int nb = (m + 7) / 8;
    const __mmask8 last = (n % 8) ? (__mmask8)((1u << (n % 8)) - 1) : (__mmask8)0xFF;
    __m512d xv[16], acc[8], s;
#pragma GCC unroll 16
    for (int c = 0; c < nc; c++)
        xv[c] = _mm512_maskz_loadu_pd(c == nc - 1 ? last : (__mmask8)0xFF, x + 8 * c);
    for (int bi = 0; bi < nb; bi++) {
        const int r0 = 8 * (rev ? nb - 1 - bi : bi), left = m - r0;
        if (left >= 8) {
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++)
                acc[r] = fr_gemv_row_d(W + (Py_ssize_t)(r0 + r) * n, xv, nc, last);
            s = _mm512_permutexvar_pd(perm, fr_gemv_sum8(acc));
            _mm512_storeu_pd(y + r0, _mm512_add_pd(_mm512_loadu_pd(y + r0), s));
        } else {
            const __mmask8 k = (__mmask8)((1u << left) - 1);
            for (int r = 0; r < 8; r++)
                acc[r] = r < left ? fr_gemv_row_d(W + (Py_ssize_t)(r0 + r) * n, xv, nc, last)
                                  : _mm512_setzero_pd();
            s = _mm512_permutexvar_pd(perm, fr_gemv_sum8(acc));
            _mm512_mask_storeu_pd(y + r0, k, _mm512_add_pd(_mm512_maskz_loadu_pd(k, y + r0), s));
        }
    }
}

FR_GEMV_AVX512 static void fr_gemv_rows_d_avx512(int m, int n, const double *W,
                                                 const double *x, double *y, int rev)
{
    switch ((n + 7) / 8) {                  /* 1 <= n <= 128 */
    case 1: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 1); break;
    case 2: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 2); break;
    case 3: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 3); break;
    case 4: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 4); break;
    case 5: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 5); break;
    case 6: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 6); break;
    case 7: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 7); break;
    case 8: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 8); break;
    case 9: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 9); break;
    case 10: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 10); break;
    case 11: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 11); break;
    case 12: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 12); break;
    case 13: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 13); break;
    case 14: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 14); break;
    case 15: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 15); break;
    default: fr_gemv_rows_d_nc(m, n, W, x, y, rev, 16); break;
    }
}

/* The transposed product y = beta y + W^T x over the m rows of W (n <= 128 columns,
 * beta 0 or 1): the rows streamed in memory order into n / 16 (float64: n / 8)
 * accumulators held in registers, x[r] broadcast; each y[j] sums its rows in order,
 * then is added to y when beta is 1. */
#define FR_GEMV_T(NAME, T, V, LANES, SETZERO, LOADU, MASKZ_LOADU, SET1, FMADD, ADD,     \
                  STOREU, MASK_STOREU, MASK_T, FULL)                                    \
FR_GEMV_INLINE void NAME##_nc(int m, int n, const T *W, const T *x, T *y, int beta,    \
                              const int nc)                                            \
{                                                                                       \
    const MASK_T last = (n % LANES) ? (MASK_T)((1u << (n % LANES)) - 1) : (MASK_T)FULL; \
    V acc[128 / LANES];                                                                 \
    _Pragma("GCC unroll 16")                                                            \
    for (int c = 0; c < nc; c++)                                                        \
        acc[c] = SETZERO();                                                             \
    for (int r = 0; r < m; r++) {                                                       \
        const T *w = W + (Py_ssize_t)r * n;                                             \
        const V xr = SET1(x[r]);                                                        \
        _Pragma("GCC unroll 16")                                                        \
        for (int c = 0; c < nc - 1; c++)                                                \
            acc[c] = FMADD(LOADU(w + LANES * c), xr, acc[c]);                           \
        acc[nc - 1] = FMADD(MASKZ_LOADU(last, w + LANES * (nc - 1)), xr, acc[nc - 1]);  \
    }                                                                                   \
    _Pragma("GCC unroll 16")                                                            \
    for (int c = 0; c < nc; c++) {                                                      \
        const MASK_T k = c == nc - 1 ? last : (MASK_T)FULL;                             \
        V v = acc[c];                                                                   \
        if (beta)                                                                       \
            v = ADD(MASKZ_LOADU(k, y + LANES * c), v);                                  \
        MASK_STOREU(y + LANES * c, k, v);                                               \
    }                                                                                   \
}
FR_GEMV_T(fr_gemv_t_f, float, __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps,
          _mm512_maskz_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
          _mm512_storeu_ps, _mm512_mask_storeu_ps, __mmask16, 0xFFFF)
FR_GEMV_T(fr_gemv_t_d, double, __m512d, 8, _mm512_setzero_pd, _mm512_loadu_pd,
          _mm512_maskz_loadu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd,
          _mm512_storeu_pd, _mm512_mask_storeu_pd, __mmask8, 0xFF)

FR_GEMV_AVX512 static void fr_gemv_t_f_avx512(int m, int n, const float *W, const float *x,
                                              float *y, int beta)
{
    switch ((n + 15) / 16) {
    case 1: fr_gemv_t_f_nc(m, n, W, x, y, beta, 1); break;
    case 2: fr_gemv_t_f_nc(m, n, W, x, y, beta, 2); break;
    case 3: fr_gemv_t_f_nc(m, n, W, x, y, beta, 3); break;
    case 4: fr_gemv_t_f_nc(m, n, W, x, y, beta, 4); break;
    case 5: fr_gemv_t_f_nc(m, n, W, x, y, beta, 5); break;
    case 6: fr_gemv_t_f_nc(m, n, W, x, y, beta, 6); break;
    case 7: fr_gemv_t_f_nc(m, n, W, x, y, beta, 7); break;
    default: fr_gemv_t_f_nc(m, n, W, x, y, beta, 8); break;
    }
}

FR_GEMV_AVX512 static void fr_gemv_t_d_avx512(int m, int n, const double *W, const double *x,
                                              double *y, int beta)
{
    switch ((n + 7) / 8) {
    case 1: fr_gemv_t_d_nc(m, n, W, x, y, beta, 1); break;
    case 2: fr_gemv_t_d_nc(m, n, W, x, y, beta, 2); break;
    case 3: fr_gemv_t_d_nc(m, n, W, x, y, beta, 3); break;
    case 4: fr_gemv_t_d_nc(m, n, W, x, y, beta, 4); break;
    case 5: fr_gemv_t_d_nc(m, n, W, x, y, beta, 5); break;
    case 6: fr_gemv_t_d_nc(m, n, W, x, y, beta, 6); break;
    case 7: fr_gemv_t_d_nc(m, n, W, x, y, beta, 7); break;
    case 8: fr_gemv_t_d_nc(m, n, W, x, y, beta, 8); break;
    case 9: fr_gemv_t_d_nc(m, n, W, x, y, beta, 9); break;
    case 10: fr_gemv_t_d_nc(m, n, W, x, y, beta, 10); break;
    case 11: fr_gemv_t_d_nc(m, n, W, x, y, beta, 11); break;
    case 12: fr_gemv_t_d_nc(m, n, W, x, y, beta, 12); break;
    case 13: fr_gemv_t_d_nc(m, n, W, x, y, beta, 13); break;
    case 14: fr_gemv_t_d_nc(m, n, W, x, y, beta, 14); break;
    case 15: fr_gemv_t_d_nc(m, n, W, x, y, beta, 15); break;
    default: fr_gemv_t_d_nc(m, n, W, x, y, beta, 16); break;
    }
}

/* 1 when fr_gemv_rows_f / _d multiply rows of n columns themselves */
static inline int fr_gemv_rows_ok_f(int n)
{
    if (fr_gemv_isa < 0) {
        __builtin_cpu_init();
        fr_gemv_isa = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return fr_gemv_isa && !fr_gemv_off && n > 0 && n <= 128;
}

/* y[0:m] += W @ x for a row-major W (m, n) (rows n apart), the row blocks last to first
 * when rev; returns 1, or 0 without touching y where the kernel does not apply. */
static inline int fr_gemv_rows_f(int m, int n, const float *W, const float *x, float *y,
                                 int rev)
{
    if (!fr_gemv_rows_ok_f(n) || m <= 0)
        return 0;
    fr_gemv_rows_f_avx512(m, n, W, x, y, rev);
    return 1;
}

static inline int fr_gemv_rows_d(int m, int n, const double *W, const double *x, double *y,
                                 int rev)
{
    if (!fr_gemv_rows_ok_f(n) || m <= 0)
        return 0;
    fr_gemv_rows_d_avx512(m, n, W, x, y, rev);
    return 1;
}

/* y[0:n] = beta y + W^T x for a row-major W (m, n), beta 0 or 1; 1, or 0 (untouched) */
static inline int fr_gemv_t_f(int m, int n, const float *W, const float *x, float *y,
                              int beta)
{
    if (!fr_gemv_rows_ok_f(n) || m <= 0)
        return 0;
    fr_gemv_t_f_avx512(m, n, W, x, y, beta);
    return 1;
}

static inline int fr_gemv_t_d(int m, int n, const double *W, const double *x, double *y,
                              int beta)
{
    if (!fr_gemv_rows_ok_f(n) || m <= 0)
        return 0;
    fr_gemv_t_d_avx512(m, n, W, x, y, beta);
    return 1;
}

#else
static int fr_gemv_off = 0;

static inline int fr_gemv_rows_ok_f(int n)
{
    (void)n; (void)fr_gemv_off;
    return 0;
}

static inline int fr_gemv_rows_f(int m, int n, const float *W, const float *x, float *y,
                                 int rev)
{
    (void)m; (void)n; (void)W; (void)x; (void)y; (void)rev;
    return 0;
}

static inline int fr_gemv_rows_d(int m, int n, const double *W, const double *x, double *y,
                                 int rev)
{
    (void)m; (void)n; (void)W; (void)x; (void)y; (void)rev;
    return 0;
}

static inline int fr_gemv_t_f(int m, int n, const float *W, const float *x, float *y,
                              int beta)
{
    (void)m; (void)n; (void)W; (void)x; (void)y; (void)beta;
    return 0;
}

static inline int fr_gemv_t_d(int m, int n, const double *W, const double *x, double *y,
                              int beta)
{
    (void)m; (void)n; (void)W; (void)x; (void)y; (void)beta;
    return 0;
}
#endif

#endif
