"""The character-level language model: train on any text, generate, checkpoint and resume.

Public (:class:`CharModel`, :func:`load`, :func:`default_corpus`, re-exported by
``fastrnn``). Built on :class:`fastrnn.RNN` / :class:`fastrnn.LSTM` (one layer; ``gru`` and
stacks on :mod:`fastrnn.nn`'s layers, :mod:`fastrnn._charnet`), the optimizers of
:mod:`fastrnn.optim` and the files of :mod:`fastrnn.checkpoint`; the CLI
(``fastrnn train`` / ``fastrnn sample``) is a thin layer over it.

Two data modes:

``"lines"`` (the course's Dinosaurus Island model)
    One example per non-empty line. Example ``X = [-1] + ix(line)`` (it starts from a
    zero input), ``Y = ix(line) + [ix("\\n")]`` (it ends by predicting the newline).
    A minibatch of ``B`` lines is padded at the end with ``X = -1`` / ``Y = -1``; ``-1``
    targets are masked out of the loss and every gradient, so padding changes nothing.
    The state starts at zero for every example. Lines are shuffled every epoch.
``"stream"`` (min-char-rnn / char-rnn)
    The text is one stream of characters (newlines included) cut into windows of
    ``seq_length``; ``Y`` is ``X`` shifted by one. The hidden state is carried from one
    window to the next (truncated BPTT) and reset at every epoch. With ``B > 1`` the
    text is split into ``B`` contiguous parallel streams, one per batch row.

Losses. The kernels return the cross-entropy summed over time steps and batch rows.
The training objective of one step is that sum averaged over the ``B`` sequences of the
batch (with ``B = 1``: exactly the course's). The losses *reported* in
:class:`History` are per character: the summed loss divided by the number of predicted
(unmasked) characters, in nats; an untrained model starts near ``log(V)``.

Randomness. Everything follows from the model's integer ``seed`` (drawn at random
and recorded when not given): the initial weights, the shuffling of lines (a
:class:`numpy.random.Generator` whose state is checkpointed), the validation split and
the periodic samples; so a resumed run continues exactly.
"""

from __future__ import annotations

import math
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, cast

import numpy as np

from . import _ext
from ._config import threads
from .checkpoint import load_npz, new_meta, save_npz_atomic
from ._charnet import CharNet
from .models import LSTM, RNN
from .optim import OPTIMIZERS, Optimizer, SGD, clip_by_norm, clip_by_value
from ._validation import (MACHINE_MEMORY, as_dtype, check_sizes, finite_float, positive_int,
                          representable)
from .vocab import NEWLINE, Vocab

CELLS: dict[str, Any] = {"rnn": RNN, "lstm": LSTM, "gru": CharNet}
"""The cells of :class:`CharModel`: one layer of ``rnn`` / ``lstm`` runs on its fused
kernels (:class:`fastrnn.RNN` / :class:`fastrnn.LSTM`); ``gru`` and any stack
(``num_layers > 1``) on the layers of :mod:`fastrnn.nn` (``CharNet``)."""
MODES = ("lines", "stream")
DEFAULT_LR = {"sgd": 0.01, "adam": 0.005, "adagrad": 0.1}
"""Default learning rate of each optimizer (SGD: the course's 0.01; Adagrad: min-char-rnn's 0.1)."""
DEFAULTS: dict[str, Any] = {
            "cell": "rnn", "hidden_size": 100, "dtype": "float32", "mode": "lines",
            "epochs": 20, "batch_size": 16, "seq_length": 25, "optimizer": "adam",
            "clip": 5.0, "smoothing": 0.99, "evaluations": 50, "patience": 10,
            "lr_decay": 0.5, "lr_patience": 4}
"""The one set of defaults of :class:`CharModel`, :meth:`CharModel.fit` and ``fastrnn train``.

Adam at 0.005 on batches of 16 for 20 epochs, with the validation guards on. On the
embedded names corpus (seed 0, hidden 100) that is 6,140 steps, seconds of training,
and a validation loss of 1.930 nats per character; the former ``fit`` defaults (SGD
0.01 on single lines for one epoch) reached 2.273, and the same Adam run without
learning-rate decay and keep-best ended at 1.990. ``evaluations`` is the number of
evaluations over a run (at least one every 1,000 steps); ``patience`` and
``lr_patience`` are counted in evaluations.
"""
DIVERGENCE_FACTOR = 10.0
"""Training stops with a ValueError when the smoothed training loss or the validation loss
exceeds this many times the untrained model's loss ``log(V)``."""
LONG_LINE = 1000
"""Lines mode warns when the longest line has more characters than this."""
_HYPER = ("lr", "beta1", "beta2", "eps")
_VAL_BATCH = 64
_VAL_WINDOW = 256
_VAL_BLOCKS = 10
_LOG_KEYS = ("iteration", "elapsed", "train_loss", "val_loss", "lr")


def auto_val_fraction(text: str | Sequence[str], mode: str = "lines") -> float:
    """The default validation fraction of ``text``: 0.05 when it is big enough, else 0.

    Big enough: 100 non-empty lines or more in lines mode, 2,000 characters or more in
    stream mode. Smaller texts train on everything (no validation, so no keep-best,
    early stopping or learning-rate decay).

    Parameters
    ----------
    text : str or list of str
        The training text (a list is joined with newlines).
    mode : {"lines", "stream"}

    Returns
    -------
    float
        0.05 or 0.0.

    Examples
    --------
    >>> import fastrnn
    >>> fastrnn.auto_val_fraction(fastrnn.default_corpus())
    0.05
    >>> fastrnn.auto_val_fraction("abc" * 100, mode="stream")
    0.0
    """
    body = _as_text(text)
    mode = _choice(mode, "mode", MODES)
    if mode == "lines":
        big = sum(1 for s in body.split(NEWLINE) if s) >= 100
    else:
        big = len(body) >= 2000
    return 0.05 if big else 0.0


def default_corpus() -> str:
    """The embedded corpus: 5,163 US first names, one per line (see ``fastrnn/data/PROVENANCE.md``).

    Public-domain data from the US Census Bureau's 1990 name files, as shipped by the
    PyPI package ``names`` 0.3.0; lower-case ``a-z``, sorted, no duplicates.

    Returns
    -------
    str
        The names, each followed by ``"\\n"``.

    Examples
    --------
    >>> import fastrnn
    >>> names = fastrnn.default_corpus().split()
    >>> len(names), names[:3]
    (5163, ['aaron', 'abbey', 'abbie'])
    """
    return (resources.files("fastrnn") / "data" / "names.txt").read_text("utf-8")


