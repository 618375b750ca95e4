"""The one place compiled modules are imported, and the backend switch.

Private. Called by every public entry point of fastrnn (``fastrnn.models``,
``fastrnn.course``, ...) through :func:`kernels`.

``backend="cython"`` (the default) runs the compiled kernels (``fastrnn._rnn``,
``fastrnn._lstm``, ``fastrnn._ops``, ``fastrnn._layers``); ``backend="numpy"`` runs their pure-NumPy twin,
:mod:`fastrnn.reference`, which has the same functions with the same signatures.
If the compiled modules are missing, ``import fastrnn`` still works, the NumPy
backend still works, and asking for the Cython backend raises an actionable error.

``FASTRNN_SIMD`` (read by the compiled modules when they load; see
``src_c/fastrnn/_platform.h``) caps the vector instruction set of their loops:
``baseline`` (or ``sse2``), ``avx2``, ``avx512f``; unset, empty or ``auto``: the CPU's
best. Any other value caps nothing and is warned about here.
"""

from __future__ import annotations

import contextlib
import os
import types
import warnings

from . import reference

BACKENDS = ("cython", "numpy")
SIMD_ENV = "FASTRNN_SIMD"
SIMD_VALUES = ("", "auto", "baseline", "sse2", "avx2", "avx512f")

if os.environ.get(SIMD_ENV, "") not in SIMD_VALUES:
    warnings.warn(f"{SIMD_ENV}={os.environ[SIMD_ENV]!r} is not one of "
                  f"{', '.join(v for v in SIMD_VALUES if v)}: the kernels use the CPU's "
                  f"best instruction set", RuntimeWarning, stacklevel=2)

_import_error = None
_cython = None
try:
    from . import _ops, _rnn  # noqa: F401

    _mods = [_ops, _rnn]
    try:
        from . import _lstm

        _mods.append(_lstm)
    except ImportError:  # pragma: no cover - a build without the LSTM module
        pass
    try:  # the layers' engine (fastrnn.nn); first, so that _mods[-1] stays _lstm
        from . import _layers

        _mods.insert(0, _layers)
    except ImportError:  # pragma: no cover - a build without the layers module
        pass
    _ns = {}
    for _m in _mods:
        _ns.update({k: v for k, v in vars(_m).items() if not k.startswith("_") and callable(v)
                    and getattr(v, "__module__", _m.__name__) == _m.__name__})
    if hasattr(_mods[-1], "PAIR_MIN_H"):   # batch-1 LSTM passes on two threads from H
        _ns["PAIR_MIN_H"] = _mods[-1].PAIR_MIN_H
    _ns["BACKEND"] = "cython"
    _cython = types.SimpleNamespace(**_ns)
except ImportError as exc:  # pragma: no cover - exercised only without a build
    _import_error = exc

_state = {"backend": "cython"}


def _check_name(name):
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    return name


def get_backend() -> str:
    """Return the name of the active backend.

    Returns
    -------
    str
        ``"cython"`` (the compiled kernels, the default) or ``"numpy"``.

    Examples
    --------
    >>> import fastrnn
    >>> fastrnn.get_backend() in ("cython", "numpy")
    True
    """
    return _state["backend"]


def set_backend(name: str) -> None:
    """Select the backend every public fastrnn function uses from now on.

    Parameters
    ----------
    name : {"cython", "numpy"}
        ``"cython"``: the compiled kernels (default). ``"numpy"``: the pure-NumPy
        twin in :mod:`fastrnn.reference` (same results to rounding, much slower).

    Raises
    ------
    ValueError
        Another name.
    RuntimeError
        ``"cython"`` when the compiled kernels are not built (the message says how).

    Examples
    --------
    >>> import fastrnn
    >>> old = fastrnn.get_backend()
    >>> fastrnn.set_backend("numpy")
    >>> fastrnn.get_backend()
    'numpy'
    >>> fastrnn.set_backend(old)
    """
    name = _check_name(name)
    if name == "cython":
        _require_cython()
    _state["backend"] = name


@contextlib.contextmanager
def use_backend(name: str):
    """Context manager: run the block with backend ``name``, then restore the previous one.

    Parameters
    ----------
    name : {"cython", "numpy"}
        As for :func:`set_backend`.

    Examples
    --------
    >>> import fastrnn
    >>> m = fastrnn.RNN(5, 4, dtype="float64", seed=0)
    >>> with fastrnn.use_backend("numpy"):
    ...     twin = m.loss([-1, 1, 2], [1, 2, 0])
    >>> abs(m.loss([-1, 1, 2], [1, 2, 0]) - twin) < 1e-12
    True
    """
    old = _state["backend"]
    set_backend(name)
    try:
        yield
    finally:
        _state["backend"] = old


def _require_cython():
    if _cython is None:
        raise RuntimeError(
            "fastrnn's compiled kernels are not available "
            f"({_import_error!r}). Build them with `python -m pip install .` "
            "(or `python setup.py build_ext --inplace` in a source checkout); "
            "meanwhile fastrnn.set_backend('numpy') runs the pure-NumPy twin."
        )
    return _cython


def kernels(backend: str | None = None):
    """Return the kernel namespace of ``backend`` (default: the active one)."""
    name = _state["backend"] if backend is None else _check_name(backend)
    if name == "numpy":
        return reference
    return _require_cython()


def compiled_available() -> bool:
    """True when the compiled kernels imported."""
    return _cython is not None
