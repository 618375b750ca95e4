"""Threads and build information: ``set_num_threads``, ``threads``, ``show_config``.

Public through ``fastrnn``. The kernels multiply matrices with the BLAS that SciPy
ships (OpenBLAS in the wheels); its thread pool is the only one fastrnn uses. The
element-wise passes run on the calling thread.

Thread policy: at batch 1 every product is a small matrix-vector product and BLAS
threads only cost synchronisation, so :class:`~fastrnn.RNN`/:class:`~fastrnn.LSTM` runs and the
benchmarks of the course's sizes use 1 thread; with real batches (B >= 16, H >= 256) the
products are GEMMs and both cores pay. ``set_num_threads`` fixes the count for the whole
process (it limits every BLAS loaded in the process, NumPy's too, so nothing is
oversubscribed); ``threads(n)`` does it for a ``with`` block.
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

_controller = {"limits": None}


def _blas_pools():
    if threadpoolctl is None:
        return []
    return [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]


def get_num_threads() -> int:
    """The number of threads SciPy's BLAS (the kernels' BLAS) uses now."""
    pools = [p for p in _blas_pools() if "scipy" in os.path.basename(p.get("filepath", ""))]
    pools = pools or _blas_pools()
    return int(pools[-1]["num_threads"]) if pools else 1


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the thread count must be an integer >= 1, got {n!r}")
    return int(n)


def set_num_threads(n: int) -> None:
    """Use ``n`` BLAS threads from now on (for every BLAS in the process).

    Parameters
    ----------
    n : int >= 1. ``os.cpu_count()`` is the most that helps; more oversubscribes.
    """
    n = _check_n(n)
    if threadpoolctl is None:  # pragma: no cover
        raise RuntimeError("threadpoolctl is needed to set thread counts")
    _controller["limits"] = threadpoolctl.threadpool_limits(limits=n, user_api="blas")


@contextlib.contextmanager
def threads(n: int):
    """Context manager: run the block with ``n`` BLAS threads, then restore the count."""
    n = _check_n(n)
    if threadpoolctl is None:  # pragma: no cover
        raise RuntimeError("threadpoolctl is needed to set thread counts")
    with threadpoolctl.threadpool_limits(limits=n, user_api="blas"):
        yield


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
        info["debug_build"] = _ops.debug_build()
        info["openmp"] = False
    info["blas"] = [
        {k: p.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
        | {"library": os.path.basename(p.get("filepath", ""))}
        for p in _blas_pools()
    ]
    info["blas_threads"] = get_num_threads()
    return info


def show_config(file=None) -> None:
    """Print fastrnn's version, backend, build (SIMD level, debug, OpenMP) and BLAS/threads."""
    out = file if file is not None else sys.stdout
    c = config()
    for k in ("fastrnn", "python", "numpy", "scipy", "platform", "cpu_count", "backend",
              "compiled_kernels", "simd", "debug_build", "openmp", "blas_threads"):
        if k in c:
            print(f"{k + ':':<18}{c[k]}", file=out)
    for p in c["blas"]:
        print(f"{'blas:':<18}{p['internal_api']} {p['version']} ({p['library']}), "
              f"{p['num_threads']} threads, arch {p['architecture']}", file=out)
