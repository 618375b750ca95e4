"""Shared fixtures: dtypes, backends, a seeded rng, the tolerance table, the data file.

Tolerances are set once, from the math: float64 kernels and their NumPy twin differ
only in the order of floating-point sums (relative ~1e-15 per operation, grown by the
depth of the computation), float32 by float32 rounding (~1e-7 per operation).
"""

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest

import fastrnn
import fastrnn._ext as _ext

# (rtol, atol) for kernel-vs-twin comparisons
TOL = {
    np.dtype(np.float64): (1e-12, 1e-13),
    np.dtype(np.float32): (1e-5, 1e-6),
}

DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
DINOS = DATA_DIR / "dinos.txt"

# The directory that holds the fastrnn under test: a checkout with modules built in
# place, or the site-packages of an installed wheel. Subprocesses get it as PYTHONPATH
# (and run in another directory), so they import the same fastrnn as the tests.
PKG_PARENT = Path(fastrnn.__file__).resolve().parent.parent


def subprocess_env(**extra):
    """The environment of a subprocess that must import the fastrnn under test."""
    return dict(os.environ, PYTHONPATH=str(PKG_PARENT), **extra)


@contextlib.contextmanager
def team_mode(threads, adaptive=False, **hooks):
    """Run the block with the kernels' thread setting at ``threads`` and their team
    choice fixed (``adaptive=False``: every eligible call on the team, so that a test
    meant for two threads does not run on one because one measured cheaper), plus the
    test hooks of src_c/fastrnn/_team_hooks.pxi (``stall_ns``, ``hold_ns``, ``skip``)."""
    import fastrnn
    from fastrnn import _layers, _lstm, _rnn

    mods = (_rnn, _lstm, _layers)
    olds = [m._team_test_hook(adaptive=adaptive, **hooks) for m in mods]
    try:
        with fastrnn.threads(threads):
            yield
    finally:
        for m, o in zip(mods, olds):
            m._team_test_hook(adaptive=o[0], stall_ns=o[1], hold_ns=o[2], skip=o[3])


def assert_close(actual, desired, dtype, err_msg=""):
    rtol, atol = TOL[np.dtype(dtype)]
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol, err_msg=err_msg)


@pytest.fixture(params=[np.float64, np.float32], ids=["f64", "f32"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture(params=[1, 3], ids=["B1", "B3"])
def batch(request):
    return request.param


@pytest.fixture(params=["cython", "numpy"])
def backend(request):
    if request.param == "cython" and not _ext.compiled_available():
        _not_built()
    with _ext.use_backend(request.param):
        yield request.param


@pytest.fixture
def rng(request):
    seed = int(os.environ.get("FASTRNN_TEST_SEED", "12345"))
    print(f"rng seed {seed} (override with FASTRNN_TEST_SEED)")
    return np.random.default_rng(seed)


def _not_built():
    pytest.fail(f"compiled kernels are not built: fastrnn was imported from {PKG_PARENT} "
                f"(build them in place, or run pytest from another directory against an "
                f"installed fastrnn)")


@pytest.fixture
def cy():
    if not _ext.compiled_available():
        _not_built()
    return _ext.kernels("cython")


@pytest.fixture
def ref():
    return _ext.kernels("numpy")


@pytest.fixture(scope="session")
def dinos_text():
    if not DINOS.exists():
        pytest.skip(f"../shared/data/dinos.txt not found")
    return DINOS.read_text()
