"""Threads and build information: ``set_num_threads``, ``threads``, ``show_config``.

Public through ``fastrnn``. The kernels run on a thread team of their own
(``src_c/fastrnn/_team.h``): batched calls split every time step between its threads,
the LSTM's batch-1 passes from 96 hidden units between two of them. The thread setting
is the most threads a call may use; each call then runs on the team or on one thread,
whichever its recent calls measured cheaper (on a busy machine, one thread), with the
same results either way. The matrix products inside run SciPy's BLAS at one thread
(the kernels set it for the duration of a call and restore it).

Setting: automatic by default (the usable cores); ``set_num_threads(n)`` fixes it
(``None`` returns to automatic), ``threads(n)`` fixes it for a ``with`` block, and
``FASTRNN_NUM_THREADS`` (or ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``) fixes it
from the environment.
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

# the most threads a call may use (the size of the kernels' pool, FR_MAX_THREADS)
MAX_THREADS = 64


def _env_threads():
    for var in ("FASTRNN_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        v = os.environ.get(var, "").strip()
        if v.isdigit() and int(v) >= 1:
            return min(int(v), MAX_THREADS)
    return None


def _cpu_count():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# policy: None = automatic (the usable cores), or a fixed count; current: the count the
# kernels were given last
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


def _team_modules():
    if not _ext.compiled_available():
        return []
    return [m for m in (sys.modules.get(f"fastrnn.{name}")
                        for name in ("_rnn", "_lstm", "_layers"))
            if m is not None and hasattr(m, "_set_threads")]


def _connect_team():
    """Hand the compiled kernels their BLAS's thread-count functions (they run it at one
    thread during a call) and the thread setting."""
    libs = _kernel_blas() if _ext.compiled_available() else []
    get, put = _blas_thread_functions(libs[-1]) if libs else (0, 0)
    for mod in _team_modules():
        mod._connect_blas_threads(get, put)
    _apply(_wanted())


def _wanted():
    return min(_cpu_count(), MAX_THREADS) if _state["policy"] is None else _state["policy"]


def _apply(n):
    if _state["current"] != n:
        for mod in _team_modules():
            mod._set_threads(n)
        _state["current"] = n


def get_num_threads() -> int:
    """The most threads a kernel call may run on now (see :func:`set_num_threads`).

    Returns
    -------
    int : the automatic setting's usable cores, or the fixed count.

    Examples
    --------
    >>> import fastrnn
    >>> with fastrnn.threads(1):
    ...     fastrnn.get_num_threads()
    1
    """
    return _wanted()


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"the thread count must be an integer, got {type(n).__name__} {n!r}")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"the thread count must be in [1, {MAX_THREADS}], got {n}")
    return int(n)


def set_num_threads(n) -> None:
    """Fix the most threads a kernel call may run on, from now on.

    Parameters
    ----------
    n : int >= 1, or None to return to the automatic setting (the usable cores). Each
        call runs on that many threads or on one, whichever its recent calls measured
        cheaper; more threads than cores only oversubscribes.

    Examples
    --------
    >>> import fastrnn
    >>> fastrnn.set_num_threads(1)
    >>> fastrnn.get_num_threads()
    1
    >>> fastrnn.set_num_threads(None)      # back to automatic
    """
    n = None if n is None else _check_n(n)
    _state["policy"] = n
    _apply(_wanted())


def get_thread_policy():
    """``None`` (automatic) or the fixed thread count."""
    return _state["policy"]


@contextlib.contextmanager
def threads(n: int):
    """Context manager: run the block with the kernels' thread setting at ``n``, then
    restore the setting.

    Parameters
    ----------
    n : int >= 1.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> rnn = fastrnn.RNN(5, 8, seed=0)
    >>> with fastrnn.threads(1):
    ...     loss, grads, _ = rnn.loss_and_grads(np.zeros((3, 4), np.int64),
    ...                                         np.ones((3, 4), np.int64))
    """
    n = _check_n(n)
    old_policy = _state["policy"]
    _state["policy"] = n
    _apply(n)
    try:
        yield
    finally:
        _state["policy"] = old_policy
        _apply(_wanted())


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
        info["threads"] = get_num_threads()
        info["thread_pool"] = ("fastrnn's own (each call: the team or one thread, by "
                               "measured cost)")
    else:
        info["threads"] = 1
    info["blas"] = [
        {"internal_api": lc.internal_api, "version": lc.version,
         "num_threads": lc.num_threads, "architecture": getattr(lc, "architecture", None),
         "library": os.path.basename(lc.filepath)}
        for lc in _kernel_blas()
    ]
    info["thread_policy"] = ("automatic (the usable cores)" if _state["policy"] is None
                             else f"fixed at {_state['policy']}")
    return info


def show_config(file=None) -> None:
    """Print fastrnn's version, backend, build (SIMD level, debug), threads and BLAS (the
    BLAS's own count is what it has outside fastrnn's calls, which run it at one).

    Parameters
    ----------
    file : a text stream (default: standard output).

    Examples
    --------
    >>> import io, fastrnn
    >>> buf = io.StringIO()
    >>> fastrnn.show_config(file=buf)
    >>> "thread_policy:" in buf.getvalue()
    True
    """
    out = file if file is not None else sys.stdout
    c = config()
    for k in ("fastrnn", "python", "numpy", "scipy", "platform", "cpu_count", "backend",
              "compiled_kernels", "kernels", "simd", "debug_build", "threads", "thread_pool",
              "thread_policy"):
        if k in c:
            print(f"{k + ':':<18}{c[k]}", file=out)
    for p in c["blas"]:
        print(f"{'blas:':<18}{p['internal_api']} {p['version']} ({p['library']}), "
              f"{p['num_threads']} threads, arch {p['architecture']}", file=out)


_connect_team()
