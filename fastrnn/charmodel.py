"""The character-level language model: train on any text, generate, checkpoint and resume.

Public (:class:`CharModel`, :func:`load`, :func:`default_corpus`, re-exported by
``fastrnn``). Built on :class:`fastrnn.RNN` / :class:`fastrnn.LSTM`, the optimizers of
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
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, cast

import numpy as np

from . import _ext
from .checkpoint import load_npz, new_meta, save_npz_atomic
from .models import LSTM, RNN
from .optim import OPTIMIZERS, Optimizer, SGD, clip_by_norm, clip_by_value
from ._validation import as_dtype, finite_float, positive_int
from .vocab import NEWLINE, Vocab

CELLS: dict[str, type[RNN] | type[LSTM]] = {"rnn": RNN, "lstm": LSTM}
MODES = ("lines", "stream")
DEFAULT_LR = {"sgd": 0.01, "adam": 0.005, "adagrad": 0.1}
"""Default learning rate of each optimizer (SGD: the course's 0.01; Adagrad: min-char-rnn's 0.1)."""
_HYPER = ("lr", "beta1", "beta2", "eps")
_VAL_BATCH = 64
_VAL_WINDOW = 256


def default_corpus() -> str:
    """The embedded corpus: 5,163 US first names, one per line (see ``fastrnn/data/PROVENANCE.md``).

    Public-domain data from the US Census Bureau's 1990 name files, as shipped by the
    PyPI package ``names`` 0.3.0; lower-case ``a-z``, sorted, no duplicates.
    """
    return (resources.files("fastrnn") / "data" / "names.txt").read_text("utf-8")


@dataclass
class TrainInfo:
    """What :meth:`CharModel.fit` passes to its ``callback`` after every iteration.

    Attributes
    ----------
    iteration : int, the model's iteration count after this step (1-based, cumulative
        across ``fit`` calls and resumes).
    loss : float, this step's loss per character (nats).
    smooth_loss : float, exponentially smoothed ``loss``.
    epoch : float, epochs done on this data (fractional).
    step : int, steps done in this ``fit`` call; steps : int, steps planned.
    val_loss : float or None, the validation loss when it was computed at this step.
    samples : list of str or None, the periodic samples when drawn at this step.
    elapsed : float, seconds since this ``fit`` call started.
    model : the :class:`CharModel` being trained.
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


@dataclass
class History:
    """The losses of one :meth:`CharModel.fit` call (per character, nats).

    Attributes
    ----------
    iteration : list of int, the model's iteration count after each step.
    loss : list of float, the loss of each step.
    smooth_loss : list of float, the smoothed training loss after each step.
    val_iteration, val_loss : lists, when the validation loss was computed, and its value.
    samples : list of (int, list of str), the periodic samples and their iteration.
    stopped : bool, True when the callback stopped training early.
    """

    iteration: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    smooth_loss: list[float] = field(default_factory=list)
    val_iteration: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    samples: list[tuple[int, list[str]]] = field(default_factory=list)
    stopped: bool = False


