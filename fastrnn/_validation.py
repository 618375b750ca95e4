"""Guards run before every kernel call: dtype, shape, contiguity, index range, finiteness.

Private. Called by the public API (``fastrnn.models``, ``fastrnn.course``, ...). Every
check raises ``TypeError`` (wrong kind of object or dtype) or ``ValueError`` (wrong
shape, range, value) naming the argument, what was expected and what was given, so
that no bad input ever reaches nogil code.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable

import numpy as np

_index_bounds: Callable[[np.ndarray], tuple[int, int]] | None
try:  # one C pass for (min, max) of an index array; NumPy's two reductions otherwise
    from fastrnn._ops import index_bounds as _index_bounds
except ImportError:  # pragma: no cover - without the compiled modules
    _index_bounds = None
try:  # one C pass over the exponent bits; NumPy's sums otherwise
    from fastrnn._ops import all_finite as _all_finite
except ImportError:  # pragma: no cover - without the compiled modules (or an older build)
    _all_finite = None  # type: ignore[assignment]


def _bounds(arr):
    """``(min, max)`` of a non-empty C-contiguous int64 array as Python ints."""
    if _index_bounds is not None:
        return _index_bounds(arr.reshape(-1))
    return int(arr.min()), int(arr.max())

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
INDEX_DTYPE = np.dtype(np.int64)


def as_dtype(dtype, name="dtype"):
    """Normalise ``dtype`` to ``np.float32`` or ``np.float64`` (TypeError otherwise)."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return dt


def float_array(a, name, dtype=None, shape=None, ndim=None, finite=True, copy=False):
    """Return ``a`` as a C-contiguous float array of ``dtype`` after checking it.

    Parameters
    ----------
    a : array_like
    name : str, the argument name used in error messages.
    dtype : target dtype (float32/float64) or None to keep a float dtype of ``a``
        (non-float input is converted to float64).
    shape : tuple of int or None (None entries match anything).
    ndim : int or None.
    finite : bool, reject NaN and infinity.
    copy : bool, always return a new array.
    """
    if (type(a) is np.ndarray and not copy and dtype is not None and a.flags.c_contiguous
            and a.dtype == dtype and a.dtype in FLOAT_DTYPES
            and (ndim is None or a.ndim == ndim)
            and (shape is None or (a.ndim == len(shape) and all(
                s is None or s == d for s, d in zip(shape, a.shape))))):
        # the common case (an array already as wanted), ~1 us instead of ~4: every check
        # below holds but finiteness, which one C pass tests
        if finite and a.size and not all_finite((a,)):
            raise ValueError(f"{name} contains NaN or infinity")
        return a
    if a is None:
        raise TypeError(f"{name} must be an array, got None")
    if isinstance(a, (str, bytes, dict)):
        raise TypeError(f"{name} must be an array of numbers, got {type(a).__name__}")
    arr = np.asarray(a)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if dtype is None:
        dt = arr.dtype if arr.dtype in FLOAT_DTYPES else np.dtype(np.float64)
    else:
        dt = as_dtype(dtype)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, arr.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    out = np.array(arr, dtype=dt, order="C", copy=True) if copy else np.ascontiguousarray(arr, dtype=dt)
    if finite and out.size and not np.isfinite(out).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return out


def index_array(a, name, high, ndim=None, allow_none=True, low=-1):
    """Return ``a`` as a C-contiguous int64 array with ``low <= a < high``.

    ``None`` entries of a list (the course's ``X[0] = None``) become -1 when
    ``allow_none``. Floats that are whole numbers are not accepted: indices must
    be integers (``TypeError``).
    """
    if type(a) is np.ndarray and a.dtype == INDEX_DTYPE and a.flags.c_contiguous and a.size \
            and (ndim is None or a.ndim == ndim):
        # fast path: already int64 and contiguous; only the range is checked
        lo, hi = _bounds(a)
        if lo >= low and hi < high:
            return a
        _range_error(name, lo if lo < low else hi, low, high)
    if a is None:
        raise TypeError(f"{name} must be a sequence of integer indices, got None")
    if isinstance(a, (list, tuple)):
        if allow_none:
            a = [-1 if v is None else v for v in a]
        for v in a:
            if isinstance(v, (list, tuple, np.ndarray)):
                break
            if not isinstance(v, (numbers.Integral, np.integer)) or isinstance(v, bool):
                raise TypeError(f"{name} must hold integer indices, got {type(v).__name__} {v!r}")
            if not low <= v < high:      # before NumPy wraps or rejects a huge int
                _range_error(name, int(v), low, high)
    try:
        arr = np.asarray(a)
    except (ValueError, OverflowError) as exc:     # ragged nesting, ints beyond int64
        raise ValueError(f"{name} must be a rectangular sequence of indices ({exc})") from None
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer indices, got dtype {arr.dtype}")
    if arr.size and arr.dtype.kind == "u" and arr.max() >= high:   # uint64 would wrap
        _range_error(name, int(arr.max()), low, high)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: a sequence needs at least one time step")
    arr = np.ascontiguousarray(arr, dtype=INDEX_DTYPE)
    lo, hi = _bounds(arr)
    if lo < low or hi >= high:
        _range_error(name, lo if lo < low else hi, low, high)
    return arr


