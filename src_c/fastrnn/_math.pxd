# cython: language_level=3
"""Inline scalar math for the kernels: dtype-matched exp/tanh/log, stable sigmoid.

Private; cimported by ``fastrnn._rnn``, ``fastrnn._lstm`` and ``fastrnn._ops``.
"""

from cython cimport floating
from libc.math cimport exp, expf, tanh, tanhf, log, logf, sqrt, sqrtf


cdef inline floating fexp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating ftanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating flog(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating fsqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating sigmoid(floating x) noexcept nogil:
    """Stable logistic: never overflows exp."""
    cdef floating e
    if x >= 0:
        return 1 / (1 + fexp(-x))
    e = fexp(x)
    return e / (1 + e)


cdef extern from "_vecmath.h" nogil:
    void fr_tanh_d(double* x, Py_ssize_t n)
    void fr_tanh_f(float* x, Py_ssize_t n)
    void fr_expm_d(double* x, Py_ssize_t n, double m)
    void fr_expm_f(float* x, Py_ssize_t n, float m)
    void fr_sigmoid_d(double* x, Py_ssize_t n)
    void fr_sigmoid_f(float* x, Py_ssize_t n)
    void fr_lstm_gates_d(double* g, Py_ssize_t S, const double* c_prev, double* c,
                         double* a, double* tc, Py_ssize_t n)
    void fr_lstm_gates_f(float* g, Py_ssize_t S, const float* c_prev, float* c, float* a,
                         float* tc, Py_ssize_t n)
    void fr_lstm_gates_bwd_d(double* g, Py_ssize_t S, const double* da, const double* tc,
                             const double* cp, double* dc, Py_ssize_t n)
    void fr_lstm_gates_bwd_f(float* g, Py_ssize_t S, const float* da, const float* tc,
                             const float* cp, float* dc, Py_ssize_t n)
    void fr_clip_d(double* g, Py_ssize_t n, double m)
    void fr_clip_f(float* g, Py_ssize_t n, float m)
    void fr_clip_sgd_d(double* p, double* g, Py_ssize_t n, double m, double lr)
    void fr_clip_sgd_f(float* p, float* g, Py_ssize_t n, float m, float lr)


cdef inline void vtanh(floating* x, Py_ssize_t n) noexcept nogil:
    """``x[i] = tanh(x[i])`` in place, vectorised (see _vecmath.h for the accuracy)."""
    if floating is float:
        fr_tanh_f(x, n)
    else:
        fr_tanh_d(x, n)


cdef inline void vsigmoid(floating* x, Py_ssize_t n) noexcept nogil:
    """``x[i] = sigmoid(x[i])`` in place, vectorised."""
    if floating is float:
        fr_sigmoid_f(x, n)
    else:
        fr_sigmoid_d(x, n)


cdef inline void vexpm(floating* x, Py_ssize_t n, floating m) noexcept nogil:
    """``x[i] = exp(x[i] - m)`` in place, vectorised."""
    if floating is float:
        fr_expm_f(x, n, m)
    else:
        fr_expm_d(x, n, m)


cdef inline void vclip(floating* g, Py_ssize_t n, floating m) noexcept nogil:
    """``g = clip(g, -m, m)`` in place, vectorised."""
    if floating is float:
        fr_clip_f(g, n, m)
    else:
        fr_clip_d(g, n, m)


cdef inline void vclip_sgd(floating* p, floating* g, Py_ssize_t n, floating m,
                           floating lr) noexcept nogil:
    """Clip ``g`` to [-m, m] when ``m > 0`` (in place) and apply ``p += -lr * g``."""
    if floating is float:
        fr_clip_sgd_f(p, g, n, m, lr)
    else:
        fr_clip_sgd_d(p, g, n, m, lr)


cdef inline void lstm_gates(floating* g, const floating* c_prev, floating* c, floating* a,
                            Py_ssize_t H, floating* tc=NULL, Py_ssize_t S=0) noexcept nogil:
    """One LSTM cell step for one row, vectorised: activates the gate blocks [f, i, c, o]
    of ``g`` in place, ``c = f * c_prev + i * cc``, ``a = o * tanh(c)``; also
    ``tc = tanh(c)`` when ``tc`` is not NULL. ``H`` units; the gate blocks start ``S``
    apart (``S = 0``: ``H``, a whole row; else a slice of the units of a row of width
    4S, all pointers at the slice's first unit)."""
    if floating is float:
        fr_lstm_gates_f(g, S if S else H, c_prev, c, a, tc, H)
    else:
        fr_lstm_gates_d(g, S if S else H, c_prev, c, a, tc, H)


cdef inline void lstm_gates_bwd(floating* g, const floating* da, const floating* tc,
                                const floating* cp, floating* dc, Py_ssize_t H,
                                Py_ssize_t S=0) noexcept nogil:
    """One LSTM cell's backward for one row, vectorised: the activated gates of ``g``
    become ``dz`` in place and the cell-state carry ``dc`` moves one step back, given
    ``da`` = dL/da_t, ``tc`` = tanh(c_t) and ``cp`` = c_{t-1} (see _vecmath.h); ``H``
    units, gate blocks ``S`` apart as in :func:`lstm_gates`."""
    if floating is float:
        fr_lstm_gates_bwd_f(g, S if S else H, da, tc, cp, dc, H)
    else:
        fr_lstm_gates_bwd_d(g, S if S else H, da, tc, cp, dc, H)
