/* The row product of the batch-1 LSTM steps, y[r] += W[r, :] . x, and the backward's
 * transposed product y = beta y + W^T x (float32, float64).
 *
 * Private; included through src_c/fastrnn/_blas.pxd (gemv_rows). At batch 1 a step of
 * the LSTM forward pass and of its sampler is one product of the recurrent weights
 * (4H x H) with a vector: a stream of the whole matrix from L2, which bounds its speed.
 * This kernel streams W in memory order, one row at a time, with x held in registers
 * (n <= 128 columns; past that, x read from L1 with four rows at a time through the
 * column chunks, the same sums: the batch-1 GRU at H = 256, 3H x H), 16 rows (float64:
 * 8) per block, whose sums one transposition adds up; and it takes the blocks in
 * either order (rev), so that the rows the previous step read last, still in L1, come
 * first. It is instantiated per number of column
 * chunks (a switch), so that its loops unroll and nothing spills. Against OpenBLAS's
 * GEMV (SkylakeX kernels) in LSTM sampling at one thread: float32 2-6 % faster by H
 * (the output layer's 27 x 100 product 0.10 against 0.15 us), float64 12-22 %.
 * AVX-512F only; fr_gemv_rows_* return 0 where it does not apply (another CPU or
 * compiler, a level below AVX-512F picked at load time (FASTRNN_SIMD, _platform.h),
 * the test switch), and the caller then calls BLAS. Past 128 columns, at 768 x 256
 * (the GRU's at H = 256) against OpenBLAS's GEMV in the same run (loaded machine):
 * float32 13.5 / 14.6 us, float64 26.6 / 28.3; 9.0 us float32 on a quiet one.
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

#include "_platform.h"

#if FR_X86_DISPATCH
#include <immintrin.h>

static int fr_gemv_off = 0;         /* test switch: always BLAS */

#define FR_GEMV_AVX512 __attribute__((target("avx512f")))
#define FR_GEMV_INLINE __attribute__((target("avx512f"), always_inline)) static inline

/* 16 accumulators -> their 16 horizontal sums, in the lane order
 * [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15] of the rows */
FR_GEMV_INLINE __m512 fr_gemv_sum16(const __m512 *v)
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

/* The row product for a constant nc (inlined into the dispatcher below, so that the
 * loops unroll and x and the sums stay in registers): x in nc chunks of LANES, ROWS
 * rows a block, each row's chunk products in order into one accumulator, the block's
 * sums added up by SUM and put in row order by PERM; rows past the last are zero sums,
 * never stored. */
#define FR_GEMV_ROWS(NAME, T, V, LANES, ROWS, MASK_T, FULL, SETZERO, LOADU, MASKZ_LOADU,   \
                     FMADD, ADD, STOREU, MASK_STOREU, SUM, PERMUTE, PERM)                 \
FR_GEMV_INLINE V NAME##_row(const T *w, const V *xv, const int nc, MASK_T last)           \
{                                                                                         \
    V a = SETZERO();                                                                      \
    _Pragma("GCC unroll 16")                                                              \
    for (int c = 0; c < nc - 1; c++)                                                      \
        a = FMADD(LOADU(w + LANES * c), xv[c], a);                                        \
    return FMADD(MASKZ_LOADU(last, w + LANES * (nc - 1)), xv[nc - 1], a);                 \
}                                                                                         \
FR_GEMV_INLINE void NAME##_nc(int m, int n, int ld, const T *W, const T *x, T *y,        \
                              int rev, const int nc)                                      \
{                                                                                         \
    const __m512i perm = PERM;                                                            \
    const int nb = (m + ROWS - 1) / ROWS;                                                 \
    const MASK_T last = (n % LANES) ? (MASK_T)((1u << (n % LANES)) - 1) : (MASK_T)FULL;   \
    V xv[128 / LANES], acc[ROWS], s;                                                      \
    _Pragma("GCC unroll 16")                                                              \
    for (int c = 0; c < nc; c++)                                                          \
        xv[c] = MASKZ_LOADU(c == nc - 1 ? last : (MASK_T)FULL, x + LANES * c);            \
    for (int bi = 0; bi < nb; bi++) {                                                     \
        const int r0 = ROWS * (rev ? nb - 1 - bi : bi), left = m - r0;                    \
        if (left >= ROWS) {                 /* a whole block */                           \
            _Pragma("GCC unroll 16")                                                      \
            for (int r = 0; r < ROWS; r++)                                                \
                acc[r] = NAME##_row(W + (Py_ssize_t)(r0 + r) * ld, xv, nc, last);         \
            s = PERMUTE(perm, SUM(acc));                                                  \
            STOREU(y + r0, ADD(LOADU(y + r0), s));                                        \
        } else {                            /* the last rows */                           \
            const MASK_T k = (MASK_T)((1u << left) - 1);                                  \
            for (int r = 0; r < ROWS; r++)                                                \
                acc[r] = r < left ? NAME##_row(W + (Py_ssize_t)(r0 + r) * ld, xv, nc, last) \
                                  : SETZERO();                                            \
            s = PERMUTE(perm, SUM(acc));                                                  \
            MASK_STOREU(y + r0, k, ADD(MASKZ_LOADU(k, y + r0), s));                       \
        }                                                                                 \
    }                                                                                     \
}                                                                                         \
/* Any n (used past 128 columns): x from L1, four rows at a time through the chunks,     \
 * each row's sum in the order of NAME##_nc (its chunks in order into one accumulator, \
 * the last one masked), so the same bits as the register kernel would give */          \