class _Data:
    """Training (and validation) data prepared for one mode; private to :meth:`CharModel.fit`."""

    def __init__(self, vocab, text, mode, batch_size, seq_length, val_fraction, seed):
        self.mode, self.B, self.S = mode, batch_size, seq_length
        body = text if isinstance(text, str) else NEWLINE.join(text)
        self.fingerprint = (f"{mode}:{batch_size}:{seq_length}:{val_fraction!r}:"
                            f"{len(body)}:{zlib.crc32(body.encode('utf-8', 'surrogatepass'))}")
        self.newline = vocab.newline
        if mode == "lines":
            lines = body.split(NEWLINE)
            enc = [vocab.encode(s) for s in lines if s]
            if not enc:
                raise ValueError("text has no non-empty line to train on")
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
            train = data[: len(data) - n_val] if n_val else data
            self.val = data[len(data) - n_val:] if n_val else None
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
    cell : {"rnn", "lstm"}
        The recurrent cell.
    hidden_size : int >= 1
        H, the size of the hidden state.
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
    vocab : Vocab or None; net : RNN or LSTM or None (None until the vocabulary is known);
    iteration : int, training steps done so far (kept by checkpoints);
    mode : str, the data mode of the last fit ("lines" until then).

    Examples
    --------
    >>> import fastrnn
    >>> m = fastrnn.CharModel(hidden_size=32, seed=0)
    >>> h = m.fit("anna\\nbob\\ncarla\\n", iterations=200)
    >>> names = m.sample(3, seed=1)
    >>> len(names)
    3
    """

    def __init__(self, vocab: Vocab | str | None = None, *, cell: str = "rnn",
                 hidden_size: int = 100, dtype: Any = "float32", seed: int | None = None,
                 init_scale: float = 0.01, forget_bias: float = 1.0):
        self.cell = _choice(cell, "cell", CELLS)
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.dtype = as_dtype(dtype)
        if seed is None:
            seed = int(cast(int, np.random.SeedSequence().entropy))
        self.seed = positive_int(seed, "seed", minimum=0)
        self.init_scale = finite_float(init_scale, "init_scale", 0.0)
        self.forget_bias = finite_float(forget_bias, "forget_bias")
        self.vocab: Vocab | None = None
        self.net: RNN | LSTM | None = None
        self.iteration = 0
        self.mode = "lines"
        self.train_config: dict[str, Any] = {}
        self.smooth_loss: float | None = None
        self._optimizer: Optimizer | None = None
        self._rng = np.random.default_rng([self.seed, 1])
        self._cursor: dict[str, Any] | None = None
        if vocab is not None:
            if isinstance(vocab, str):
                vocab = Vocab.from_text(vocab)
            if not isinstance(vocab, Vocab):
                raise TypeError(f"vocab must be a Vocab, a str or None, got {type(vocab).__name__}")
            self._build(vocab)

    def _build(self, vocab):
        self.vocab = vocab
        kw = {"forget_bias": self.forget_bias} if self.cell == "lstm" else {}
        self.net = CELLS[self.cell](len(vocab), self.hidden_size, dtype=self.dtype,
                                    rng=np.random.default_rng([self.seed, 0]),
                                    init_scale=self.init_scale, **kw)

    def __repr__(self):
        v = len(self.vocab) if self.vocab is not None else None
        return (f"CharModel(cell={self.cell!r}, hidden_size={self.hidden_size}, vocab_size={v}, "
                f"dtype={self.dtype.name!r}, seed={self.seed}, iteration={self.iteration})")

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The weights (the wrapped model's dict; modified in place by training)."""
        return self._require_net()[1].params

    def _require_net(self) -> tuple[Vocab, RNN | LSTM]:
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
            smoothing: float = 0.999, callback: Callable[[TrainInfo], Any] | None = None,
            sample_every: int = 0, n_samples: int = 5, shuffle: bool = True) -> History:
        """Train on ``text``; continue where the last ``fit`` (or the loaded checkpoint) stopped.

        The data settings and the optimizer (``mode``, ``batch_size``, ``seq_length``,
        ``optimizer``, ``lr``, ``clip``, ``clip_norm``, ``val_fraction``) default to
        those of the previous ``fit`` of this model, also across :meth:`save` /
        :meth:`load`, so ``fit(text, iterations=M)`` on a loaded checkpoint continues the
        run exactly; a fresh model uses the defaults below.

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
            (one of them; default ``epochs=1``). Counted from the current position.
        batch_size : int >= 1, default 1
            B: lines per step (padded and masked) or parallel streams.
        seq_length : int >= 1, default 25
            Stream mode: characters per window (truncated-BPTT length).
        optimizer : {"sgd", "adam", "adagrad"} or an Optimizer, default "sgd"
            A name keeps the optimizer (and its state) of the previous fit when the
            name is the same; an instance is used as given.
        lr : float > 0 or None
            Learning rate; ``None`` keeps the current optimizer's or uses
            ``DEFAULT_LR[optimizer]``.
        clip : float >= 0 or None
            Clip every gradient element to ``[-clip, clip]``; 0 disables it. Default:
            5.0 (the course's) unless ``clip_norm`` is given, then 0.
        clip_norm : float > 0 or None
            Rescale the gradients so their global L2 norm is at most ``clip_norm``.
        val_fraction : float in [0, 1), default 0
            Hold out this fraction of the lines (a seeded random choice) or of the end of
            the stream; its loss is computed every ``eval_every`` steps and at the end.
        eval_every : int >= 1 or None
            Default: 10 evaluations over the run, at least one every 1000 steps.
        smoothing : float in [0, 1)
            ``smooth = smoothing * smooth + (1 - smoothing) * loss`` (it starts at
            ``log(V)``, the untrained loss).
        callback : callable or None
            ``callback(info: TrainInfo)`` after every step; returning ``False`` stops
            training after that step (the model is consistent and can be saved).
        sample_every : int >= 0
            Draw ``n_samples`` samples every that many steps (0 = never); they go to
            ``History.samples`` and ``TrainInfo.samples``. They use their own seeded
            generator and do not change the training.
        n_samples : int >= 1
        shuffle : bool
            Line mode: shuffle the lines at every epoch (seeded).

        Returns
        -------
        History
            The per-character losses of this call.

        Raises
        ------
        ValueError, TypeError
            Bad arguments (named), characters outside the vocabulary (named), a text too
            short for the mode, or a training that diverged (non-finite loss).
        """
        body = _as_text(text)
        prev = self.train_config

        def last(value, key, default):
            return value if value is not None else prev.get(key, default)

        mode = _choice(last(mode, "mode", "lines"), "mode", MODES)
        B = positive_int(last(batch_size, "batch_size", 1), "batch_size")
        S = positive_int(last(seq_length, "seq_length", 25), "seq_length")
        val_fraction = finite_float(last(val_fraction, "val_fraction", 0.0), "val_fraction", 0.0)
        if val_fraction >= 1:
            raise ValueError(f"val_fraction must be < 1, got {val_fraction}")
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
        clip = (0.0 if clip_norm is not None else 5.0) if clip is None else \
            finite_float(clip, "clip", 0.0)
        if optimizer is None:
            optimizer = self._optimizer if self._optimizer is not None else "sgd"
        opt, new_lr = self._make_optimizer(optimizer, lr)

        if not body.strip(NEWLINE):
            raise ValueError("text is empty: nothing to train on")
        if self.vocab is None:
            vocab = Vocab.from_text(body)
        else:
            vocab = self.vocab
            vocab.check(body, "text")
        data = _Data(vocab, body, mode, B, S, val_fraction, self.seed)
        if self.vocab is None:
            self._build(vocab)
        steps = iterations if iterations is not None else (epochs or 1) * data.per_epoch
        if eval_every is None:
            eval_every = max(1, min(-(-steps // 10), 1000))

        if new_lr is not None:
            opt.lr = new_lr
        self._optimizer = opt
        cur = self._cursor
        if cur is None or cur.get("fingerprint") != data.fingerprint:
            cur = self._cursor = {"fingerprint": data.fingerprint, "epoch": 0, "pos": 0,
                                  "perm": None, "state": None}
        self.mode = mode
        self.train_config = {"mode": mode, "batch_size": B, "seq_length": S,
                             "optimizer": opt.name, "lr": float(opt.lr), "clip": clip,
                             "clip_norm": clip_norm, "val_fraction": val_fraction}
        vocab, net = self._require_net()
        k = _ext.kernels()
        fused = (type(opt) is SGD and clip_norm is None
                 and hasattr(k, f"{self.cell}_train_step_ix"))
        if self.smooth_loss is None:
            self.smooth_loss = math.log(len(vocab))
        hist = History()
        t0 = time.perf_counter()
        for step in range(1, steps + 1):
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
                loss, final = net.train_step(X, Y, state, lr=opt.lr / b, clip=clip * b)
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
            loss = float(loss) / max(1, int(np.count_nonzero(Y >= 0)))
            self.smooth_loss = smoothing * self.smooth_loss + (1.0 - smoothing) * loss
            hist.iteration.append(self.iteration)
            hist.loss.append(loss)
            hist.smooth_loss.append(self.smooth_loss)
            val_loss = None
            if (data.val is not None and len(data.val)
                    and (step % eval_every == 0 or step == steps)):
                val_loss = self._eval(data.val, mode)
                hist.val_iteration.append(self.iteration)
                hist.val_loss.append(val_loss)
            samples = None
            if sample_every and self.iteration % sample_every == 0:
                samples = self.sample(n_samples,
                                      rng=np.random.default_rng([self.seed, 3, self.iteration]))
                hist.samples.append((self.iteration, samples))
            if callback is not None:
                epoch = cur["epoch"] + (cur["pos"] / (data.n if mode == "lines"
                                                      else data.per_epoch))
                info = TrainInfo(self.iteration, loss, self.smooth_loss, epoch, step, steps,
                                 val_loss, samples, time.perf_counter() - t0, self)
                if callback(info) is False:
                    hist.stopped = True
                    break
        return hist

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
            state = None
            for s in range(0, len(val) - 1, _VAL_WINDOW):
                e = min(s + _VAL_WINDOW, len(val) - 1)
                loss, state = net.loss(val[s:e], val[s + 1:e + 1], state, return_state=True)
                total += loss
                count += e - s
        return total / max(count, 1)

    def evaluate(self, text: str | Sequence[str], mode: str | None = None) -> float:
        """The loss per character (nats) of ``text``, without training.

        Parameters
        ----------
        text : str or list of str, every character in the vocabulary.
        mode : {"lines", "stream"} or None (default: the model's :attr:`mode`).
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
            val = vocab.encode(body)
            if len(val) < 2:
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
        """
        vocab, net = self._require_net()
        n = positive_int(n, "n")
        if max_length is None:
            max_length = 50 if self.mode == "lines" else 200
        max_length = positive_int(max_length, "max_length")
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
        iteration count and the fastrnn version; nothing is pickled. The file is
        written to a temporary file next to ``path`` and renamed over it, so a crash
        mid-save leaves any previous file intact. No suffix is added to ``path``.

        Raises
        ------
        ValueError
            The model has no vocabulary yet (nothing to save).
        OSError
            The directory is missing or not writable.
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
        meta = new_meta(
            model={"cell": self.cell, "hidden_size": self.hidden_size,
                   "vocab_size": len(vocab), "dtype": self.dtype.name, "seed": self.seed,
                   "init_scale": self.init_scale, "forget_bias": self.forget_bias},
            iteration=self.iteration, mode=self.mode, smooth_loss=self.smooth_loss,
            train=self.train_config, optimizer=opt_meta, cursor=cursor,
            rng=self._rng.bit_generator.state)
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
            m = cls(cell=cfg["cell"], hidden_size=cfg["hidden_size"], dtype=cfg["dtype"],
                    seed=cfg["seed"], init_scale=cfg["init_scale"],
                    forget_bias=cfg["forget_bias"])
            v = Vocab.from_array(arrays["vocab"])
            params = {k[6:]: a for k, a in arrays.items() if k.startswith("param/")}
            netcls = CELLS[m.cell]
            net = netcls.from_params(params, dtype=m.dtype)
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
                    if m.cell == "rnn":
                        st = st[0]
                m._cursor = {"fingerprint": c["fingerprint"], "epoch": int(c["epoch"]),
                             "pos": int(c["pos"]),
                             "perm": arrays["cursor/perm"] if c["has_perm"] else None,
                             "state": st}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{bad} ({type(exc).__name__}: {exc})") from None
        if vocab is not None and vocab != m.vocab:
            raise ValueError(f"the checkpoint's vocabulary {m.vocab!r} differs from the "
                             f"expected {vocab!r}")
        return m


def load(path, vocab: Vocab | None = None) -> CharModel:
    """Read a :class:`CharModel` checkpoint (same as :meth:`CharModel.load`)."""
    return CharModel.load(path, vocab=vocab)
