"""fastrnn: fast, clear CPU recurrent networks for Python.

Cython kernels (RNN, LSTM) over typed memoryviews with BLAS from SciPy, a pure-NumPy
twin of every kernel (:mod:`fastrnn.reference`), the DeepLearning.AI Sequence Models
course functions (:mod:`fastrnn.course`) and a character-level language model.

Public API: :class:`RNN`, :class:`LSTM`, :func:`clip_by_value`, :func:`clip_by_norm`,
:func:`global_norm`, :class:`SGD`, :class:`Adam`, :class:`Adagrad`, the backend switch
(:func:`set_backend`, :func:`get_backend`, :func:`use_backend`), threads
(:func:`set_num_threads`, :func:`get_num_threads`, :func:`threads`), :func:`show_config`,
the character model (:class:`Vocab`, :class:`CharModel`, :func:`load`,
:func:`default_corpus`, :func:`auto_val_fraction`, ``DEFAULTS``), its learning curve
(:func:`write_history`, :func:`plot_history`), hyperparameter search
(:func:`tune`, the ``[tune]`` extra), ``__version__``, and the module
:mod:`fastrnn.nn` (PyTorch-style ``RNN`` / ``LSTM`` / ``GRU`` layers).
"""

from ._version import __version__
from ._config import get_num_threads, set_num_threads, show_config, threads
from ._ext import get_backend, set_backend, use_backend
from .models import GATES, LSTM, RNN
from .optim import SGD, Adagrad, Adam, clip_by_norm, clip_by_value, global_norm
from .vocab import Vocab
from .charmodel import (DEFAULTS, CharModel, History, TrainInfo, auto_val_fraction,
                        default_corpus, load)
from .plot import plot_history, write_history
from .tune import tune  # the function (optuna / dask imported only when it runs)
from . import nn  # noqa: F401  (PyTorch-style layers: fastrnn.nn.RNN / LSTM / GRU)

__all__ = [
    "RNN", "LSTM", "GATES", "SGD", "Adam", "Adagrad", "clip_by_value", "clip_by_norm",
    "global_norm", "get_backend", "set_backend", "use_backend", "__version__",
    "Vocab", "CharModel", "History", "TrainInfo", "default_corpus", "load", "DEFAULTS",
    "auto_val_fraction", "write_history", "plot_history", "tune",
    "get_num_threads", "set_num_threads", "threads", "show_config",
]
