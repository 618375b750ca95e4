"""fastrnn: fast, clear CPU recurrent networks for Python.

Cython kernels (RNN, LSTM) over typed memoryviews with BLAS from SciPy, a pure-NumPy
twin of every kernel (:mod:`fastrnn.reference`), the DeepLearning.AI Sequence Models
course functions (:mod:`fastrnn.course`) and a character-level language model.
"""

from importlib.metadata import PackageNotFoundError, version as _version

from ._ext import get_backend, set_backend, use_backend  # noqa: F401

try:
    __version__ = _version("fastrnn")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.1.0"