FR_GEMV_INLINE void NAME##_wide(int m, int n, int ld, const T *W, const T *x, T *y,      \
                                int rev, int unused)                                      \
{                                                                                         \
    const __m512i perm = PERM;                                                            \
    const int nb = (m + ROWS - 1) / ROWS, nc = (n + LANES - 1) / LANES;                   \
    const MASK_T last = (n % LANES) ? (MASK_T)((1u << (n % LANES)) - 1) : (MASK_T)FULL;   \
    const V xl = MASKZ_LOADU(last, x + LANES * (nc - 1));                                 \
    V acc[ROWS], s;                                                                       \
    (void)unused;                                                                         \
    for (int bi = 0; bi < nb; bi++) {                                                     \
        const int r0 = ROWS * (rev ? nb - 1 - bi : bi), left = m - r0;                    \
        for (int r = 0; r < ROWS; r += 4) {  /* rows past the last: row m - 1, unused */  \
            const T *w0 = W + (Py_ssize_t)(r + 0 < left ? r0 + r + 0 : m - 1) * ld;       \
            const T *w1 = W + (Py_ssize_t)(r + 1 < left ? r0 + r + 1 : m - 1) * ld;       \
            const T *w2 = W + (Py_ssize_t)(r + 2 < left ? r0 + r + 2 : m - 1) * ld;       \
            const T *w3 = W + (Py_ssize_t)(r + 3 < left ? r0 + r + 3 : m - 1) * ld;       \
            V a0 = SETZERO(), a1 = SETZERO(), a2 = SETZERO(), a3 = SETZERO();             \
            if (r >= left)                                                                \
                break;                                                                    \
            for (int c = 0; c < nc - 1; c++) {                                            \
                const V xc = LOADU(x + LANES * c);                                        \
                a0 = FMADD(LOADU(w0 + LANES * c), xc, a0);                                \
                a1 = FMADD(LOADU(w1 + LANES * c), xc, a1);                                \
                a2 = FMADD(LOADU(w2 + LANES * c), xc, a2);                                \
                a3 = FMADD(LOADU(w3 + LANES * c), xc, a3);                                \
            }                                                                             \
            acc[r + 0] = FMADD(MASKZ_LOADU(last, w0 + LANES * (nc - 1)), xl, a0);         \
            acc[r + 1] = FMADD(MASKZ_LOADU(last, w1 + LANES * (nc - 1)), xl, a1);         \
            acc[r + 2] = FMADD(MASKZ_LOADU(last, w2 + LANES * (nc - 1)), xl, a2);         \
            acc[r + 3] = FMADD(MASKZ_LOADU(last, w3 + LANES * (nc - 1)), xl, a3);         \
        }                                                                                 \
        if (left >= ROWS) {                                                               \
            s = PERMUTE(perm, SUM(acc));                                                  \
            STOREU(y + r0, ADD(LOADU(y + r0), s));                                        \
        } else {                                                                          \
            const MASK_T k = (MASK_T)((1u << left) - 1);                                  \
            for (int r = left; r < ROWS; r++)                                             \
                acc[r] = SETZERO();                                                       \
            s = PERMUTE(perm, SUM(acc));                                                  \
            MASK_STOREU(y + r0, k, ADD(MASKZ_LOADU(k, y + r0), s));                       \
        }                                                                                 \
    }                                                                                     \
}
FR_GEMV_ROWS(fr_gemv_rows_f, float, __m512, 16, 16, __mmask16, 0xFFFF, _mm512_setzero_ps,
             _mm512_loadu_ps, _mm512_maskz_loadu_ps, _mm512_fmadd_ps, _mm512_add_ps,
             _mm512_storeu_ps, _mm512_mask_storeu_ps, fr_gemv_sum16, _mm512_permutexvar_ps,
             _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0))

