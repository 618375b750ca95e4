/* Vectorisable element-wise math for the fastrnn kernels.
 *
 * Private; included through src_c/fastrnn/_math.pxd. Plain C so the compiler can
 * vectorise the loops; on x86-64 with GCC or clang each loop is compiled three times
 * (baseline SSE2, AVX2, AVX-512F: FR_ISA_FN) and the version of the level picked when
 * the module is loaded runs (fr_simd_isa in _platform.h: the best the CPU has, capped
 * by FASTRNN_SIMD, so that CI also tests the baseline code), so the extension stays
 * portable while using the machine's vector width. The module is compiled without
 * FMA contraction (-ffp-contract=off), so the updates round exactly as the C source
 * reads; only the transcendental functions (exp, tanh, sigmoid) may use fused
 * multiply-adds (see FR_CONTRACT_FAST_BEGIN below).
 *
 * Accuracy (float64, checked in tests/test_vecmath.py against math.tanh / math.exp):
 *   fr_exp:  |rel err| <= ~2 ulp on [-708, 709] (Cody-Waite reduction, degree-13 Taylor);
 *   fr_tanh: |rel err| <= ~2 ulp (Cephes rational form for |x| < 0.625,
 *            (1 - e^{-2|x|}) / (1 + e^{-2|x|}) otherwise).
 * float32: tanh computes in float64 with a shorter exp and rounds once (<= 0.5 float32
 *   ulp, fr_tanhf1); exp and sigmoid run in float32 arithmetic (fr_expf1, < 1 ulp), so
 *   their loops use twice the vector lanes.
 */
#ifndef FASTRNN_VECMATH_H
#define FASTRNN_VECMATH_H

#include <stdint.h>
#include <string.h>
#include <math.h>

#include "_platform.h"

/* FR_ISA_VARIANTS(NAME, PARAMS, body): the function body compiled per level,
 * NAME_base, NAME_avx2 and NAME_avx512f (never inlined, so each level's code is the
 * same wherever it is called from); FR_ISA_DISPATCH(NAME, PARAMS, ARGS): NAME, which
 * calls the variant of the level picked at load time; FR_ISA_FN: both. Without the
 * dispatch (another compiler or CPU family), NAME is the one plain function. */
#if FR_X86_DISPATCH
#define FR_ISA_VARIANTS(NAME, PARAMS, ...)                                              \
FR_TARGET_BASELINE static void NAME##_base PARAMS __VA_ARGS__                           \
FR_TARGET_AVX2 static void NAME##_avx2 PARAMS __VA_ARGS__                               \
FR_TARGET_AVX512F static void NAME##_avx512f PARAMS __VA_ARGS__
#define FR_ISA_DISPATCH(NAME, PARAMS, ARGS)                                             \
static inline void NAME PARAMS                                                          \
{                                                                                       \
    if (fr_simd_isa == FR_SIMD_AVX512F) NAME##_avx512f ARGS;                            \
    else if (fr_simd_isa == FR_SIMD_AVX2) NAME##_avx2 ARGS;                             \
    else NAME##_base ARGS;                                                              \
}
#else
#define FR_ISA_VARIANTS(NAME, PARAMS, ...) static void NAME PARAMS __VA_ARGS__
#define FR_ISA_DISPATCH(NAME, PARAMS, ARGS)
#endif
#define FR_ISA_FN(NAME, PARAMS, ARGS, ...)                                              \
    FR_ISA_VARIANTS(NAME, PARAMS, __VA_ARGS__) FR_ISA_DISPATCH(NAME, PARAMS, ARGS)

/* The instruction set the loops run with: the level picked at load time, and the
 * CPU's best (they differ when FASTRNN_SIMD caps it). */
static inline const char *fr_simd_level(void)
{
    return fr_simd_name(fr_simd_isa);
}

static inline const char *fr_simd_cpu_level(void)
{
    return fr_simd_name(fr_simd_cpu());
}

/* The transcendental functions below may contract a * b + c into fused multiply-adds
 * (the AVX-512F variants have FMA): faster and at least as accurate. The updates further
 * down (clip, SGD, the LSTM cell) keep the module-wide -ffp-contract=off, so they round
 * exactly as the NumPy twin does. The dispatchers of the loops in this region come
 * after it (with GCC, a function of other optimisation options is not inlined). */
FR_CONTRACT_FAST_BEGIN

/* Cody-Waite reduction of the float64 exps below: x = k ln2 + r with |r| <= ln2 / 2;
 * returns r and sets *ki to the integer k (in the low bits of a shifted double). */