@dataclass
class TrainInfo:
    """What :meth:`CharModel.fit` passes to its ``callback`` after every iteration.

    Attributes
    ----------
    iteration : int
        The model's iteration count after this step (1-based, cumulative across
        ``fit`` calls and resumes).
    loss : float
        This step's loss per character (nats).
    smooth_loss : float
        Exponentially smoothed ``loss``.
    epoch : float
        Epochs done on this data (fractional).
    step : int
        Steps done in this run, the steps before an interruption included (a resumed
        run counts from where the run started, not from the resume).
    steps : int
        The steps of the whole run.
    val_loss : float or None
        The validation loss when it was computed at this step.
    samples : list of str or None
        The periodic samples when drawn at this step.
    elapsed : float
        Seconds of training in this run (across resumes).
    model : CharModel
        The model being trained.
    evaluated : bool
        True when this step was an evaluation (a row of :attr:`CharModel.history`).
    lr : float or None
        The learning rate after this step.

    Examples
    --------
    >>> import fastrnn
    >>> seen = []
    >>> m = fastrnn.CharModel(hidden_size=8, seed=0)
    >>> h = m.fit("anna\\nbob\\n", iterations=3, callback=seen.append)
    >>> [(i.step, i.steps) for i in seen]
    [(1, 3), (2, 3), (3, 3)]
    """

    iteration: int
    loss: float
    smooth_loss: float
    epoch: float
    step: int
    steps: int
    val_loss: float | None
    samples: list[str] | None
    elapsed: float
    model: CharModel
    evaluated: bool = False
    lr: float | None = None


@dataclass
class History:
    """The losses of one :meth:`CharModel.fit` call (per character, nats).

    The learning curve of the whole run (every evaluation of every ``fit``, kept in
    checkpoints) is :attr:`CharModel.history`.

    Attributes
    ----------
    iteration : list of int
        The model's iteration count after each step.
    loss : list of float
        The loss of each step.
    smooth_loss : list of float
        The smoothed training loss after each step.
    val_iteration, val_loss : list of int, list of float
        When the validation loss was computed, and its value.
    samples : list of (int, list of str)
        The periodic samples and their iteration.
    stopped : bool
        True when the callback stopped training.
    early_stopped : bool
        True when early stopping ended the run (no better validation loss in
        ``patience`` evaluations).
    best_iteration, best_val_loss : int or None, float or None
        The run's lowest validation loss and its iteration (None without validation).
    restored_best : bool
        True when the weights of ``best_iteration`` replaced the last ones at the end of
        the run (``keep_best``).

    Examples
    --------
    >>> import fastrnn
    >>> m = fastrnn.CharModel(hidden_size=8, seed=0)
    >>> h = m.fit("anna\\nbob\\n", iterations=5)
    >>> len(h.loss), h.iteration[-1]
    (5, 5)
    """

    iteration: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    smooth_loss: list[float] = field(default_factory=list)
    val_iteration: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    samples: list[tuple[int, list[str]]] = field(default_factory=list)
    stopped: bool = False
    early_stopped: bool = False
    best_iteration: int | None = None
    best_val_loss: float | None = None
    restored_best: bool = False


