"""Compiled output layer, clipping, optimizer updates and the sampling pick.

Private. Reached through ``fastrnn._ext.kernels()``; the NumPy twin is
``fastrnn.reference._ops`` (same functions, same signatures). Inputs are checked
here (shapes, index ranges) before any nogil code runs; dtype and contiguity are
enforced by the typed memoryviews.
"""

from cython cimport floating
from libc.math cimport sqrt
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free

import numpy as np

from fastrnn._common cimport softmax_xent_core, clip_core, sgd_core, sample_pick
from fastrnn._math cimport vexpm, vsigmoid, vtanh
from fastrnn._blas cimport fr_gemv_off, gemv, gemv_rows, gemv_rows_own, gemv_t_rows


cdef _check_targets(const int64_t[:, ::1] Y, Py_ssize_t V, str name):
    cdef Py_ssize_t i, j
    cdef int64_t v
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            v = Y[i, j]
            if v < -1 or v >= V:
                raise ValueError(f"{name}[{i}, {j}] = {v} is outside [-1, {V - 1}]")


cdef _check_output_layer(const floating[:, :, ::1] A, const floating[:, ::1] Wya,
                         const floating[::1] by, const int64_t[:, ::1] Y,
                         const floating[:, :, ::1] P):
    T, B, H = A.shape[0], A.shape[1], A.shape[2]
    V = Wya.shape[0]
    if V < 1 or H < 1:
        raise ValueError(f"the output size Y ({V}) and the hidden size H ({H}) must be >= 1")
    if Wya.shape[1] != H:
        raise ValueError(f"Wya must have shape (Y, {H}), got {tuple(Wya.shape)}")
    if by.shape[0] != V:
        raise ValueError(f"by must have shape ({V},), got {tuple(by.shape)}")
    if Y.shape[0] != T or Y.shape[1] != B:
        raise ValueError(f"Y must have shape ({T}, {B}), got {tuple(Y.shape)}")
    if P.shape[0] != T or P.shape[1] != B or P.shape[2] != V:
        raise ValueError(f"P must have shape ({T}, {B}, {V}), got {tuple(P.shape)}")


def softmax_xent_forward(const floating[:, :, ::1] A, const floating[:, ::1] Wya,
                         const floating[::1] by, const int64_t[:, ::1] Y,
                         floating[:, :, ::1] P):
    """Softmax output layer and summed cross-entropy (see fastrnn.reference.softmax_xent_forward).

    A IN (T, B, H); Wya IN (Y, H); by IN (Y,); Y IN (T, B) int64 (-1 = masked);
    P OUT (T, B, Y) probabilities. Returns the summed loss.
    """
    _check_output_layer(A, Wya, by, Y, P)
    _check_targets(Y, Wya.shape[0], "Y")
    cdef int N = A.shape[0] * A.shape[1], H = A.shape[2], V = Wya.shape[0]
    cdef double loss
    if N == 0:
        return 0.0
    with nogil:
        loss = softmax_xent_core(N, H, V, &A[0, 0, 0], &Wya[0, 0], &by[0], &Y[0, 0],
                                 &P[0, 0, 0], False, <floating*>NULL, <floating*>NULL,
                                 <floating*>NULL)
    return loss