/* The dispatchers: NAME##_sw(m, n, ld, W, x, y, arg) calls NAME##_nc with the number
 * of column chunks as a constant (1 <= n <= MAXNC chunks of LANES: x, or the sums, in
 * registers); NAME##_avx512(m, n, W, x, y, arg) calls it, or WIDE past MAXNC chunks */
#define FR_NC_CASE(F, K) case K: F##_nc(m, n, ld, W, x, y, arg, K); break;
#define FR_NC_CASES_7(F) FR_NC_CASE(F, 1) FR_NC_CASE(F, 2) FR_NC_CASE(F, 3) \
    FR_NC_CASE(F, 4) FR_NC_CASE(F, 5) FR_NC_CASE(F, 6) FR_NC_CASE(F, 7)
#define FR_NC_CASES_15(F) FR_NC_CASES_7(F) FR_NC_CASE(F, 8) FR_NC_CASE(F, 9) \
    FR_NC_CASE(F, 10) FR_NC_CASE(F, 11) FR_NC_CASE(F, 12) FR_NC_CASE(F, 13) \
    FR_NC_CASE(F, 14) FR_NC_CASE(F, 15)
#define FR_GEMV_DISPATCH(NAME, T, LANES, CASES, MAXNC, WIDE)                            \
FR_GEMV_AVX512 static void NAME##_sw(int m, int n, int ld, const T *W, const T *x,      \
                                     T *y, int arg)                                     \
{                                                                                       \
    switch ((n + LANES - 1) / LANES) {                                                  \
    CASES(NAME)                                                                         \
    default: NAME##_nc(m, n, ld, W, x, y, arg, MAXNC); break;                           \
    }                                                                                   \
}                                                                                       \
FR_GEMV_AVX512 static void NAME##_avx512(int m, int n, const T *W, const T *x, T *y,    \
                                         int arg)                                       \
{                                                                                       \
    if (n <= LANES * MAXNC)                                                             \
        NAME##_sw(m, n, n, W, x, y, arg);                                               \
    else                                                                                \
        WIDE(m, n, n, W, x, y, arg, LANES * MAXNC);                                     \
}

FR_GEMV_DISPATCH(fr_gemv_rows_f, float, 16, FR_NC_CASES_7, 8, fr_gemv_rows_f_wide)

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

FR_GEMV_ROWS(fr_gemv_rows_d, double, __m512d, 8, 8, __mmask8, 0xFF, _mm512_setzero_pd,
             _mm512_loadu_pd, _mm512_maskz_loadu_pd, _mm512_fmadd_pd, _mm512_add_pd,
             _mm512_storeu_pd, _mm512_mask_storeu_pd, fr_gemv_sum8, _mm512_permutexvar_pd,
             _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0))
FR_GEMV_DISPATCH(fr_gemv_rows_d, double, 8, FR_NC_CASES_15, 16, fr_gemv_rows_d_wide)

/* The transposed product y = beta y + W^T x over the m rows of W (n <= 128 columns;
 * more: groups of 128 columns, below; beta 0 or 1): the rows streamed in memory order into n / 16 (float64: n / 8)
 * accumulators held in registers, x[r] broadcast; each y[j] sums its rows in order,
 * then is added to y when beta is 1. */
