"""Guards run before every kernel call: dtype, shape, contiguity, index range, finiteness.

Private. Called by the public API (``fastrnn.models``, ``fastrnn.course``, ...). Every
check raises ``TypeError`` (wrong kind of object or dtype) or ``ValueError`` (wrong
shape, range, value) naming the argument, what was expected and what was given, so
that no bad input ever reaches nogil code.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

_index_bounds: Callable[[np.ndarray], tuple[int, int]] | None
try:  # one C pass for (min, max) of an index array; NumPy's two reductions otherwise
    from fastrnn._ops import index_bounds as _index_bounds
except ImportError:  # pragma: no cover - without the compiled modules
    _index_bounds = None


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
        arr = a
        bad = lo if lo < low else hi
        raise ValueError(
            f"{name} holds index {bad}, outside [{low}, {high - 1}]"
            + (" (-1 means no input)" if low == -1 else "")
        )
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
    arr = np.asarray(a)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer indices, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: a sequence needs at least one time step")
    arr = np.ascontiguousarray(arr, dtype=INDEX_DTYPE)
    lo, hi = _bounds(arr)
    if lo < low or hi >= high:
        bad = lo if lo < low else hi
        raise ValueError(
            f"{name} holds index {bad}, outside [{low}, {high - 1}]"
            + (" (-1 means no input)" if low == -1 else "")
        )
    return arr


def positive_int(v, name, minimum=1):
    """``v`` as an int >= minimum (TypeError for non-integers, ValueError below minimum)."""
    if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}")
    v = int(v)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def finite_float(v, name, minimum=None, strict=False):
    """``v`` as a finite float, optionally ``> minimum`` (strict) or ``>= minimum``."""
    if type(v) is not float and (isinstance(v, bool) or not isinstance(
            v, (numbers.Real, np.floating, np.integer))):
        raise TypeError(f"{name} must be a number, got {type(v).__name__} {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {v}")
    return v


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
