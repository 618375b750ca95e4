"""The public API's argument guards (fastrnn._validation): index ranges and numbers."""

import math

import numpy as np
import pytest

from fastrnn import _validation as V


@pytest.mark.parametrize("shape", [(1,), (7,), (5, 3), (1, 1)])
def test_bounds_is_min_and_max(shape, monkeypatch):
    rng = np.random.default_rng(3)
    a = rng.integers(-1, 30, size=shape).astype(np.int64)
    want = (int(a.min()), int(a.max()))
    assert V._bounds(a) == want
    monkeypatch.setattr(V, "_index_bounds", None)       # the NumPy fallback agrees
    assert V._bounds(a) == want


@pytest.mark.parametrize("bad, where", [(-2, 0), (27, -1), (99, 4)])
def test_index_array_rejects_out_of_range_in_fast_path(bad, where):
    a = np.arange(-1, 26, dtype=np.int64).reshape(3, 9).copy()
    a.flat[where] = bad
    with pytest.raises(ValueError, match=rf"X holds index {bad}, outside \[-1, 26\]"):
        V.index_array(a, "X", 27)
    assert V.index_array(np.arange(-1, 26, dtype=np.int64), "X", 27).shape == (27,)


def test_index_array_rejects_empty():
    with pytest.raises(ValueError, match="X is empty"):
        V.index_array(np.zeros(0, np.int64), "X", 27)


@pytest.mark.parametrize("v", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_finite_float_rejects_non_finite(v):
    with pytest.raises(ValueError, match="lr must be finite"):
        V.finite_float(v, "lr")


def test_finite_float_accepts_numbers():
    assert V.finite_float(np.float32(0.5), "lr") == 0.5
    assert V.finite_float(3, "lr") == 3.0
    with pytest.raises(TypeError, match="lr must be a number"):
        V.finite_float("0.1", "lr")
    with pytest.raises(ValueError, match=r"clip must be >= 0"):
        V.finite_float(-1.0, "clip", 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_array_fast_path_checks_what_the_slow_path_checks(dtype):
    """An ndarray already of the dtype, C-contiguous and of the shape comes back as it
    is (no copy); NaN, infinity, a wrong shape or ndim still raise naming it, like any
    other input."""
    a = np.zeros((3, 1, 4), dtype)
    assert V.float_array(a, "x", dtype, ndim=3) is a
    assert V.float_array(a, "x", dtype, shape=(3, None, 4)) is a
    assert V.float_array(a, "x", dtype, ndim=3, copy=True) is not a
    for bad in (np.nan, np.inf, -np.inf):
        b = a.copy()
        b[2, 0, 3] = bad
        with pytest.raises(ValueError, match="x contains NaN"):
            V.float_array(b, "x", dtype, ndim=3)
        assert V.float_array(b, "x", dtype, ndim=3, finite=False) is b
    with pytest.raises(ValueError, match="x must be 2-D"):
        V.float_array(a, "x", dtype, ndim=2)
    with pytest.raises(ValueError, match=r"x must have shape \(3, 2, 4\)"):
        V.float_array(a, "x", dtype, shape=(3, 2, 4))
    other = np.float64 if dtype == np.float32 else np.float32
    assert V.float_array(a, "x", other, ndim=3).dtype == other     # converted
    assert V.float_array(a[:, :, ::2], "x", dtype, ndim=3).flags.c_contiguous
