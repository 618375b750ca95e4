"""Shared setup of the pytest-benchmark suite: BLAS threads, implementations, problems, data.

Run from the repository root::

    python -m pytest benches/ --benchmark-only --benchmark-group-by=group

Every bench file parametrises one benchmarked callable over ``impl`` (``numpy``: the
pure-NumPy twin ``fastrnn.reference``; ``cython``: the compiled kernels) and a size grid,
with ``group`` = the size, so each table compares the two implementations on equal terms.
After timing, each bench checks its result against the float64 NumPy oracle.

BLAS threads. Every case here has batch B = 1, so every matrix product inside a time step
is a GEMV of at most (4H x H) = (400 x 100) -- microseconds of arithmetic. Waking a second
BLAS thread for it costs more than it saves, and on this 2-core machine that thread
competes with the benchmark itself (and with other processes). So the whole session runs
with BLAS pinned to ONE thread via threadpoolctl. This covers both OpenBLAS copies in the
process: NumPy's (used by ``fastrnn.reference``) and SciPy's (used by the Cython kernels
through ``scipy.linalg.cython_blas``). The kernels themselves use no OpenMP for B = 1.
Set ``FASTRNN_BENCH_BLAS_THREADS=0`` to keep the library defaults instead.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:           # `python -m pytest benches/` from elsewhere
    sys.path.insert(0, str(ROOT))

import fastrnn._ext as _ext  # noqa: E402

try:
    import threadpoolctl
except ImportError:  # pragma: no cover - threadpoolctl is in the [test] extra
    threadpoolctl = None

DINOS = ROOT.parent / "shared" / "data" / "dinos.txt"
"""The course's data file, next to the checkout (``../shared/data/dinos.txt``)."""

IMPLS = ("numpy", "cython")
V = 27                                   # vocabulary: '\n' + 26 letters
CLIP, LR = 5.0, 0.01
# float32 results are compared with the float64 NumPy oracle to this relative tolerance
RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}


# -------------------------------------------------------------------- session setup

@pytest.fixture(scope="session", autouse=True)
def blas_one_thread():
    """Pin every BLAS pool to one thread for the whole session (see the module docstring)."""
    n = int(os.environ.get("FASTRNN_BENCH_BLAS_THREADS", "1"))
    if threadpoolctl is None or n <= 0:
        yield None
        return
    with threadpoolctl.threadpool_limits(limits=n, user_api="blas") as limits:
        yield limits


def pytest_report_header(config):
    lines = [f"fastrnn benches: compiled kernels {'built' if _ext.compiled_available() else 'MISSING'}"]
    n = int(os.environ.get("FASTRNN_BENCH_BLAS_THREADS", "1"))
    lines.append(f"BLAS threads pinned to {n}" if n > 0 and threadpoolctl else
                 "BLAS threads: library default")
    return lines


# ------------------------------------------------------------------ implementations

def kernels_or_skip(impl, needs=None):
    """The kernel namespace of ``impl``; skip when it is not built (or lacks ``needs``)."""
    if impl == "cython" and not _ext.compiled_available():
        pytest.skip("compiled kernels are not built")
    k = _ext.kernels(impl)
    if needs is not None and not hasattr(k, needs):
        pytest.skip(f"{impl} backend has no {needs}")
    return k


def kernel_or_skip(impl, name):
    """The kernel function ``name`` of ``impl``, or skip.

    For ``numpy`` it falls back to the private module of ``fastrnn.reference`` that
    defines it, in case the package does not re-export it (yet).
    """
    fn = getattr(kernels_or_skip(impl), name, None)
    if fn is None and impl == "numpy":
        import importlib
        for mod in ("_lstm", "_rnn", "_ops"):
            try:
                fn = getattr(importlib.import_module(f"fastrnn.reference.{mod}"), name, None)
            except ImportError:
                fn = None
            if fn is not None:
                break
    if fn is None:
        pytest.skip(f"{impl} backend has no {name}")
    return fn


def lstm_built():
    return _ext.compiled_available() and hasattr(_ext.kernels("cython"), "lstm_train_step_ix")


# ------------------------------------------------------------------------- problems

def _data(T, seed=4321):
    """A random 'name': X[0] = -1 (zero input), Y = X shifted left, last target newline."""
    rng = np.random.default_rng(seed)
    Y = rng.integers(1, V, size=(T, 1)).astype(np.int64)
    Y[-1] = 0
    X = np.empty_like(Y)
    X[0] = -1
    X[1:] = Y[:-1]
    return X, Y