def softmax_xent(const floating[:, :, ::1] A, const floating[:, ::1] Wya,
                 const floating[::1] by, const int64_t[:, ::1] Y,
                 floating[:, :, ::1] P, floating[:, ::1] dWya, floating[::1] dby,
                 floating[:, :, ::1] dA):
    """Fused forward + backward of the output layer (see fastrnn.reference.softmax_xent).

    P OUT (T, B, Y) holds ``dz`` on return; dWya (Y, H), dby (Y,), dA (T, B, H)
    are accumulated. Returns the summed loss.
    """
    _check_output_layer(A, Wya, by, Y, P)
    _check_targets(Y, Wya.shape[0], "Y")
    if ((dWya.shape[0], dWya.shape[1])) != ((Wya.shape[0], Wya.shape[1])) or dby.shape[0] != by.shape[0]:
        raise ValueError("dWya/dby must have the shapes of Wya/by")
    if ((dA.shape[0], dA.shape[1], dA.shape[2])) != ((A.shape[0], A.shape[1], A.shape[2])):
        raise ValueError(f"dA must have shape {((A.shape[0], A.shape[1], A.shape[2]))}, got {((dA.shape[0], dA.shape[1], dA.shape[2]))}")
    cdef int N = A.shape[0] * A.shape[1], H = A.shape[2], V = Wya.shape[0]
    cdef double loss
    if N == 0:
        return 0.0
    with nogil:
        loss = softmax_xent_core(N, H, V, &A[0, 0, 0], &Wya[0, 0], &by[0], &Y[0, 0],
                                 &P[0, 0, 0], True, &dWya[0, 0], &dby[0], &dA[0, 0, 0])
    return loss



def _clip_one(floating[::1] g, double max_value):
    with nogil:
        clip_core(&g[0], g.shape[0], <floating>max_value)


def clip_(arrays, max_value):
    """Clip every (C-contiguous float) array of the sequence in place to [-max_value, max_value]."""
    cdef double m = max_value
    for g in arrays:
        if g.size:
            _clip_one(g.reshape(-1), m)


def _sumsq(const floating[::1] g):
    cdef double s = 0
    cdef Py_ssize_t i
    with nogil:
        for i in range(g.shape[0]):
            s += <double>g[i] * <double>g[i]
    return s


def global_norm(arrays):
    """``sqrt(sum_k sum(g_k ** 2))`` over a sequence of arrays (accumulated in float64)."""
    cdef double s = 0
    for g in arrays:
        if g.size:
            s += _sumsq(g.reshape(-1))
    return sqrt(s)


def _scale_one(floating[::1] g, double factor):
    cdef Py_ssize_t i
    cdef floating f = <floating>factor
    with nogil:
        for i in range(g.shape[0]):
            g[i] = g[i] * f


def scale_(arrays, factor):
    """Multiply every array of the sequence in place by ``factor``."""
    for g in arrays:
        if g.size:
            _scale_one(g.reshape(-1), float(factor))


def _sgd_one(floating[::1] p, const floating[::1] g, double lr):
    if p.shape[0] != g.shape[0]:
        raise ValueError(f"parameter and gradient sizes differ ({p.shape[0]} != {g.shape[0]})")
    with nogil:
        sgd_core(&p[0], &g[0], p.shape[0], <floating>lr)


def sgd_update_(params, grads, lr):
    """Plain SGD in place: ``p += -lr * g`` for each (parameter, gradient) pair."""
    for p, g in zip(params, grads, strict=True):
        if p.size:
            _sgd_one(p.reshape(-1), g.reshape(-1), float(lr))


def _adam_one(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
              double lr, double beta1, double beta2, double eps, double c1, double c2):
    cdef Py_ssize_t i, n = p.shape[0]
    if g.shape[0] != n or m.shape[0] != n or v.shape[0] != n:
        raise ValueError("Adam: parameter, gradient and moment sizes differ")
    cdef floating b1 = <floating>beta1, b2 = <floating>beta2, ob1 = <floating>(1.0 - beta1)
    cdef floating ob2 = <floating>(1.0 - beta2), flr = <floating>lr, feps = <floating>eps
    cdef floating fc1 = <floating>c1, fc2 = <floating>c2, gi
    with nogil:
        for i in range(n):
            gi = g[i]
            m[i] = m[i] * b1 + ob1 * gi
            v[i] = v[i] * b2 + ob2 * gi * gi
            p[i] = p[i] - flr * (m[i] / fc1) / (_sqrt(v[i] / fc2) + feps)


cdef inline floating _sqrt(floating x) noexcept nogil:
    return <floating>sqrt(x)