#define FR_GEMV_T(NAME, T, V, LANES, SETZERO, LOADU, MASKZ_LOADU, SET1, FMADD, ADD,     \
                  MASK_STOREU, MASK_T, FULL)                                            \
FR_GEMV_INLINE void NAME##_nc(int m, int n, int ld, const T *W, const T *x, T *y,     \
                              int beta, const int nc)                                  \
{                                                                                       \
    const MASK_T last = (n % LANES) ? (MASK_T)((1u << (n % LANES)) - 1) : (MASK_T)FULL; \
    V acc[128 / LANES];                                                                 \
    _Pragma("GCC unroll 16")                                                            \
    for (int c = 0; c < nc; c++)                                                        \
        acc[c] = SETZERO();                                                             \
    for (int r = 0; r < m; r++) {                                                       \
        const T *w = W + (Py_ssize_t)r * ld;                                            \
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
          _mm512_mask_storeu_ps, __mmask16, 0xFFFF)
FR_GEMV_T(fr_gemv_t_d, double, __m512d, 8, _mm512_setzero_pd, _mm512_loadu_pd,
          _mm512_maskz_loadu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd,
          _mm512_mask_storeu_pd, __mmask8, 0xFF)

/* Past MAXNC chunks (W = LANES * MAXNC columns): the columns in groups of W, each
 * multiplied as above (every y[j] still sums its rows in order) */
#define FR_GEMV_T_WIDE(NAME, T)                                                         \
FR_GEMV_AVX512 static void NAME##_sw(int m, int n, int ld, const T *W, const T *x,      \
                                     T *y, int arg);                                    \
FR_GEMV_INLINE void NAME##_wide(int m, int n, int ld, const T *W, const T *x, T *y,    \
                                int beta, int w)                                        \
{                                                                                       \
    for (int j = 0; j < n; j += w)                                                      \
        NAME##_sw(m, n - j < w ? n - j : w, ld, W + j, x, y + j, beta);                 \
}
FR_GEMV_T_WIDE(fr_gemv_t_f, float)
FR_GEMV_T_WIDE(fr_gemv_t_d, double)
FR_GEMV_DISPATCH(fr_gemv_t_f, float, 16, FR_NC_CASES_7, 8, fr_gemv_t_f_wide)
FR_GEMV_DISPATCH(fr_gemv_t_d, double, 8, FR_NC_CASES_15, 16, fr_gemv_t_d_wide)

/* 1 when the kernels below multiply rows of n columns themselves */
static inline int fr_gemv_ok(int n)
{
    return fr_simd_isa == FR_SIMD_AVX512F && !fr_gemv_off && n > 0;
}

#define FR_GEMV_ENTRY(NAME, T)                                                          \
static inline int NAME(int m, int n, const T *W, const T *x, T *y, int arg)            \
{                                                                                       \
    if (!fr_gemv_ok(n) || m <= 0)                                                       \
        return 0;                                                                       \
    NAME##_avx512(m, n, W, x, y, arg);                                                  \
    return 1;                                                                           \
}

#else
static int fr_gemv_off = 0;

static inline int fr_gemv_ok(int n)
{
    (void)n; (void)fr_gemv_off;
    return 0;
}

#define FR_GEMV_ENTRY(NAME, T)                                                          \
static inline int NAME(int m, int n, const T *W, const T *x, T *y, int arg)            \
{                                                                                       \
    (void)m; (void)n; (void)W; (void)x; (void)y; (void)arg;                             \
    return 0;                                                                           \
}
#endif

/* The entry points: 1 after the product, or 0, y untouched, where the kernel does not
 * apply (the caller then calls BLAS).
 * fr_gemv_rows_*(m, n, W, x, y, rev): y[0:m] += W @ x for a row-major W (m, n), rows n
 *   apart, the row blocks last to first when rev;
 * fr_gemv_t_*(m, n, W, x, y, beta): y[0:n] = beta y + W^T x, beta 0 or 1. */
FR_GEMV_ENTRY(fr_gemv_rows_f, float)
FR_GEMV_ENTRY(fr_gemv_rows_d, double)
FR_GEMV_ENTRY(fr_gemv_t_f, float)
FR_GEMV_ENTRY(fr_gemv_t_d, double)

#endif