def rnn_params(H, seed=1234):
    """float64 RNN parameters: N(0, 1/H) weights, N(0, 0.1^2) biases (kernel layout)."""
    rng = np.random.default_rng(seed)
    s = 1.0 / np.sqrt(H)
    return {"Wax": rng.standard_normal((H, V)) * s, "Waa": rng.standard_normal((H, H)) * s,
            "ba": rng.standard_normal(H) * 0.1, "Wya": rng.standard_normal((V, H)) * s,
            "by": rng.standard_normal(V) * 0.1}


def lstm_params(H, seed=1234):
    """float64 LSTM parameters, stacked gates [f, i, c, o]: Wx (4H, X), Wh (4H, H), b (4H,)."""
    rng = np.random.default_rng(seed)
    s = 1.0 / np.sqrt(H)
    return {"Wx": rng.standard_normal((4 * H, V)) * s, "Wh": rng.standard_normal((4 * H, H)) * s,
            "b": rng.standard_normal(4 * H) * 0.1, "Wy": rng.standard_normal((V, H)) * s,
            "by": rng.standard_normal(V) * 0.1}


def rnn_train_problem(H, T, dtype):
    """Argument tuple of ``rnn_train_step_ix`` (fresh parameters, preallocated buffers)."""
    dt = np.dtype(dtype)
    X, Y = _data(T)
    p = {k: np.ascontiguousarray(v, dtype=dt) for k, v in rnn_params(H).items()}
    e = lambda *s: np.empty(s, dt)  # noqa: E731
    args = (X, Y, p["Wax"], p["Waa"], p["ba"], p["Wya"], p["by"], np.zeros((1, H), dt),
            e(T, 1, H), e(T, 1, V), e(T, 1, H),
            e(H, V), e(H, H), e(H), e(V, H), e(V), e(1, H), CLIP, LR)
    return types.SimpleNamespace(args=args, params=p, X=X, Y=Y)


def lstm_train_problem(H, T, dtype):
    """Argument tuple of ``lstm_train_step_ix`` (fresh parameters, preallocated buffers)."""
    dt = np.dtype(dtype)
    X, Y = _data(T)
    p = {k: np.ascontiguousarray(v, dtype=dt) for k, v in lstm_params(H).items()}
    e = lambda *s: np.empty(s, dt)  # noqa: E731
    args = (X, Y, p["Wx"], p["Wh"], p["b"], p["Wy"], p["by"],
            np.zeros((1, H), dt), np.zeros((1, H), dt),
            e(T, 1, H), e(T, 1, H), e(T, 1, 4 * H), e(T, 1, V), e(T, 1, H),
            e(4 * H, V), e(4 * H, H), e(4 * H), e(V, H), e(V), e(1, H), e(1, H), CLIP, LR)
    return types.SimpleNamespace(args=args, params=p, X=X, Y=Y)


@pytest.fixture(scope="session")
def kit():
    """The helpers above, for the bench modules (conftest is not imported directly)."""
    return types.SimpleNamespace(
        IMPLS=IMPLS, V=V, CLIP=CLIP, LR=LR, RTOL=RTOL,
        kernels=kernels_or_skip, kernel=kernel_or_skip, lstm_built=lstm_built,
        rnn_params=rnn_params, lstm_params=lstm_params,
        rnn_train_problem=rnn_train_problem, lstm_train_problem=lstm_train_problem,
        short=lambda dtype: "f32" if np.dtype(dtype) == np.float32 else "f64",
    )


@pytest.fixture(scope="session")
def oracle():
    """Memo of float64 NumPy-reference results, computed once per key outside any timing.

    ``oracle(key, fn)`` returns ``fn()`` the first time a key is asked for, then the cache.
    """
    cache = {}

    def get(key, fn):
        if key not in cache:
            with _ext.use_backend("numpy"):
                cache[key] = fn()
        return cache[key]
    return get


@pytest.fixture(scope="session")
def dinos_text():
    """The course's names file, or skip the bench when it is absent."""
    if not DINOS.exists():
        pytest.skip("../shared/data/dinos.txt not found")
    return DINOS.read_text()


@pytest.fixture(scope="session")
def dinosaurus():
    """``fastrnn.course.dinosaurus``, or skip while it is not importable."""
    try:
        from fastrnn.course import dinosaurus as dino
    except Exception as exc:  # noqa: BLE001 - any import failure means "not ready"
        pytest.skip(f"fastrnn.course.dinosaurus is not importable: {exc!r}")
    return dino