def adam_update_(params, grads, ms, vs, lr, beta1, beta2, eps, t):
    """Adam in place, bias-corrected at step ``t >= 1`` (see fastrnn.reference.adam_update_)."""
    c1 = 1.0 - beta1 ** t
    c2 = 1.0 - beta2 ** t
    for p, g, m, v in zip(params, grads, ms, vs, strict=True):
        if p.size:
            _adam_one(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                      float(lr), float(beta1), float(beta2), float(eps), c1, c2)


def _adagrad_one(floating[::1] p, const floating[::1] g, floating[::1] mem, double lr,
                 double eps):
    cdef Py_ssize_t i, n = p.shape[0]
    if g.shape[0] != n or mem.shape[0] != n:
        raise ValueError("Adagrad: parameter, gradient and memory sizes differ")
    cdef floating flr = <floating>lr, feps = <floating>eps, gi
    with nogil:
        for i in range(n):
            gi = g[i]
            mem[i] = mem[i] + gi * gi
            p[i] = p[i] - flr * gi / _sqrt(mem[i] + feps)


def adagrad_update_(params, grads, mems, lr, eps):
    """Adagrad in place: ``mem += g^2``; ``p -= lr * g / sqrt(mem + eps)``."""
    for p, g, mem in zip(params, grads, mems, strict=True):
        if p.size:
            _adagrad_one(p.reshape(-1), g.reshape(-1), mem.reshape(-1), float(lr), float(eps))


def pick_index(p, double u):
    """Inverse-CDF pick exactly as ``np.random.choice(len(p), p=p)`` after it drew ``u``."""
    cdef const double[::1] pv = np.ascontiguousarray(p, dtype=np.float64)
    cdef Py_ssize_t k, V = pv.shape[0]
    cdef double c = 0, total = 0
    if V == 0:
        raise ValueError("p is empty")
    for k in range(V):
        total += pv[k]
    for k in range(V):
        c += pv[k]
        if c / total > u:
            return k
    return V - 1


cdef extern from "_vecmath.h" nogil:
    const char* fr_simd_level()
    const char* fr_simd_cpu_level()

cdef extern from *:
    int FASTRNN_DEBUG

DEBUG_BUILD = bool(FASTRNN_DEBUG)


def simd_level():
    """The vector instruction set the element-wise loops (and, at ``"avx512f"``, the
    row products of ``_gemv.h``) run with: the level picked when the module was loaded,
    the CPU's best unless ``FASTRNN_SIMD`` capped it."""
    return fr_simd_level().decode()


def cpu_simd_level():
    """The best vector instruction set of this CPU that the kernels have code for."""
    return fr_simd_cpu_level().decode()


def debug_build():
    """True when compiled with FASTRNN_DEBUG_CYTHON=1 (bounds checking on)."""
    return DEBUG_BUILD


def _vec_tanh(floating[::1] x):
    """Test hook: the kernels' vectorised tanh, in place."""
    if x.shape[0]:
        with nogil:
            vtanh(&x[0], x.shape[0])


def _vec_exp(floating[::1] x):
    """Test hook: the kernels' vectorised exp, in place."""
    if x.shape[0]:
        with nogil:
            vexpm(&x[0], x.shape[0], 0)


def _vec_sigmoid(floating[::1] x):
    """Test hook: the kernels' vectorised sigmoid, in place."""
    if x.shape[0]:
        with nogil:
            vsigmoid(&x[0], x.shape[0])