static inline double fr_exp_reduce(double x, int64_t *ki)
{
    const double LOG2E = 1.4426950408889634074;
    const double LN2_HI = 6.93147180369123816490e-01;
    const double LN2_LO = 1.90821492927058770002e-10;
    const double SHIFT = 6755399441055744.0;          /* 1.5 * 2^52 */
    double kd = x * LOG2E + SHIFT;                    /* round(x / ln2) in the low bits */
    memcpy(ki, &kd, sizeof *ki);
    kd -= SHIFT;
    return (x - kd * LN2_HI) - kd * LN2_LO;
}

/* 2^k for the *ki of fr_exp_reduce */
static inline double fr_exp_scale(int64_t ki)
{
    const int64_t SHIFT_BITS = 0x4338000000000000LL;
    double scale;
    ki = ((ki - SHIFT_BITS) + 1023) << 52;
    memcpy(&scale, &ki, sizeof scale);
    return scale;
}

/* 1/k! for the Taylor polynomials of exp */
static const double FR_INV_FACT[14] = {
    1.0, 1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0,
    1.0 / 40320.0, 1.0 / 362880.0, 1.0 / 3628800.0, 1.0 / 39916800.0, 1.0 / 479001600.0,
    1.0 / 6227020800.0};

/* sum_{k <= deg} r^k / k!, Horner from the top (deg <= 13; a constant in every caller,
 * so the loop unrolls) */
static inline double fr_exp_taylor(double r, int deg)
{
    double p = FR_INV_FACT[deg];
    for (int k = deg - 1; k >= 0; k--)
        p = p * r + FR_INV_FACT[k];
    return p;
}

static inline double fr_exp1(double x)
{
    double r;
    int64_t ki;
    x = x < -708.0 ? -708.0 : x;                      /* exp(-708) ~ 3e-308: below it */
    x = x > 709.0 ? 709.0 : x;                        /* and above, saturate */
    r = fr_exp_reduce(x, &ki);                        /* |r| <= ln2 / 2 */
    return fr_exp_taylor(r, 13) * fr_exp_scale(ki);
}

/* float32 exp in float32 arithmetic (Cephes expf form: Cody-Waite reduction, degree-6
 * polynomial), |rel err| < 1 ulp on [-87.3, 88.3]; saturates outside. Used by the
 * float32 exp and sigmoid loops, which then run 16 lanes per AVX-512 vector. */
static inline float fr_expf1(float x)
{
    const float SHIFT = 12582912.0f;                  /* 1.5 * 2^23 */
    const int32_t SHIFT_BITS = 0x4B400000;
    float kf, r, z, p, scale;
    int32_t ki;
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    kf = x * 1.44269504088896341f + SHIFT;
    memcpy(&ki, &kf, sizeof ki);
    kf -= SHIFT;
    r = x - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    z = r * r;
    p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;
    ki = ((ki - SHIFT_BITS) + 127) << 23;             /* 2^k */
    memcpy(&scale, &ki, sizeof scale);
    return p * scale;
}

static inline float fr_sigmoidf1(float x)
{
    float e = fr_expf1(-fabsf(x));
    return (x >= 0 ? 1.0f : e) / (1.0f + e);
}

static inline double fr_tanh1(double x)
{
    const double P0 = -9.64399179425052238628e-1, P1 = -9.92877231001918586564e1,
                 P2 = -1.61468768441708447952e3;
    const double Q0 = 1.12811678491632931402e2, Q1 = 2.23548839060100448583e3,
                 Q2 = 4.84406305325125486048e3;
    double ax = fabs(x), s = x * x, p, q, t, num, den, r;
    int small = ax < 0.625;
    p = (P0 * s + P1) * s + P2;
    q = ((s + Q0) * s + Q1) * s + Q2;
    t = fr_exp1(-2.0 * ax);
    /* one division for both forms: x (1 + s p / q) and (1 - t) / (1 + t) */
    num = small ? s * p : 1.0 - t;
    den = small ? q : 1.0 + t;
    r = num / den;
    return small ? x * (1.0 + r) : copysign(r, x);   /* keeps the sign of -0.0 */
}

static inline double fr_sigmoid1(double x)
{
    double e = fr_exp1(-fabs(x));                     /* never overflows */
    return (x >= 0 ? 1.0 : e) / (1.0 + e);
}

/* float32 tanh in float64 arithmetic, to float32 precision: (1 - t) / (1 + t) with
 * t = e^{-2|x|} from a degree-9 Taylor exp (|rel err| ~ 1e-11 on the reduced range), and
 * tanh(x) = x for |x| < 2^-13 (where x^3/3 is below half a float32 ulp of x). Near 0 the
 * cancellation in 1 - t costs ~ 2^-53 / (2|x|) <= 2^-41 relative. Checked over every
 * float32 |x| < 20: |err| <= 0.5 float32 ulp of tanh(x), as correctly rounded as the
 * full float64 tanh it replaces, at 1.6x its speed (no rational branch, 4 fewer terms). */
