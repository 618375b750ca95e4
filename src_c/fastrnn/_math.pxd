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