def _gemv_loop(const floating[:, ::1] W, const floating[::1] x, floating[::1] y,
               Py_ssize_t reps, bint own=False):
    """Benchmark hook (``benches/roofline.py``): ``reps`` times ``y = W @ x`` through the
    kernels' row-major BLAS shim, or (``own``) ``y += W @ x`` through their row product
    (``gemv_rows``: ``_gemv.h`` where it applies), the GIL released. Returns nothing."""
    cdef int M = <int>W.shape[0], N = <int>W.shape[1]
    cdef Py_ssize_t r
    if x.shape[0] != N or y.shape[0] != M:
        raise ValueError(f"x must have shape ({N},) and y ({M},), got {x.shape[0]}, "
                         f"{y.shape[0]}")
    if M == 0 or N == 0 or reps <= 0:
        return
    with nogil:
        for r in range(reps):
            if own:
                gemv_rows(M, N, &W[0, 0], &x[0], &y[0], r & 1)
            else:
                gemv(False, M, N, 1, &W[0, 0], N, &x[0], 0, &y[0])


def _row_product(const floating[:, ::1] W, const floating[::1] x, floating[::1] y,
                 bint trans=False, bint rev=False, double beta=1, bint blas=False):
    """Test hook: the kernels' row products, ``y += W @ x`` (``gemv_rows``; row blocks
    last to first when ``rev``) or, ``trans``, ``y = beta * y + W.T @ x``
    (``gemv_t_rows``), through BLAS when ``blas``. Returns True when ``_gemv.h``
    multiplied, False for BLAS."""
    global fr_gemv_off
    cdef int M = <int>W.shape[0], N = <int>W.shape[1]
    cdef bint own
    if x.shape[0] != (M if trans else N) or y.shape[0] != (N if trans else M):
        raise ValueError(f"x and y do not fit W {W.shape[0], W.shape[1]} (trans={trans}): "
                         f"{x.shape[0]}, {y.shape[0]}")
    if M == 0 or N == 0:
        return False
    old = fr_gemv_off
    fr_gemv_off = 1 if blas else 0
    try:
        own = gemv_rows_own(N) and (not trans or beta == 0 or beta == 1)
        with nogil:
            if trans:
                gemv_t_rows(M, N, &W[0, 0], &x[0], <floating>beta, &y[0])
            else:
                gemv_rows(M, N, &W[0, 0], &x[0], &y[0], rev)
    finally:
        fr_gemv_off = old
    return own


def index_bounds(const int64_t[::1] v):
    """``(min, max)`` of a 1-D int64 array in one pass (the range check of the public
    API's index validation); ``v`` must not be empty."""
    cdef Py_ssize_t n = v.shape[0], i
    if n == 0:
        raise ValueError("index_bounds: the array is empty")
    cdef int64_t lo = v[0], hi = v[0], x
    with nogil:
        for i in range(1, n):
            x = v[i]
            if x < lo:
                lo = x
            if x > hi:
                hi = x
    return lo, hi


cdef inline bint _nonfinite_bits32(const uint32_t* u, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint32_t bad = 0
    for i in range(n):       # exponent all ones: inf or NaN (integer ops: vectorised)
        bad |= <uint32_t>((u[i] & 0x7f800000u) == 0x7f800000u)
    return bad != 0


cdef inline bint _nonfinite_bits64(const uint64_t* u, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint64_t bad = 0
    for i in range(n):
        bad |= <uint64_t>((u[i] & 0x7ff0000000000000u) == 0x7ff0000000000000u)
    return bad != 0


def all_finite(arrays):
    """True when no array of the sequence (C-contiguous float32/float64) holds NaN or
    infinity: one pass over the exponent bits of each (the public API's finiteness
    check of parameters and gradients). Dispatched by hand: a fused ``def`` costs
    microseconds per call in signature matching."""
    cdef const float[::1] f
    cdef const double[::1] d
    cdef bint bad = False
    for a in arrays:
        if not a.size:
            continue
        if a.dtype == np.float32:
            f = a.reshape(-1)
            with nogil:
                bad = _nonfinite_bits32(<const uint32_t*>&f[0], f.shape[0])
        else:
            d = a.reshape(-1)
            with nogil:
                bad = _nonfinite_bits64(<const uint64_t*>&d[0], d.shape[0])
        if bad:
            return False
    return True