static inline float fr_tanhf1(float xf)
{
    double x = xf, ax = fabs(x), y, r, t;
    int64_t ki;
    y = -2.0 * ax;
    y = y < -708.0 ? -708.0 : y;                      /* t underflows to ~3e-308: 1 - t = 1 */
    r = fr_exp_reduce(y, &ki);
    t = fr_exp_taylor(r, 9) * fr_exp_scale(ki);
    r = copysign((1.0 - t) / (1.0 + t), x);          /* keeps the sign; NaN stays NaN */
    return (float)(ax < 0x1p-13 ? x : r);
}

/* The loops below: x[i] = F(x[i] - m) (m = 0 for tanh and sigmoid). GCC vectorises the
 * loop and finishes the last n % (vector length) entries in scalar code, which may
 * contract the polynomials into fused multiply-adds differently: an entry's bits can
 * depend on whether it falls in the tail. Splitting a call at a multiple of 16 entries
 * leaves every entry on the same side (the LSTM sampler's two threads rely on it;
 * tests/test_vecmath.py checks it). */
#define FR_MAP(NAME, T, F)                                                              \
FR_ISA_VARIANTS(NAME, (T *x, Py_ssize_t n, T m),                                        \
{                                                                                       \
    for (Py_ssize_t i = 0; i < n; i++) x[i] = F(x[i] - m);                              \
})
FR_MAP(fr_expm_d, double, fr_exp1)
FR_MAP(fr_expm_f, float, fr_expf1)

/* x[i] = tanh(x[i]), x[i] = sigmoid(x[i]) */
#define FR_MAP0(NAME, T, F)                                                             \
FR_ISA_VARIANTS(NAME, (T *x, Py_ssize_t n),                                             \
{                                                                                       \
    for (Py_ssize_t i = 0; i < n; i++) x[i] = F(x[i]);                                  \
})
FR_MAP0(fr_tanh_d, double, fr_tanh1)
FR_MAP0(fr_tanh_f, float, fr_tanhf1)
FR_MAP0(fr_sigmoid_d, double, fr_sigmoid1)
FR_MAP0(fr_sigmoid_f, float, fr_sigmoidf1)

FR_CONTRACT_FAST_END

FR_ISA_DISPATCH(fr_expm_d, (double *x, Py_ssize_t n, double m), (x, n, m))
FR_ISA_DISPATCH(fr_expm_f, (float *x, Py_ssize_t n, float m), (x, n, m))
FR_ISA_DISPATCH(fr_tanh_d, (double *x, Py_ssize_t n), (x, n))
FR_ISA_DISPATCH(fr_tanh_f, (float *x, Py_ssize_t n), (x, n))
FR_ISA_DISPATCH(fr_sigmoid_d, (double *x, Py_ssize_t n), (x, n))
FR_ISA_DISPATCH(fr_sigmoid_f, (float *x, Py_ssize_t n), (x, n))

/* One LSTM cell step for one batch row, units [0, n) of gate blocks [f, i, c, o] that
 * start S apart in g (S = H for a whole row; S = H, n < H for a slice of the units, g,
 * c_prev, c, a and tc then pointing at the slice's first unit):
 *   g <- [sigmoid(z_f), sigmoid(z_i), tanh(z_c), sigmoid(z_o)]   (in place)
 *   c = f * c_prev + i * cc;   a = o * tanh(c);   tc = tanh(c) when tc is not NULL
 * (kept for the backward pass). c_prev must not overlap c, a or tc. Compiled per ISA
 * like the loops it calls, so that its own two loops use the wide vectors too (they
 * keep -ffp-contract=off: the same bits on every ISA's clone).                        */