class _Data:
    """Training (and validation) data prepared for one mode; private to :meth:`CharModel.fit`."""

    def __init__(self, vocab, text, mode, batch_size, seq_length, val_fraction, seed):
        self.mode, self.B, self.S = mode, batch_size, seq_length
        body = text if isinstance(text, str) else NEWLINE.join(text)
        self.fingerprint = (f"{mode}:{batch_size}:{seq_length}:{val_fraction!r}:"
                            f"{len(body)}:{zlib.crc32(body.encode('utf-8', 'surrogatepass'))}"
                            + (":spread" if mode == "stream" else ""))
        self.newline = vocab.newline
        if mode == "lines":
            lines = body.split(NEWLINE)
            enc = [vocab.encode(s) for s in lines if s]
            if not enc:
                raise ValueError("text has no non-empty line to train on")
            longest = max(len(e) for e in enc)
            if longest > LONG_LINE:
                warnings.warn(
                    f"lines mode trains on whole lines and the longest line has "
                    f"{longest:,} characters (every step runs through all of them, "
                    f"slowly); for running text use mode='stream' (--mode stream)",
                    UserWarning, stacklevel=3)
            n_val = 0
            if val_fraction > 0:
                n_val = max(1, int(round(len(enc) * val_fraction)))
                if n_val >= len(enc):
                    raise ValueError(f"val_fraction={val_fraction} leaves no training line "
                                     f"({len(enc)} line(s) in the text)")
                order = np.random.default_rng([seed, 2]).permutation(len(enc))
                val_ix = set(order[:n_val].tolist())
                self.val = [e for i, e in enumerate(enc) if i in val_ix]
                self.train = [e for i, e in enumerate(enc) if i not in val_ix]
            else:
                self.val, self.train = [], enc
            self.n = len(self.train)
            self.per_epoch = -(-self.n // batch_size)
        else:
            data = vocab.encode(body)
            n_val = int(len(data) * val_fraction) if val_fraction > 0 else 0
            if val_fraction > 0 and n_val < 2:
                raise ValueError(f"val_fraction={val_fraction} of a {len(data)}-character text "
                                 "leaves fewer than 2 validation characters")
            train, self.val = (_spread_split(data, n_val) if n_val else (data, None))
            L = len(train) // batch_size
            if L < 2:
                raise ValueError(f"text is too short for stream mode with batch_size="
                                 f"{batch_size}: each of the {batch_size} stream(s) needs at "
                                 f"least 2 characters, the training text has {len(train)}")
            self.streams = np.ascontiguousarray(train[: L * batch_size].reshape(batch_size, L).T)
            self.L = L
            self.per_epoch = -(-(L - 1) // seq_length)

    def batch(self, idx):
        """Padded ``(X, Y)`` ``(T, b)`` int64 for the lines ``idx`` (line mode)."""
        seqs = [self.train[i] for i in idx] if idx is not None else None
        return _pad(seqs, self.newline)

    def window(self, k):
        """``(X, Y)`` ``(T, B)`` of window ``k`` (stream mode)."""
        s = k * self.S
        e = min(s + self.S, self.L - 1)
        return self.streams[s:e], self.streams[s + 1:e + 1]


def _spread_split(data, n_val):
    """Stream mode's split: ``(train, val_blocks)``.

    The validation text is ``n_val`` characters taken as up to ``_VAL_BLOCKS`` equal
    blocks spread evenly over ``data`` (block ``k`` centred at ``(k + 1/2) / K`` of the
    text, at least 200 characters a block), so it represents the whole text rather than
    its end; the training stream is the rest, joined in order.
    """
    K = max(1, min(_VAL_BLOCKS, n_val // 200))
    sizes = [n_val // K + (1 if k < n_val % K else 0) for k in range(K)]
    n = len(data)
    keep = np.ones(n, bool)
    blocks = []
    for k, size in enumerate(sizes):
        start = min(max(0, int((k + 0.5) * n / K) - size // 2), n - size)
        blocks.append(data[start:start + size])
        keep[start:start + size] = False
    return data[keep], blocks


def _pad(seqs, newline):
    T = max(len(s) for s in seqs) + 1
    X = np.full((T, len(seqs)), -1, np.int64)
    Y = np.full((T, len(seqs)), -1, np.int64)
    for b, s in enumerate(seqs):
        X[1:len(s) + 1, b] = s
        Y[: len(s), b] = s
        Y[len(s), b] = newline
    return X, Y


def _as_text(text, name="text"):
    if isinstance(text, str):
        return text
    if isinstance(text, (list, tuple)):
        for i, s in enumerate(text):
            if not isinstance(s, str):
                raise TypeError(f"{name}[{i}] must be a str, got {type(s).__name__}")
        return NEWLINE.join(text)
    raise TypeError(f"{name} must be a str or a list of str, got {type(text).__name__}")


def _choice(v, name, options):
    if not isinstance(v, str) or v.lower() not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {v!r}")
    return v.lower()


class CharModel:
    """A character-level language model (RNN or LSTM) over a :class:`Vocab`.

    Parameters
    ----------
    vocab : Vocab, str or None
        The vocabulary, or a text to build it from; ``None`` builds it from the text
        of the first :meth:`fit`.
    cell : {"rnn", "lstm", "gru"}
        The recurrent cell.
    hidden_size : int >= 1
        H, the size of the hidden state.
    num_layers : int >= 1
        Stacked recurrent layers (layer k+1 reads layer k's outputs). One ``rnn`` or
        ``lstm`` layer runs on the fused kernels of :class:`fastrnn.RNN` /
        :class:`fastrnn.LSTM`; ``gru`` and stacks run on :mod:`fastrnn.nn`'s layers
        (PyTorch's formulas, gate orders, parameter names and initialisation,
        ``U(-1/sqrt(H), 1/sqrt(H))``; ``init_scale`` then sets the output layer only).
    dropout : float in [0, 1)
        Inverted dropout on the outputs of every layer but the last, during training
        (``torch.nn.LSTM``'s ``dropout``); needs ``num_layers >= 2``.
    dtype : {"float32", "float64"}
        The parameter dtype (float32 is faster; float64 makes runs bit-reproducible
        to compare).
    seed : int >= 0 or None
        The seed of everything random (weights, shuffling, validation split, periodic
        samples); ``None`` draws one, recorded in :attr:`seed`.
    init_scale : float >= 0
        Initial weights are ``N(0, 1) * init_scale`` (the course's 0.01).
    forget_bias : float
        LSTM only: the initial forget-gate bias.

    Attributes
    ----------
    vocab : Vocab or None
        The vocabulary (None until the first fit when not given).
    net : RNN or LSTM or CharNet or None
        The network (None until the vocabulary is known).
    iteration : int
        Training steps done so far (kept by checkpoints).
    mode : str
        The data mode of the last fit ("lines" until then).
    train_config : dict
        The settings of the last fit (the defaults of the next one).
    best : dict or None
        ``{"iteration": int, "val_loss": float}``, the lowest validation loss of the
        current data split (None without validation).
    train_time : float
        Seconds of training since the model was created (across resumes).

    Examples
    --------
    >>> import fastrnn
    >>> m = fastrnn.CharModel(hidden_size=32, seed=0)
    >>> h = m.fit("anna\\nbob\\ncarla\\n", iterations=200)
    >>> names = m.sample(3, seed=1)
    >>> len(names)
    3
    >>> deep = fastrnn.CharModel(cell="gru", num_layers=2, dropout=0.1, hidden_size=16,
    ...                          seed=0)
    >>> h = deep.fit("anna\\nbob\\ncarla\\n", iterations=20)
    >>> sorted(deep.params)[:3], deep.params["weight_hh_l1"].shape   # GRU gates r, z, n
    (['Wy', 'bias_hh_l0', 'bias_hh_l1'], (48, 16))
    """

    def __init__(self, vocab: Vocab | str | None = None, *, cell: str = "rnn",
                 hidden_size: int = 100, dtype: Any = "float32", seed: int | None = None,
                 init_scale: float = 0.01, forget_bias: float = 1.0, num_layers: int = 1,
                 dropout: float = 0.0):
        self.cell = _choice(cell, "cell", CELLS)
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.num_layers = positive_int(num_layers, "num_layers")
        self.dropout = finite_float(dropout, "dropout", 0.0)
        if self.dropout >= 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.dropout > 0 and self.num_layers < 2:
            raise ValueError(f"dropout acts between layers: dropout={self.dropout} needs "
                             f"num_layers >= 2, got {self.num_layers}")
        self.dtype = as_dtype(dtype)
        if seed is None:
            seed = int(cast(int, np.random.SeedSequence().entropy))
        self.seed = positive_int(seed, "seed", minimum=0)
        self.init_scale = finite_float(init_scale, "init_scale", 0.0)
        self.forget_bias = finite_float(forget_bias, "forget_bias")
        self.vocab: Vocab | None = None
        self.net: RNN | LSTM | CharNet | None = None
        self.iteration = 0
        self.mode = "lines"
        self.train_config: dict[str, Any] = {}
        self.smooth_loss: float | None = None
        self._optimizer: Optimizer | None = None
        self._rng = np.random.default_rng([self.seed, 1])
        self._cursor: dict[str, Any] | None = None
        self._log: dict[str, list] = {k: [] for k in _LOG_KEYS}
        self.best: dict[str, Any] | None = None
        self._best_params: dict[str, np.ndarray] | None = None
        self._run: dict[str, Any] | None = None
        self.train_time = 0.0
        if vocab is not None:
            if isinstance(vocab, str):
                vocab = Vocab.from_text(vocab)
            if not isinstance(vocab, Vocab):
                raise TypeError(f"vocab must be a Vocab, a str or None, got {type(vocab).__name__}")
            self._build(vocab)

    @property
    def _layered(self) -> bool:
        """True when the network is a :class:`CharNet` (``gru`` or a stack)."""
        return self.cell == "gru" or self.num_layers > 1

    def _build(self, vocab):
        self.vocab = vocab
        if self._layered:
            self.net = CharNet(self.cell, len(vocab), self.hidden_size, self.num_layers,
                               self.dropout, dtype=self.dtype,
                               init_rng=np.random.default_rng([self.seed, 0]),
                               dropout_rng=np.random.default_rng([self.seed, 4]),
                               init_scale=self.init_scale, forget_bias=self.forget_bias)
            return
        kw = {"forget_bias": self.forget_bias} if self.cell == "lstm" else {}
        self.net = CELLS[self.cell](len(vocab), self.hidden_size, dtype=self.dtype,
                                    rng=np.random.default_rng([self.seed, 0]),
                                    init_scale=self.init_scale, **kw)

    def __repr__(self):
        v = len(self.vocab) if self.vocab is not None else None
        layers = (f", num_layers={self.num_layers}" if self.num_layers > 1 else "") + (
            f", dropout={self.dropout}" if self.dropout else "")
        return (f"CharModel(cell={self.cell!r}, hidden_size={self.hidden_size}{layers}, "
                f"vocab_size={v}, dtype={self.dtype.name!r}, seed={self.seed}, "
                f"iteration={self.iteration})")

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The weights (the wrapped model's dict; modified in place by training)."""
        return self._require_net()[1].params

    def _require_net(self) -> tuple[Vocab, RNN | LSTM | CharNet]:
        """The vocabulary and the network, or a ValueError while there are none."""
        if self.vocab is None or self.net is None:
            raise ValueError("the model has no vocabulary yet: call fit(text) first "
                             "(or pass vocab=... when creating it)")
        return self.vocab, self.net

    # ----------------------------------------------------------------- training
    def fit(self, text: str | Sequence[str], *, mode: str | None = None,
            iterations: int | None = None, epochs: int | None = None,
            batch_size: int | None = None, seq_length: int | None = None,
            optimizer: str | Optimizer | None = None, lr: float | None = None,
            clip: float | None = None, clip_norm: float | None = None,
            val_fraction: float | None = None, eval_every: int | None = None,
            keep_best: bool | None = None, patience: int | None = None,
            lr_decay: float | None = None, lr_patience: int | None = None,
            smoothing: float = 0.99, callback: Callable[[TrainInfo], Any] | None = None,
            sample_every: int = 0, n_samples: int = 5, shuffle: bool = True) -> History:
        """Train on ``text``; continue where the last ``fit`` (or the loaded checkpoint) stopped.

        A *run* is the training that one budget (``iterations`` or ``epochs``) asks
        for. When a run was interrupted (its callback returned ``False``, or Ctrl-C in
        ``fastrnn train``), ``fit(text)`` without a budget finishes it: the same step
        budget, evaluation schedule and progress counts, bit for bit as if it had not
        stopped, also across :meth:`save` / :meth:`load`. A budget always starts a new
        run of that many steps from the current position.

        The settings (``mode`` ... ``lr_patience``) default to those of the previous
        ``fit`` of this model, also across :meth:`save` / :meth:`load`; a fresh model
        uses :data:`DEFAULTS` (the same as ``fastrnn train``'s).

        Guards, all driven by the validation loss (so all off without a validation
        split): the weights with the lowest validation loss are kept (``keep_best``)
        and put back when the run ends; the learning rate is multiplied by
        ``lr_decay`` after ``lr_patience`` evaluations without a new best; the run
        stops after ``patience`` evaluations without a new best. Whatever the split,
        training stops with a ``ValueError`` when it diverges: the smoothed training
        loss or the validation loss above ``DIVERGENCE_FACTOR`` (10) times the
        untrained model's ``log(V)``.

        Parameters
        ----------
        text : str or list of str
            The training text (a list is joined with newlines). Its characters must all
            be in the vocabulary when the model already has one.
        mode : {"lines", "stream"}, default "lines"
            One example per line, or a continuous stream cut into ``seq_length`` windows
            with the state carried between them (see the module docstring).
        iterations, epochs : int >= 1
            How long to train: a number of steps, or of passes over the training data
            (one of them; default ``epochs=20``, or the rest of an interrupted run).
            Counted from the current position.
        batch_size : int >= 1, default 16
            B: lines per step (padded and masked) or parallel streams.
        seq_length : int >= 1, default 25
            Stream mode: characters per window (truncated-BPTT length).
        optimizer : {"sgd", "adam", "adagrad"} or an Optimizer, default "adam"
            A name keeps the optimizer (and its state) of the previous fit when the
            name is the same; an instance is used as given.
        lr : float > 0 or None
            Learning rate; ``None`` keeps the current optimizer's or uses
            ``DEFAULT_LR[optimizer]`` (sgd 0.01, adam 0.005, adagrad 0.1).
        clip : float >= 0 or None
            Clip every gradient element to ``[-clip, clip]``; 0 disables it. Default:
            5.0 (the course's) unless ``clip_norm`` is given, then 0.
        clip_norm : float > 0 or None, default None
            Rescale the gradients so their global L2 norm is at most ``clip_norm``.
        val_fraction : float in [0, 1) or None
            Hold out this fraction of the lines (a seeded random choice) or of the
            stream (up to 10 blocks spread evenly over the text); its loss is computed
            at every evaluation. Default: :func:`auto_val_fraction` (0.05 for 100 lines
            or 2,000 characters and more, else 0).
        eval_every : int >= 1 or None
            Steps between evaluations (a row of :attr:`history`, the validation loss,
            the guards), and one at the end of the run. Default: 50 evaluations over
            the run, at least one every 1,000 steps.
        keep_best : bool or None
            Keep the weights of the lowest validation loss and put them back when the
            run ends (reaches its budget or stops early). Default: True when there is
            a validation split.
        patience : int >= 0, default 10
            Stop the run after this many evaluations without a new lowest validation
            loss (0 = never).
        lr_decay : float in (0, 1], default 0.5
            Multiply the learning rate by this after ``lr_patience`` evaluations without
            a new lowest validation loss (1 = never).
        lr_patience : int >= 1, default 4
            Evaluations without a new best (since the best or the last decay) before
            the learning rate decays.
        smoothing : float in [0, 1), default 0.99
            ``smooth = smoothing * smooth + (1 - smoothing) * loss`` (it starts at
            ``log(V)``, the untrained loss).
        callback : callable or None
            ``callback(info: TrainInfo)`` after every step; returning ``False`` stops
            training after that step (the model is consistent and can be saved; a
            later ``fit(text)`` finishes the run).
        sample_every : int >= 0, default 0
            Draw ``n_samples`` samples every that many steps (0 = never); they go to
            ``History.samples`` and ``TrainInfo.samples``. They use their own seeded
            generator and do not change the training.
        n_samples : int >= 1, default 5
        shuffle : bool, default True
            Line mode: shuffle the lines at every epoch (seeded).

        Returns
        -------
        History
            The per-character losses of this call.

        Raises
        ------
        ValueError, TypeError
            Bad arguments (named), characters outside the vocabulary (named), a text too
            short for the mode, or a training that diverged (non-finite loss, or a
            finite loss above ``DIVERGENCE_FACTOR * log(V)``).

        Warns
        -----
        UserWarning
            Lines mode on a text whose longest line exceeds ``LONG_LINE`` characters.

        Examples
        --------
        >>> import fastrnn
        >>> m = fastrnn.CharModel(hidden_size=32, seed=0)
        >>> h = m.fit(fastrnn.default_corpus(), iterations=300)
        >>> m.iteration, len(m.history["iteration"]) > 0
        (300, True)
        """
        body = _as_text(text)
        prev = self.train_config

        def last(value, key, default):
            return value if value is not None else prev.get(key, default)

        mode = _choice(last(mode, "mode", DEFAULTS["mode"]), "mode", MODES)
        B = positive_int(last(batch_size, "batch_size", DEFAULTS["batch_size"]), "batch_size")
        S = positive_int(last(seq_length, "seq_length", DEFAULTS["seq_length"]), "seq_length")
        val_fraction = last(val_fraction, "val_fraction", None)
        if val_fraction is not None:
            val_fraction = finite_float(val_fraction, "val_fraction", 0.0)
            if val_fraction >= 1:
                raise ValueError(f"val_fraction must be < 1, got {val_fraction}")
        patience = positive_int(last(patience, "patience", DEFAULTS["patience"]), "patience",
                                minimum=0)
        lr_decay = finite_float(last(lr_decay, "lr_decay", DEFAULTS["lr_decay"]), "lr_decay",
                                0.0, strict=True)
        if lr_decay > 1:
            raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
        lr_patience = positive_int(last(lr_patience, "lr_patience", DEFAULTS["lr_patience"]),
                                   "lr_patience")
        keep_best = last(keep_best, "keep_best", None)
        if keep_best is not None and not isinstance(keep_best, (bool, np.bool_)):
            raise TypeError(f"keep_best must be a bool or None, got {type(keep_best).__name__}")
        smoothing = finite_float(smoothing, "smoothing", 0.0)
        if smoothing >= 1:
            raise ValueError(f"smoothing must be < 1, got {smoothing}")
        if iterations is not None and epochs is not None:
            raise ValueError("give iterations or epochs, not both")
        if iterations is not None:
            iterations = positive_int(iterations, "iterations")
        if epochs is not None:
            epochs = positive_int(epochs, "epochs")
        sample_every = positive_int(sample_every, "sample_every", minimum=0)
        n_samples = positive_int(n_samples, "n_samples")
        if eval_every is not None:
            eval_every = positive_int(eval_every, "eval_every")
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        if clip is None and clip_norm is None and "clip" in prev:
            clip, clip_norm = prev["clip"], prev.get("clip_norm")
        if clip_norm is not None:
            clip_norm = finite_float(clip_norm, "clip_norm", 0.0, strict=True)
        clip = float((0.0 if clip_norm is not None else DEFAULTS["clip"]) if clip is None
                     else representable(finite_float(clip, "clip", 0.0), "clip", self.dtype))
        if optimizer is None:
            optimizer = self._optimizer if self._optimizer is not None else DEFAULTS["optimizer"]
        opt, new_lr = self._make_optimizer(optimizer, lr)

        if not body.strip(NEWLINE):
            raise ValueError("text is empty: nothing to train on")
        if val_fraction is None:
            val_fraction = auto_val_fraction(body, mode)
        if self.vocab is None:
            vocab = Vocab.from_text(body)
        else:
            vocab = self.vocab
            vocab.check(body, "text")
        data = _Data(vocab, body, mode, B, S, val_fraction, self.seed)
        has_val = data.val is not None and len(data.val) > 0
        if keep_best is None:
            keep_best = has_val
        keep_best = bool(keep_best)
        if self.vocab is None:
            self._build(vocab)

        if new_lr is not None:
            opt.lr = new_lr
        self._optimizer = opt
        cur = self._cursor
        if cur is None or cur.get("fingerprint") != data.fingerprint:
            cur = self._cursor = {"fingerprint": data.fingerprint, "epoch": 0, "pos": 0,
                                  "perm": None, "state": None}
            self.best, self._best_params = None, None  # the best of another split
            self._run = None
        run = self._run
        if (iterations is not None or epochs is not None or run is None or run["done"]):
            steps = iterations if iterations is not None else \
                (epochs or DEFAULTS["epochs"]) * data.per_epoch
            ee = eval_every or max(1, min(-(-steps // DEFAULTS["evaluations"]), 1000))
            run = self._run = {"start": self.iteration, "target": self.iteration + steps,
                               "time0": self.train_time, "eval_every": ee, "since_best": 0,
                               "since_decay": 0, "done": False, "stop": None}
        elif eval_every is not None:
            run["eval_every"] = eval_every
        eval_every = run["eval_every"]
        _check_cursor(cur, data, self.net)
        self.mode = mode
        self.train_config = {"mode": mode, "batch_size": B, "seq_length": S,
                             "optimizer": opt.name, "lr": float(opt.lr), "clip": clip,
                             "clip_norm": clip_norm, "val_fraction": val_fraction,
                             "keep_best": keep_best, "patience": patience,
                             "lr_decay": lr_decay, "lr_patience": lr_patience}
        vocab, net = self._require_net()
        k = _ext.kernels()
        fused = (type(opt) is SGD and clip_norm is None and not self._layered
                 and hasattr(k, f"{self.cell}_train_step_ix"))
        untrained = math.log(len(vocab))
        if self.smooth_loss is None:
            self.smooth_loss = untrained
        limit = DIVERGENCE_FACTOR * untrained
        hist = History()
        t_last = time.perf_counter()
        while self.iteration < run["target"]:
            if mode == "lines":
                if cur["perm"] is None:
                    cur["perm"] = (self._rng.permutation(data.n) if shuffle
                                   else np.arange(data.n))
                pos = cur["pos"]
                X, Y = data.batch(cur["perm"][pos:pos + B].tolist())
                state = None
            else:
                X, Y = data.window(cur["pos"])
                state = cur["state"]
            b = X.shape[1]
            if fused:
                loss, final = cast("RNN | LSTM", net).train_step(X, Y, state, lr=opt.lr / b,
                                                                 clip=clip * b)
            else:
                loss, grads, final = net.loss_and_grads(X, Y, state)
                grads.pop("da0", None)
                grads.pop("dc0", None)
                if b > 1:
                    k.scale_(list(grads.values()), 1.0 / b)
                if clip > 0:
                    clip_by_value(grads, clip)
                if clip_norm is not None:
                    clip_by_norm(grads, clip_norm)
                opt.step(net.params, grads)
                net._watch_loss(loss, Y)        # train_step does it on the fused path
            # advance the cursor (only after a completed update)
            if mode == "lines":
                cur["pos"] += b
                if cur["pos"] >= data.n:
                    cur["pos"], cur["perm"] = 0, None
                    cur["epoch"] += 1
            else:
                cur["pos"] += 1
                cur["state"] = final
                if cur["pos"] >= data.per_epoch:
                    cur["pos"], cur["state"] = 0, None
                    cur["epoch"] += 1
            self.iteration += 1
            step = self.iteration - run["start"]
            loss = float(loss) / max(1, int(np.count_nonzero(Y >= 0)))
            self.smooth_loss = smoothing * self.smooth_loss + (1.0 - smoothing) * loss
            hist.iteration.append(self.iteration)
            hist.loss.append(loss)
            hist.smooth_loss.append(self.smooth_loss)
            val_loss = None
            evaluated = step % eval_every == 0 or self.iteration == run["target"]
            if evaluated:
                if has_val:
                    # on one thread: a threaded BLAS call leaves OpenBLAS's workers spinning
                    # for ~0.1 s, which slowed the training steps after each evaluation
                    # (names corpus, 50 evaluations: 9.5-10.4 s against 5.7-6.2 s with 10)
                    with threads(1):
                        val_loss = self._eval(data.val, mode)
                    hist.val_iteration.append(self.iteration)
                    hist.val_loss.append(val_loss)
                now = time.perf_counter()
                self.train_time += now - t_last
                t_last = now
                self._record(val_loss, opt.lr)
            if self.smooth_loss > limit or (val_loss is not None and val_loss > limit):
                self._diverged(run, val_loss, untrained, opt, keep_best)
            if val_loss is not None:
                self._guard(run, val_loss, keep_best, patience, lr_decay, lr_patience, opt)
            samples = None
            if sample_every and self.iteration % sample_every == 0:
                samples = self.sample(n_samples,
                                      rng=np.random.default_rng([self.seed, 3, self.iteration]))
                hist.samples.append((self.iteration, samples))
            now = time.perf_counter()
            self.train_time += now - t_last
            t_last = now
            stop_early = run["stop"] == "early"
            if self.iteration >= run["target"] or stop_early:
                run["done"] = True
                hist.early_stopped = stop_early
                if keep_best and self._best_params is not None and \
                        self.best is not None and self.best["iteration"] != self.iteration:
                    self.restore_best()
                    hist.restored_best = True
            if callback is not None:
                epoch = cur["epoch"] + (cur["pos"] / (data.n if mode == "lines"
                                                      else data.per_epoch))
                info = TrainInfo(self.iteration, loss, self.smooth_loss, epoch, step,
                                 run["target"] - run["start"], val_loss, samples,
                                 self.train_time - run["time0"], self, evaluated,
                                 float(opt.lr))
                if callback(info) is False and not run["done"]:
                    hist.stopped = True
                    break
            if run["done"]:
                break
        self.train_config["lr"] = float(opt.lr)
        if self.best is not None:
            hist.best_iteration = self.best["iteration"]
            hist.best_val_loss = self.best["val_loss"]
        return hist

    def _record(self, val_loss, lr):
        """Append one evaluation to the run log (:attr:`history`)."""
        log = self._log
        log["iteration"].append(self.iteration)
        log["elapsed"].append(self.train_time)
        log["train_loss"].append(float(self.smooth_loss))
        log["val_loss"].append(float("nan") if val_loss is None else float(val_loss))
        log["lr"].append(float(lr))

    def _guard(self, run, val_loss, keep_best, patience, lr_decay, lr_patience, opt):
        """Keep-best, learning-rate decay on plateau and early stopping, after an evaluation."""
        if self.best is None or val_loss < self.best["val_loss"]:
            self.best = {"iteration": self.iteration, "val_loss": float(val_loss)}
            self._best_params = ({k: p.copy() for k, p in self.net.params.items()}
                                 if keep_best else None)
            run["since_best"] = run["since_decay"] = 0
            return
        run["since_best"] += 1
        run["since_decay"] += 1
        if lr_decay < 1 and run["since_decay"] >= lr_patience:
            opt.lr = opt.lr * lr_decay
            run["since_decay"] = 0
        if patience and run["since_best"] >= patience:
            run["stop"] = "early"

    def _diverged(self, run, val_loss, untrained, opt, keep_best):
        """Stop a run whose loss exploded (finite): restore the best weights, raise."""
        run["done"], run["stop"] = True, "diverged"
        what = (f"the validation loss is {val_loss:.4g}" if val_loss is not None
                and val_loss > DIVERGENCE_FACTOR * untrained
                else f"the smoothed training loss is {self.smooth_loss:.4g}")
        kept = ""
        if keep_best and self._best_params is not None:
            self.restore_best()
            kept = (f"; the weights of iteration {self.best['iteration']} (the lowest "
                    f"validation loss) were put back")
        raise ValueError(
            f"training diverged at iteration {self.iteration}: {what} nats per character, "
            f"more than {DIVERGENCE_FACTOR:g} times the untrained model's log(V) = "
            f"{untrained:.3f}; lower the learning rate (lr={opt.lr:g}){kept}")

    def restore_best(self) -> CharModel:
        """Put the weights of the lowest validation loss back (in place); return ``self``.

        :meth:`fit` does this at the end of a run when ``keep_best`` is on; the optimizer
        state, data position and iteration count stay those of the last step.

        Returns
        -------
        CharModel
            ``self``.

        Raises
        ------
        ValueError
            No best weights are kept (no validation split, or ``keep_best=False``).

        Examples
        --------
        >>> import fastrnn
        >>> m = fastrnn.CharModel(hidden_size=16, seed=0)
        >>> h = m.fit(fastrnn.default_corpus(), iterations=60, eval_every=20)
        >>> m.restore_best().best["iteration"] in (20, 40, 60)
        True
        """
        if self._best_params is None:
            raise ValueError("no best weights are kept: they need a validation split "
                             "(val_fraction > 0) and keep_best=True")
        _, net = self._require_net()
        for k, p in net.params.items():
            np.copyto(p, self._best_params[k])
        return self

    @property
    def history(self) -> dict[str, np.ndarray]:
        """The learning curve: one entry per evaluation of every run (kept by checkpoints).

        Returns
        -------
        dict of str -> ndarray, each of shape (E,) for E evaluations
            ``"iteration"`` (int64), ``"elapsed"`` (seconds of training since the model
            was created, across resumes), ``"train_loss"`` (the smoothed training loss),
            ``"val_loss"`` (NaN without a validation split) and ``"lr"``, all float64;
            losses in nats per character.

        Examples
        --------
        >>> import fastrnn
        >>> m = fastrnn.CharModel(hidden_size=8, seed=0)
        >>> h = m.fit("anna\\nbob\\n", iterations=10, eval_every=5)
        >>> m.history["iteration"].tolist()
        [5, 10]
        """
        return {k: np.array(v, np.int64 if k == "iteration" else np.float64)
                for k, v in self._log.items()}

    def _make_optimizer(self, optimizer, lr):
        """``(optimizer, lr)``: the optimizer to train with and a new learning rate for it
        (or None); nothing is changed until :meth:`fit` has checked all its input."""
        if lr is not None:
            lr = finite_float(lr, "lr", 0.0, strict=True)
        if isinstance(optimizer, Optimizer):
            return optimizer, lr
        name = _choice(optimizer, "optimizer", OPTIMIZERS)
        opt = self._optimizer
        if opt is None or opt.name != name:
            return OPTIMIZERS[name](lr=DEFAULT_LR[name] if lr is None else lr), None
        return opt, lr

    @property
    def optimizer(self) -> Optimizer | None:
        """The optimizer of the last fit (with its state), or None."""
        return self._optimizer

    def _eval(self, val, mode):
        net = self.net
        total, count = 0.0, 0
        if mode == "lines":
            for s in range(0, len(val), _VAL_BATCH):
                X, Y = _pad(val[s:s + _VAL_BATCH], self.vocab.newline)
                total += net.loss(X, Y)
                count += int(np.count_nonzero(Y >= 0))
        else:
            for block in val:  # the state starts at zero in every block
                state = None
                for s in range(0, len(block) - 1, _VAL_WINDOW):
                    e = min(s + _VAL_WINDOW, len(block) - 1)
                    loss, state = net.loss(block[s:e], block[s + 1:e + 1], state,
                                           return_state=True)
                    total += loss
                    count += e - s
        return total / max(count, 1)

    def evaluate(self, text: str | Sequence[str], mode: str | None = None) -> float:
        """The loss per character (nats) of ``text``, without training.

        Parameters
        ----------
        text : str or list of str, every character in the vocabulary.
        mode : {"lines", "stream"} or None (default: the model's :attr:`mode`).

        Returns
        -------
        float
            The cross-entropy per predicted character, in nats (``log(V)`` untrained).

        Examples
        --------
        >>> import math, fastrnn
        >>> m = fastrnn.CharModel("abc\\n", hidden_size=8, seed=0)
        >>> abs(m.evaluate("abc\\ncab\\n") - math.log(4)) < 0.01   # untrained: uniform
        True
        """
        vocab, _ = self._require_net()
        body = _as_text(text)
        mode = self.mode if mode is None else _choice(mode, "mode", MODES)
        vocab.check(body, "text")
        if mode == "lines":
            val: list[np.ndarray] | np.ndarray = [vocab.encode(s) for s in body.split(NEWLINE) if s]
            if not val:
                raise ValueError("text has no non-empty line")
        else:
            val = [vocab.encode(body)]
            if len(val[0]) < 2:
                raise ValueError("text must have at least 2 characters in stream mode")
        return self._eval(val, mode)

    # ----------------------------------------------------------------- sampling
    def sample(self, n: int = 1, *, max_length: int | None = None, temperature: float = 1.0,
               top_k: int = 0, greedy: bool = False, prime: str = "",
               stop_at_newline: bool | None = None, seed: int | None = None,
               rng: np.random.Generator | None = None) -> list[str]:
        """Generate ``n`` strings.

        Parameters
        ----------
        n : int >= 1, the number of samples.
        max_length : int >= 1 or None
            Characters generated per sample at most (the prime not counted); default 50
            in line mode (the course's limit), 200 in stream mode.
        temperature : float >= 0
            The logits are divided by it before the softmax (< 1: more conservative,
            > 1: more varied); 0 is greedy.
        top_k : int >= 0, sample only among the ``k`` most likely characters (0 = all).
        greedy : bool, always take the most likely character (same as ``temperature=0``).
        prime : str
            A text run through the model first to warm its state; each sample starts
            with it. Its characters must be in the vocabulary (ValueError names the
            others).
        stop_at_newline : bool or None
            End a sample at its first newline (not included in the string). Default:
            True in line mode, False in stream mode.
        seed, rng : reproducibility; give at most one (default: fresh randomness).

        Returns
        -------
        list of str, ``prime`` + the generated characters, ``n`` of them.

        Examples
        --------
        >>> import fastrnn
        >>> m = fastrnn.CharModel(hidden_size=16, seed=0)
        >>> h = m.fit("anna\\nbob\\ncarla\\n", iterations=100)
        >>> out = m.sample(2, prime="b", temperature=0.5, seed=1)
        >>> len(out), all(s.startswith("b") for s in out)
        (2, True)
        """
        vocab, net = self._require_net()
        n = positive_int(n, "n")
        if max_length is None:
            max_length = 50 if self.mode == "lines" else 200
        max_length = positive_int(max_length, "max_length")
        check_sizes({"max_length": (2 * max_length,)}, 8, f"max_length={max_length}")
        if n * (max_length + 64) > MACHINE_MEMORY:        # the strings returned
            raise ValueError(f"n={n} samples of max_length={max_length} would not fit in "
                             "this machine's memory")
        temperature = finite_float(temperature, "temperature", 0.0)
        top_k = positive_int(top_k, "top_k", minimum=0)
        if not isinstance(prime, str):
            raise TypeError(f"prime must be a str, got {type(prime).__name__}")
        if seed is not None and rng is not None:
            raise ValueError("give seed or rng, not both")
        if seed is not None:
            seed = positive_int(seed, "seed", minimum=0)
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if greedy:
            temperature = 0.0
        if stop_at_newline is None:
            stop_at_newline = self.mode == "lines"
        rng = rng if rng is not None else np.random.default_rng(seed)
        ix = vocab.encode(prime, "prime")
        if self.mode == "lines":
            warm = np.concatenate([[-1], ix[:-1]]) if len(ix) else None
            start = int(ix[-1]) if len(ix) else -1
        else:
            warm = ix[:-1] if len(ix) > 1 else None
            start = int(ix[-1]) if len(ix) else vocab.newline
        state = None
        if warm is not None and len(warm):
            _, state = net.forward(warm)
        stop = vocab.newline if stop_at_newline else -1
        out = []
        for _ in range(n):
            gen = net.sample(max_length, rng=rng, temperature=temperature, top_k=top_k,
                                  start=start, stop=stop, state=state)
            if stop_at_newline and len(gen) and gen[-1] == stop:
                gen = gen[:-1]
            out.append(prime + vocab.decode(gen))
        return out

    # ---------------------------------------------------------------- checkpoints
    def save(self, path) -> None:
        """Write the model to one ``.npz`` file, atomically.

        It holds the weights, the vocabulary, the configuration, the optimizer and its
        state, the training RNG state, the data position (and carried state), the
        iteration count, the learning curve (:attr:`history`), the lowest validation
        loss and its weights (:attr:`best`), the run's budget and guard counters (so
        an interrupted run resumes exactly) and the fastrnn version; nothing is
        pickled. The file gets the permissions of a new file (the umask). The file is
        written to a temporary file next to ``path`` and renamed over it, so a crash
        mid-save leaves any previous file intact. No suffix is added to ``path``.

        Raises
        ------
        ValueError
            The model has no vocabulary yet (nothing to save).
        OSError
            The directory is missing or not writable.

        Examples
        --------
        >>> import os, tempfile, fastrnn
        >>> m = fastrnn.CharModel("abc\\n", hidden_size=4, seed=0)
        >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
        >>> m.save(path)
        >>> fastrnn.CharModel.load(path).vocab == m.vocab
        True
        """
        vocab, net = self._require_net()
        arrays = {"vocab": vocab.to_array()}
        for name, p in net.params.items():
            arrays["param/" + name] = p
        opt_meta = None
        if self._optimizer is not None:
            o = self._optimizer
            if o.name not in OPTIMIZERS:
                raise ValueError(f"cannot save optimizer {type(o).__name__}: checkpoints "
                                 f"hold {list(OPTIMIZERS)}")
            opt_meta = {"name": o.name,
                        "hyper": {h: float(getattr(o, h)) for h in _HYPER if hasattr(o, h)}}
            for key, v in o.state_dict().items():
                arrays["optim/" + key] = np.asarray(v)
        cursor = None
        if self._cursor is not None:
            c = self._cursor
            cursor = {"fingerprint": c["fingerprint"], "epoch": c["epoch"], "pos": c["pos"],
                      "has_perm": c["perm"] is not None,
                      "n_state": 0 if c["state"] is None else
                      (1 if isinstance(c["state"], np.ndarray) else len(c["state"]))}
            if c["perm"] is not None:
                arrays["cursor/perm"] = np.asarray(c["perm"], np.int64)
            if c["state"] is not None:
                st = (c["state"],) if isinstance(c["state"], np.ndarray) else c["state"]
                for i, s in enumerate(st):
                    arrays[f"cursor/state/{i}"] = s
        for key, v in self.history.items():
            arrays["history/" + key] = v
        if self._best_params is not None:
            for name, p in self._best_params.items():
                arrays["best/" + name] = p
        meta = new_meta(
            model={"cell": self.cell, "hidden_size": self.hidden_size,
                   "vocab_size": len(vocab), "dtype": self.dtype.name, "seed": self.seed,
                   "init_scale": self.init_scale, "forget_bias": self.forget_bias,
                   "num_layers": self.num_layers, "dropout": self.dropout},
            iteration=self.iteration, mode=self.mode, smooth_loss=self.smooth_loss,
            train=self.train_config, optimizer=opt_meta, cursor=cursor,
            rng=self._rng.bit_generator.state, best=self.best, run=self._run,
            train_time=self.train_time,
            dropout_rng=(cast(CharNet, self.net).layer.rng.bit_generator.state
                         if self._layered else None))
        save_npz_atomic(path, arrays, meta)

    @classmethod
    def load(cls, path, vocab: Vocab | None = None) -> CharModel:
        """Read a model written by :meth:`save` (ready to sample or to continue training).

        Parameters
        ----------
        path : str or os.PathLike.
        vocab : Vocab or None; when given, the checkpoint's vocabulary must equal it.

        Raises
        ------
        OSError
            The file cannot be read (missing, a directory, no permission).
        ValueError
            The file is not a fastrnn checkpoint, is damaged or inconsistent, or its
            vocabulary differs from ``vocab``.
        """
        arrays, meta = load_npz(path)
        bad = f"{str(path)!r} is not a valid fastrnn checkpoint"
        try:
            cfg = meta["model"]
            # num_layers and dropout: absent from older checkpoints (one layer)
            m = cls(cell=cfg["cell"], hidden_size=cfg["hidden_size"], dtype=cfg["dtype"],
                    seed=cfg["seed"], init_scale=cfg["init_scale"],
                    forget_bias=cfg["forget_bias"], num_layers=cfg.get("num_layers", 1),
                    dropout=cfg.get("dropout", 0.0))
            v = Vocab.from_array(arrays["vocab"])
            params = {k[6:]: a for k, a in arrays.items() if k.startswith("param/")}
            if m._layered:
                m._build(v)
                net = cast(CharNet, m.net)
                net.load_params(params)
                net.layer.rng.bit_generator.state = meta["dropout_rng"]
            else:
                net = CELLS[m.cell].from_params(params, dtype=m.dtype)
            if (net.hidden_size, net.input_size, net.output_size) != \
                    (m.hidden_size, len(v), len(v)):
                raise ValueError(f"weights of shape H={net.hidden_size}, X={net.input_size}, "
                                 f"Y={net.output_size} do not match hidden_size="
                                 f"{m.hidden_size} and a vocabulary of {len(v)}")
            if isinstance(net, LSTM):
                net._forget_bias = m.forget_bias
            m.vocab, m.net = v, net
            m.iteration = int(meta["iteration"])
            m.mode = _choice(meta["mode"], "mode", MODES)
            m.smooth_loss = None if meta["smooth_loss"] is None else float(meta["smooth_loss"])
            m.train_config = dict(meta.get("train") or {})
            m._rng.bit_generator.state = meta["rng"]
            om = meta.get("optimizer")
            if om is not None:
                opt = OPTIMIZERS[om["name"]](**om["hyper"])
                opt.load_state_dict({k[6:]: a for k, a in arrays.items()
                                     if k.startswith("optim/")})
                m._optimizer = opt
            c = meta.get("cursor")
            if c is not None:
                st: Any = None         # the carried state: an array (RNN), a tuple (LSTM)
                if c["n_state"]:
                    st = tuple(np.ascontiguousarray(arrays[f"cursor/state/{i}"], m.dtype)
                               for i in range(c["n_state"]))
                    if m.cell != "lstm":
                        st = st[0]
                m._cursor = {"fingerprint": c["fingerprint"], "epoch": int(c["epoch"]),
                             "pos": int(c["pos"]),
                             "perm": arrays["cursor/perm"] if c["has_perm"] else None,
                             "state": st}
            # added in 0.2 (older checkpoints have no history, best or run)
            for key in _LOG_KEYS:
                m._log[key] = arrays.get("history/" + key, np.empty(0)).tolist()
            if len({len(v) for v in m._log.values()}) != 1:
                raise ValueError("the history arrays have different lengths")
            m.best = meta.get("best")
            best = {k[5:]: a for k, a in arrays.items() if k.startswith("best/")}
            if best:
                if set(best) != set(net.params) or any(
                        best[k].shape != net.params[k].shape for k in best):
                    raise ValueError("the best weights do not match the weights")
                m._best_params = {k: np.ascontiguousarray(a, m.dtype) for k, a in best.items()}
            m._run = meta.get("run")
            m.train_time = float(meta.get("train_time", 0.0))
            _check_loaded(m)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{bad} ({type(exc).__name__}: {exc})") from None
        if vocab is not None and vocab != m.vocab:
            raise ValueError(f"the checkpoint's vocabulary {m.vocab!r} differs from the "
                             f"expected {vocab!r}")
        return m


def _check_cursor(cur, data, net):
    """ValueError unless the data position ``cur`` (from a checkpoint of a run on the same
    text and settings) fits ``data``: a damaged file must not reach the kernels."""
    bad = "the checkpoint's data position does not fit this text (damaged file?): "
    if data.mode == "lines":
        perm = cur["perm"]
        if not 0 <= cur["pos"] < data.n:
            raise ValueError(f"{bad}line {cur['pos']} of {data.n}")
        if perm is not None and (perm.shape != (data.n,) or not np.array_equal(
                np.sort(perm), np.arange(data.n))):
            raise ValueError(f"{bad}its line order is not a permutation of {data.n} lines")
    else:
        if not 0 <= cur["pos"] < data.per_epoch:
            raise ValueError(f"{bad}window {cur['pos']} of {data.per_epoch}")
        st = cur["state"]
        if st is not None:
            net._state(st, data.B)          # shapes (B, H), finite: ValueError otherwise


def _check_loaded(m):
    """The members of a loaded checkpoint that :meth:`CharModel.fit` and
    :meth:`CharModel.sample` use later, checked now (TypeError/ValueError)."""
    positive_int(m.iteration, "iteration", minimum=0)
    if m.smooth_loss is not None:
        finite_float(m.smooth_loss, "smooth_loss")
    tc = m.train_config
    for key in ("batch_size", "seq_length"):
        if key in tc:
            positive_int(tc[key], key)
    for key, options in (("mode", MODES), ("optimizer", OPTIMIZERS)):
        if key in tc:
            _choice(tc[key], key, options)
    for key, strict in (("lr", True), ("clip", False), ("val_fraction", False)):
        if key in tc:
            finite_float(tc[key], key, 0.0, strict=strict)
    if tc.get("clip_norm") is not None:
        finite_float(tc["clip_norm"], "clip_norm", 0.0, strict=True)
    if tc.get("val_fraction", 0) >= 1:
        raise ValueError("val_fraction must be < 1")
    if m._optimizer is not None:
        o = m._optimizer
        for store in ("m", "v", "mem"):
            if hasattr(o, store):
                extra = set(getattr(o, store)) - set(m.net.params)
                if extra:
                    raise ValueError(f"optimizer state for unknown parameters {sorted(extra)}")
                o._state_for(getattr(o, store), m.net.params)   # shapes and dtypes
    c = m._cursor
    if c is not None:
        if not isinstance(c["fingerprint"], str):
            raise TypeError("cursor fingerprint must be a str")
        positive_int(c["epoch"], "cursor epoch", minimum=0)
        positive_int(c["pos"], "cursor pos", minimum=0)
        perm = c["perm"]
        if perm is not None:
            if perm.ndim != 1 or perm.dtype.kind not in "iu" or not np.array_equal(
                    np.sort(perm), np.arange(len(perm))):
                raise ValueError("cursor perm is not a permutation")
            c["perm"] = perm.astype(np.int64)
        if c["state"] is not None:
            st = c["state"]
            first = st if isinstance(st, np.ndarray) else st[0]
            if m._layered:           # fastrnn.nn state: (num_layers, B, H)
                if first.ndim != 3:
                    raise ValueError(f"cursor state must be (layers, B, H), got shape "
                                     f"{first.shape}")
                m.net._state(st, first.shape[1])
            else:
                if first.ndim != 2:
                    raise ValueError(f"cursor state must be (B, H), got shape {first.shape}")
                m.net._state(st, first.shape[0])


def load(path, vocab: Vocab | None = None) -> CharModel:
    """Read a :class:`CharModel` checkpoint (same as :meth:`CharModel.load`).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :meth:`CharModel.save` (or ``fastrnn train``).
    vocab : Vocab or None
        When given, the checkpoint's vocabulary must equal it.

    Returns
    -------
    CharModel
        Ready to sample, evaluate, or continue training exactly where it stopped.

    Raises
    ------
    OSError
        The file cannot be read.
    ValueError
        Not a valid fastrnn checkpoint, or another vocabulary.

    Examples
    --------
    >>> import os, tempfile, fastrnn
    >>> m = fastrnn.CharModel(hidden_size=8, seed=0)
    >>> h = m.fit("anna\\nbob\\n", iterations=5)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> m.save(path)
    >>> fastrnn.load(path).iteration
    5
    """
    return CharModel.load(path, vocab=vocab)
