"""Threads and build information: ``set_num_threads``, ``threads``, ``show_config``.

Public through ``fastrnn``. The kernels multiply matrices with the BLAS that SciPy
ships (OpenBLAS in the wheels). Its thread count is fastrnn's one thread setting: the RNN
kernels use the BLAS's threads; the batched LSTM kernels run on an OpenMP team of that
many threads (each multiplying blocks of the hidden units with the BLAS at 1 thread
meanwhile, see ``src_c/fastrnn/_team.h``); the LSTM's batch-1 passes (forward,
backward, training step, sampling) from 96 hidden units split each step between two of
them; other batch-1 kernels run on the calling thread.

Thread policy (automatic by default): at batch 1 every product is a small
matrix-vector product and BLAS threads only cost synchronisation, so the public entry
points (models, character model, course functions) switch SciPy's BLAS to 1 thread;
with batches the products are GEMMs and all cores pay, so they switch it to the number
of usable cores (never more: no oversubscription), and so do the LSTM's batch-1 passes
where its kernels pair two threads. ``set_num_threads(n)`` fixes the
count (``None`` returns to automatic), ``threads(n)`` fixes it for a ``with`` block,
and ``FASTRNN_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` fix it from
the environment. Only SciPy's BLAS is touched, not NumPy's.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys

import numpy as np

from . import _ext

try:
    import threadpoolctl
except ImportError:  # pragma: no cover - threadpoolctl is a dependency
    threadpoolctl = None

def _env_threads():
    for var in ("FASTRNN_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        v = os.environ.get(var, "").strip()
        if v.isdigit() and int(v) >= 1:
            return int(v)
    return None


def _cpu_count():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# policy: None = automatic (1 thread at batch 1, all cores otherwise: see auto_count),
# or a fixed count
_state = {"policy": _env_threads(), "current": None, "libs": None}


def _kernel_blas():
    """threadpoolctl controllers of the BLAS the kernels call (SciPy's), found once."""
    if _state["libs"] is None:
        if threadpoolctl is None:  # pragma: no cover
            _state["libs"] = []
        else:
            import scipy.linalg.cython_blas  # noqa: F401  (make sure it is loaded)

            libs = [lc for lc in threadpoolctl.ThreadpoolController().lib_controllers
                    if lc.user_api == "blas"]
            mine = [lc for lc in libs if "numpy" not in os.path.dirname(lc.filepath)]
            _state["libs"] = mine or libs
    return _state["libs"]


def _blas_thread_functions(lc):
    """Addresses of ``get_num_threads`` / ``set_num_threads`` of an OpenBLAS controller's
    library (SciPy's wheels prefix the symbols with ``scipy_``), or (0, 0)."""
    import ctypes

    if lc.internal_api != "openblas":
        return 0, 0
    try:
        lib = ctypes.CDLL(lc.filepath)
    except OSError:  # pragma: no cover
        return 0, 0
    for prefix, suffix in (("scipy_", ""), ("", ""), ("scipy_", "64_"), ("", "64_")):
        get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
        put = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
        if get is not None and put is not None:
            return (ctypes.cast(get, ctypes.c_void_p).value or 0,
                    ctypes.cast(put, ctypes.c_void_p).value or 0)
    return 0, 0  # pragma: no cover


def _connect_team():
    """Hand the compiled kernels their BLAS's thread-count functions: a batched LSTM call
    then runs on a team of as many threads as the BLAS has, with the BLAS at 1 thread
    meanwhile (one setting for both)."""
    if not _ext.compiled_available():
        return
    libs = _kernel_blas()
    get, put = _blas_thread_functions(libs[-1]) if libs else (0, 0)
    for name in ("_rnn", "_lstm"):
        mod = sys.modules.get(f"fastrnn.{name}")
        if mod is not None and hasattr(mod, "_connect_blas_threads"):
            mod._connect_blas_threads(get, put)


def _apply(n):
    if _state["current"] != n:
        for lc in _kernel_blas():
            lc.set_num_threads(n)
        _state["current"] = n


def auto_count(batch, paired=False):
    """The automatic policy's BLAS thread count: 1 at batch 1 (every product is a small
    matrix-vector product, threads only cost) unless the kernel splits the sequence's
    steps between two threads (``paired``: the LSTM from ``_lstm.PAIR_MIN_H`` hidden
    units), the usable cores otherwise."""
    return _cpu_count() if batch > 1 or paired else 1


def pairs(kernels, cell, hidden_size):
    """Whether ``kernels`` split a batch-1 step of this cell between two threads (the
    LSTM from ``PAIR_MIN_H`` hidden units in the compiled kernels; the ``paired`` of
    :func:`auto_count`)."""
    return cell == "lstm" and hidden_size >= getattr(kernels, "PAIR_MIN_H", float("inf"))


def auto_threads(batch, paired=False):
    """Called by the public entry points before kernels run: in automatic mode, the
    thread count of :func:`auto_count`. A fixed count (``set_num_threads``, ``threads``,
    or ``FASTRNN_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` in the
    environment) is left alone."""
    if _state["policy"] is None:
        _apply(auto_count(batch, paired))


def get_num_threads() -> int:
    """The number of threads of the BLAS the kernels use (SciPy's) right now."""
    libs = _kernel_blas()
    return int(libs[-1].num_threads) if libs else 1


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the thread count must be an integer >= 1, got {n!r}")
    return int(n)


def set_num_threads(n) -> None:
    """Fix the kernels' BLAS thread count from now on.

    Parameters
    ----------
    n : int >= 1, or None to return to the automatic policy (1 thread at batch 1, all
        cores for batches and for the LSTM's batch-1 passes from 96 hidden units, whose
        kernels split each step between two threads). More threads than cores only oversubscribes.
    """
    if n is None:
        _state["policy"] = None
        return
    n = _check_n(n)
    _state["policy"] = n
    _state["current"] = None
    _apply(n)


def get_thread_policy():
    """``None`` (automatic) or the fixed thread count."""
    return _state["policy"]


@contextlib.contextmanager
def threads(n: int):
    """Context manager: run the block with ``n`` BLAS threads, then restore the policy."""
    n = _check_n(n)
    old_policy, old_current = _state["policy"], get_num_threads()
    _state["policy"] = n
    _state["current"] = None
    _apply(n)
    try:
        yield
    finally:
        _state["policy"] = old_policy
        _state["current"] = None
        _apply(old_current)


def config() -> dict:
    """Build and runtime facts as a dict (what :func:`show_config` prints)."""
    from . import __version__

    info = {
        "fastrnn": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "backend": _ext.get_backend(),
        "compiled_kernels": _ext.compiled_available(),
    }
    try:
        import scipy

        info["scipy"] = scipy.__version__
    except ImportError:  # pragma: no cover
        info["scipy"] = None
    if _ext.compiled_available():
        from . import _ops

        info["simd"] = _ops.simd_level()
        if _ext.SIMD_ENV in os.environ:
            info["simd"] += (f" ({_ext.SIMD_ENV}={os.environ[_ext.SIMD_ENV]!r}; this CPU: "
                             f"{_ops.cpu_simd_level()})")
        info["kernels"] = os.path.dirname(os.path.abspath(_ops.__file__))
        info["debug_build"] = _ops.debug_build()
        from . import _lstm

        info["openmp"], info["team_threads"] = _lstm._team_info()
    info["blas"] = [
        {"internal_api": lc.internal_api, "version": lc.version,
         "num_threads": lc.num_threads, "architecture": getattr(lc, "architecture", None),
         "library": os.path.basename(lc.filepath)}
        for lc in _kernel_blas()
    ]
    info["blas_threads"] = get_num_threads()
    info["thread_policy"] = ("automatic (1 at batch 1, all cores for batches and the "
                             "paired batch-1 LSTM)"
                             if _state["policy"] is None else f"fixed at {_state['policy']}")
    return info


def show_config(file=None) -> None:
    """Print fastrnn's version, backend, build (SIMD level, debug, OpenMP) and BLAS/threads."""
    out = file if file is not None else sys.stdout
    c = config()
    for k in ("fastrnn", "python", "numpy", "scipy", "platform", "cpu_count", "backend",
              "compiled_kernels", "kernels", "simd", "debug_build", "openmp", "team_threads",
              "blas_threads",
              "thread_policy"):
        if k in c:
            print(f"{k + ':':<18}{c[k]}", file=out)
    for p in c["blas"]:
        print(f"{'blas:':<18}{p['internal_api']} {p['version']} ({p['library']}), "
              f"{p['num_threads']} threads, arch {p['architecture']}", file=out)


_connect_team()