#define FR_LSTM_GATES(NAME, T, SIG, TANH)                                              \
FR_ISA_FN(NAME, (T *g, Py_ssize_t S, const T *FR_RESTRICT c_prev, T *FR_RESTRICT c,     \
                 T *a, T *tc, Py_ssize_t n), (g, S, c_prev, c, a, tc, n),               \
{                                                                                       \
    const T *FR_RESTRICT f = g, *FR_RESTRICT i = g + S, *FR_RESTRICT cc = g + 2 * S;    \
    const T *FR_RESTRICT o = g + 3 * S;                                                 \
    SIG(g, n);                   /* one call per gate: see FR_MAP on splitting */       \
    SIG(g + S, n);                                                                      \
    TANH(g + 2 * S, n);                                                                 \
    SIG(g + 3 * S, n);                                                                  \
    T *t = tc ? tc : a;                 /* where tanh(c) is formed (may be a itself) */  \
    for (Py_ssize_t j = 0; j < n; j++) {                                                \
        T cn = f[j] * c_prev[j] + i[j] * cc[j];                                         \
        c[j] = cn;                                                                      \
        t[j] = cn;                                                                      \
    }                                                                                   \
    TANH(t, n);                                                                         \
    for (Py_ssize_t j = 0; j < n; j++) a[j] = o[j] * t[j];                              \
})
FR_LSTM_GATES(fr_lstm_gates_d, double, fr_sigmoid_d, fr_tanh_d)
FR_LSTM_GATES(fr_lstm_gates_f, float, fr_sigmoid_f, fr_tanh_f)

/* One LSTM cell's backward for one batch row (the loop of _bptt in _lstm.pyx), units
 * [0, n) of gate blocks S apart (as in FR_LSTM_GATES).
 * On entry g holds the activated gates [f, i, cc, o], da (n) the gradient on a_t,
 * tc (n) tanh(c_t), cp (n) c_{t-1}, dc (n) the gradient on c_t from step t+1. On return
 * g holds [dz_f, dz_i, dz_c, dz_o] and dc the gradient on c_{t-1}. Products are formed
 * left to right as written, without contraction (this part keeps -ffp-contract=off).  */
#define FR_LSTM_GATES_BWD(NAME, T)                                                      \
FR_ISA_FN(NAME, (T *FR_RESTRICT g, Py_ssize_t S, const T *FR_RESTRICT da,               \
                 const T *FR_RESTRICT tc, const T *FR_RESTRICT cp, T *FR_RESTRICT dc,   \
                 Py_ssize_t n), (g, S, da, tc, cp, dc, n),                              \
{                                                                                       \
    T *FR_RESTRICT gf = g, *FR_RESTRICT gi = g + S, *FR_RESTRICT gc = g + 2 * S;        \
    T *FR_RESTRICT go = g + 3 * S;                                                      \
    for (Py_ssize_t j = 0; j < n; j++) {                                                \
        T f = gf[j], i = gi[j], cc = gc[j], o = go[j], t = tc[j], d = da[j];            \
        T dcv = dc[j] + d * o * (1 - t * t);                                            \
        go[j] = d * t * o * (1 - o);                                                    \
        gc[j] = dcv * i * (1 - cc * cc);                                                \
        gi[j] = dcv * cc * i * (1 - i);                                                 \
        gf[j] = dcv * cp[j] * f * (1 - f);                                              \
        dc[j] = dcv * f;                                                                \
    }                                                                                   \
})
FR_LSTM_GATES_BWD(fr_lstm_gates_bwd_d, double)
FR_LSTM_GATES_BWD(fr_lstm_gates_bwd_f, float)

/* g[i] = clip(g[i], -m, m) (NaN stays NaN, like np.clip) */
#define FR_CLIP(NAME, T)                                                                \
FR_ISA_FN(NAME, (T *g, Py_ssize_t n, T m), (g, n, m),                                   \
{                                                                                       \
    for (Py_ssize_t i = 0; i < n; i++) {                                                \
        T v = g[i];                                                                     \
        v = v > m ? m : v;                                                              \
        g[i] = v < -m ? -m : v;                                                         \
    }                                                                                   \
})
FR_CLIP(fr_clip_d, double)
FR_CLIP(fr_clip_f, float)

/* Fused clip (when m > 0) and SGD: g = clip(g); p = p + (-lr) * g (the course's update) */
#define FR_CLIP_SGD(NAME, T)                                                            \
FR_ISA_FN(NAME, (T *p, T *g, Py_ssize_t n, T m, T lr), (p, g, n, m, lr),                \
{                                                                                       \
    const T nlr = -lr;                                                                  \
    if (m > 0) {                                                                        \
        for (Py_ssize_t i = 0; i < n; i++) {                                            \
            T v = g[i];                                                                 \
            v = v > m ? m : v;                                                          \
            v = v < -m ? -m : v;                                                        \
            g[i] = v;                                                                   \
            p[i] = p[i] + nlr * v;                                                      \
        }                                                                               \
    } else {                                                                            \
        for (Py_ssize_t i = 0; i < n; i++) p[i] = p[i] + nlr * g[i];                    \
    }                                                                                   \
})
FR_CLIP_SGD(fr_clip_sgd_d, double)
FR_CLIP_SGD(fr_clip_sgd_f, float)

#endif