def _range_error(name, bad, low, high):
    raise ValueError(f"{name} holds index {bad}, outside [{low}, {high - 1}]"
                     + (" (-1 means no input)" if low == -1 else ""))


def index_int(v, name, low, high):
    """One integer index ``v`` with ``low <= v < high`` (TypeError for non-integers)."""
    if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}")
    v = int(v)
    if not low <= v < high:
        raise ValueError(f"{name} must be in [{low}, {high - 1}], got {v}")
    return v


def positive_int(v, name, minimum=1, maximum=None):
    """``v`` as an int in ``[minimum, maximum]`` (TypeError for non-integers, ValueError
    outside)."""
    if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}")
    v = int(v)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {v}")
    return v


def finite_float(v, name, minimum=None, strict=False, dtype=None):
    """``v`` as a finite float, optionally ``> minimum`` (strict) or ``>= minimum``.

    With ``dtype`` (float32/float64), ``v`` must also survive the cast to it: a value
    that rounds to infinity, or a non-zero value that rounds to zero, is a ValueError
    (the kernels compute in that dtype, so it would silently mean something else).
    """
    if type(v) is not float and (isinstance(v, bool) or not isinstance(
            v, (numbers.Real, np.floating, np.integer))):
        raise TypeError(f"{name} must be a number, got {type(v).__name__} {v!r}")
    try:
        v = float(v)
    except OverflowError:                # an int beyond the float range
        raise ValueError(f"{name} must be finite, got an integer of {int(v).bit_length()} "
                         "bits") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {v}")
    if dtype is not None:
        representable(v, name, dtype)
    return v


def representable(v, name, dtype):
    """Raise unless the float ``v`` is finite, and non-zero when ``v`` is, in ``dtype``."""
    dt = np.dtype(dtype)
    with np.errstate(over="ignore", under="ignore"):
        c = float(dt.type(v))
    if not math.isfinite(c):
        raise ValueError(f"{name}={v!r} overflows {dt.name} (the model's dtype): at most "
                         f"{float(np.finfo(dt).max):.3g}")
    if c == 0 and v != 0:
        raise ValueError(f"{name}={v!r} rounds to 0 in {dt.name} (the model's dtype): use 0 "
                         f"or at least {float(np.finfo(dt).smallest_subnormal):.3g}")
    return v


INT_MAX = 2**31 - 1
"""The kernels index with C ints: no array they touch may hold more elements."""


def _machine_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 62


MACHINE_MEMORY = _machine_memory()


def check_sizes(shapes, itemsize, what, copies=1):
    """Raise ValueError before allocating ``shapes`` (a dict name -> shape) when one array
    has more elements than the kernels can index, or ``copies`` of them all need more than
    the machine's memory."""
    total = 0
    for name, shape in shapes.items():
        n = math.prod(shape)
        if n > INT_MAX:
            raise ValueError(f"{what}: {name} {tuple(shape)} would hold {n:,} elements; the "
                             f"kernels take at most {INT_MAX:,}")
        total += n * copies
    if total * itemsize > MACHINE_MEMORY:
        raise ValueError(f"{what} would need {total * itemsize / 2**30:,.1f} GiB; this machine "
                         f"has {MACHINE_MEMORY / 2**30:,.1f} GiB")


def all_finite(arrays):
    """True when every array of the sequence (C-contiguous float32/float64) is free of
    NaN and infinity.

    ``_ops.all_finite`` when compiled (one pass over the exponent bits); else one sum per
    array (no temporary): a sum is finite whenever its terms are, and NaN or infinite as
    soon as one is; only a sum that overflows from finite terms needs the exact test."""
    if _all_finite is not None:
        return _all_finite(arrays)
    with np.errstate(over="ignore", invalid="ignore"):
        for a in arrays:
            if not math.isfinite(a.sum()) and not np.isfinite(a).all():
                return False
    return True


def param_dict(parameters, keys, name="parameters"):
    """Check ``parameters`` is a dict holding every key of ``keys``."""
    if not isinstance(parameters, dict):
        raise TypeError(f"{name} must be a dict, got {type(parameters).__name__}")
    missing = [k for k in keys if k not in parameters]
    if missing:
        raise ValueError(f"{name} is missing key(s) {missing}; expected {list(keys)}")
    return parameters


def check_finite_loss(loss, what="loss"):
    """Raise after a kernel returned a non-finite loss (parameters diverged or hold NaN)."""
    if not np.isfinite(loss):
        raise ValueError(
            f"the {what} is not finite ({loss}): the parameters or inputs hold NaN/inf or "
            "training diverged; lower the learning rate or clip the gradients"
        )
