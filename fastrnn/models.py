"""The library's recurrent models: :class:`RNN` and :class:`LSTM` with a softmax output layer.

Public. Each model owns its parameters (a dict of C-contiguous arrays of one dtype),
checks every input with :mod:`fastrnn._validation`, and runs on the active backend
(``fastrnn.set_backend``): the compiled kernels by default, their NumPy twin otherwise.

Inputs are character indices ``(T,)`` or ``(T, B)`` (``-1`` = zero input) or dense
vectors ``(T, B, X)`` (float); targets are indices ``(T,)`` / ``(T, B)`` with ``-1``
masking a position out of the loss and every gradient (padding). The loss is the
cross-entropy **summed** over time steps and batch rows (the course's convention).

Parameter layouts (course names, DESIGN.md):

- RNN: ``Wax (H, X)``, ``Waa (H, H)``, ``ba (H,)``, ``Wya (Y, H)``, ``by (Y,)``.
- LSTM: ``Wx (4H, X)``, ``Wh (4H, H)``, ``b (4H,)``, ``Wy (Y, H)``, ``by (Y,)``; the four
  gate blocks are stacked in the order **[f, i, c, o]** (forget, update, candidate,
  output): block ``k`` is rows ``k*H:(k+1)*H``. The gates act on ``[a_prev; x_t]`` as in
  the course (``Wf = [Wh_f | Wx_f]``).

Threads: one model may be used from several threads. Read-only calls (``loss``,
``forward``, ``predict_proba``, ``sample``, ``loss_and_grads``) run concurrently, each
thread in workspaces of its own; ``train_step`` takes the model's lock exclusively, so
training calls run one at a time and never overlap a read.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings

import numpy as np

from . import _ext
from ._validation import (
    INT_MAX,
    all_finite,
    as_dtype,
    check_finite_loss,
    check_sizes,
    finite_float,
    float_array,
    index_array,
    index_int,
    positive_int,
    representable,
)

EXPLODE_FACTOR = 100.0
"""``train_step`` warns (once per model) when a loss per target exceeds this factor times
the larger of the model's first one and ``log(output_size)`` (uniform guessing)."""


_NO_TARGETS = object()


class _RWLock:
    """Many readers or one writer; a waiting writer holds back new readers."""

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @contextlib.contextmanager
    def read(self):
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self):
        with self._cond:
            self._waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()

GATES = ("f", "i", "c", "o")
"""The LSTM gate order of the stacked weights ``Wx``, ``Wh``, ``b`` (used everywhere)."""


def _rng(seed=None, rng=None):
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    if seed is not None and not isinstance(seed, np.random.SeedSequence):
        seed = positive_int(seed, "seed", minimum=0)
    return np.random.default_rng(seed)


def watch_loss(model, loss, y):
    """Warn once (per model) when the training loss per target explodes: more than
    ``EXPLODE_FACTOR`` times the first one (or than log V, or 1). ``model`` keeps the
    state in ``_loss_start`` and ``_warned``. Called by the models' ``train_step`` and by
    ``CharModel.fit``'s optimizer path."""
    per = float(loss) / max(1, int(np.count_nonzero(y >= 0)))
    if model._loss_start is None:
        model._loss_start = per
    elif not model._warned and per > EXPLODE_FACTOR * max(
            model._loss_start, math.log(model.output_size), 1.0):
        model._warned = True
        warnings.warn(
            f"{type(model).__name__}: the training loss exploded to {per:.3g} per target "
            f"(it started at {model._loss_start:.3g}): training is diverging; lower the "
            "learning rate or clip the gradients", RuntimeWarning, stacklevel=4)


class _Model:
    cell = ""
    param_names: tuple[str, ...] = ()
    n_state = 1

    # ------------------------------------------------------------- construction
    def _init_from(self, params, dtype):
        self.dtype = as_dtype(dtype)
        self.params = {}
        for name, shape in self._shapes().items():
            self.params[name] = float_array(params[name], name, self.dtype, shape=shape)
        self._tls = threading.local()  # per-thread workspaces: read-only calls never share
        self._lock = _RWLock()        # train_step writes; every other call reads
        self._grads = None
        self._trainer = None          # RNN: the RNNTrainer of the last train_step
        self._trainer_backend = None
        self._backup = None           # train_step: the parameters before the update
        self._loss_start = None       # train_step: the first loss per target
        self._warned = False

    @classmethod
    def _check_sizes(cls, H, X, Y, itemsize):
        """Sizes >= 1 and small enough for the kernels and the machine, before allocating."""
        for v, n in ((H, "hidden_size"), (X, "input_size"), (Y, "output_size")):
            positive_int(v, n)
        # the parameters, their gradients and the float64 initial draw
        check_sizes(cls._shapes_of(H, X, Y), itemsize, f"{cls.__name__}(input_size={X}, "
                    f"hidden_size={H}, output_size={Y})", copies=3)

    def _checked_params(self):
        """``self.params`` after checking it still holds the arrays the kernels need
        (a user may have deleted or replaced one)."""
        p = self.params
        if not isinstance(p, dict):
            raise TypeError(f"model.params must be a dict, got {type(p).__name__}")
        for name, shape in self._shapes().items():
            a = p.get(name)
            if a is None:
                raise ValueError(f"model.params is missing {name!r}")
            if (type(a) is not np.ndarray or a.dtype != self.dtype or a.shape != shape
                    or not a.flags.c_contiguous or not a.flags.writeable):
                raise ValueError(f"model.params[{name!r}] must be a writeable C-contiguous "
                                 f"{self.dtype.name} array of shape {shape}, got "
                                 f"{getattr(a, 'dtype', type(a).__name__)} "
                                 f"{getattr(a, 'shape', '')}")
        return p

    def _finite_params(self, what):
        p = self._checked_params()
        if not all_finite([p[k] for k in self.param_names]):
            raise ValueError(f"the parameters hold NaN or infinity: cannot {what} (training "
                             "diverged? lower the learning rate)")

    @classmethod
    def from_params(cls, params, dtype=None):
        """Build a model around existing parameters (copied, cast to ``dtype``).

        Parameters
        ----------
        params : dict with the keys of ``param_names`` (shapes as in the module docstring).
        dtype : float32/float64, default: that of the first weight.
        """
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict, got {type(params).__name__}")
        missing = [k for k in cls.param_names if k not in params]
        if missing:
            raise ValueError(f"params is missing key(s) {missing}")
        if dtype is not None:
            dtype = as_dtype(dtype)
        try:
            first = np.asarray(params[cls.param_names[0]])
            H, X, Y = cls._sizes_of(params)
        except (ValueError, OverflowError) as exc:   # ragged nested lists
            raise ValueError(f"params: {exc}") from None
        for v, n in ((H, "hidden size"), (X, "input size"), (Y, "output size")):
            if v < 1:
                raise ValueError(f"params give a {n} of {v} (shapes "
                                 f"{ {k: np.shape(params[k]) for k in cls.param_names} }); "
                                 "every dimension must be >= 1")
        cls._check_sizes(H, X, Y, 8)
        self = cls.__new__(cls)
        self.input_size, self.hidden_size, self.output_size = X, H, Y
        dt = dtype if dtype is not None else (first.dtype if first.dtype in (np.float32, np.float64) else np.float64)
        self._init_from({k: np.array(params[k], copy=True) for k in cls.param_names}, dt)
        return self

    def _random_init(self, input_size, hidden_size, output_size, dtype, seed, rng, init_scale):
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.output_size = positive_int(output_size if output_size is not None else input_size,
                                        "output_size")
        self._check_sizes(self.hidden_size, self.input_size, self.output_size, 8)
        dtype = as_dtype(dtype)
        scale = finite_float(init_scale, "init_scale", 0.0, dtype=dtype)
        g = _rng(seed, rng)
        params = {}
        for name, shape in self._shapes().items():
            if name.startswith("b"):
                params[name] = np.zeros(shape)
            else:
                params[name] = g.standard_normal(shape) * scale
                if params[name].size and np.abs(params[name]).max() >= np.finfo(dtype).max:
                    raise ValueError(f"init_scale={scale} makes the initial weights overflow "
                                     f"{dtype.name}")
        self._bias_init(params)
        self._init_from(params, dtype)

    def _bias_init(self, params):
        pass

    def __repr__(self):
        return (f"{type(self).__name__}(input_size={self.input_size}, hidden_size="
                f"{self.hidden_size}, output_size={self.output_size}, dtype={self.dtype.name})")

    # ------------------------------------------------------------------- inputs
    def _inputs(self, X, name="X"):
        """Return (x, dense, T, B) with x (T, B) int64 or (T, B, X) float of self.dtype.

        Lists and integer arrays are index sequences ``(T,)`` / ``(T, B)``; float arrays
        are dense inputs ``(T, X)`` / ``(T, B, X)``."""
        if isinstance(X, np.ndarray) and X.size and X.dtype.kind == "f":
            arr = X[:, None, :] if X.ndim == 2 else X
            x = float_array(arr, name, self.dtype, shape=(None, None, self.input_size))
            return x, True, x.shape[0], x.shape[1]
        x = index_array(X, name, self.input_size)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise ValueError(f"{name} must be (T,) or (T, B) indices, got shape {x.shape}")
        return x, False, x.shape[0], x.shape[1]

    def _targets(self, Y, T, B):
        y = index_array(Y, "Y", self.output_size)
        if y.ndim == 1:
            y = y[:, None]
        if y.shape != (T, B):
            raise ValueError(f"Y must have shape ({T}, {B}) like X, got {y.shape}")
        return y

    def _workspace(self, T, B):
        key = (T, B)
        cache = getattr(self._tls, "ws", None)       # this thread's workspaces
        if cache is None:
            cache = self._tls.ws = {}
        ws = cache.get(key)
        if ws is None:
            if len(cache) > 8:
                cache.clear()
            check_sizes(self._workspace_shapes(T, B), self.dtype.itemsize,
                        f"a sequence of T={T} by B={B}")
            ws = self._make_workspace(T, B)
            cache[key] = ws
        return ws

    def _batch(self, batch):
        B = positive_int(batch, "batch")
        check_sizes({"the state": (B, self.hidden_size)}, 2 * self.dtype.itemsize,
                    f"batch={B}")
        return B

    def zero_grads(self):
        """A dict of zero gradients ``{"d" + name: zeros_like(param)}``."""
        return {"d" + k: np.zeros_like(self.params[k]) for k in self.param_names}

    @property
    def n_params(self):
        """Total number of scalar parameters."""
        return int(sum(self.params[k].size for k in self.param_names))

    def _run_forward(self, X, state, Y=_NO_TARGETS):
        """Check ``X`` (and ``Y``, before any work) and ``state``, then run the recurrence
        into the workspace. Returns ``(kernels, x, dense, T, B, y, state arrays, ws)``."""
        self._checked_params()
        x, dense, T, B = self._inputs(X)
        y = None if Y is _NO_TARGETS else self._targets(Y, T, B)
        st = self._state(state, B)
        ws = self._workspace(T, B)
        k = _ext.kernels()
        self._forward(k, x, dense, st, ws)
        return k, x, dense, T, B, y, st, ws

    # --------------------------------------------------------------- public API
    def loss(self, X, Y, state=None, return_state=False):
        """Summed cross-entropy of targets ``Y`` given inputs ``X`` (no gradients).

        With ``return_state=True`` returns ``(loss, final_state)``, the state after the
        last step (copies), to carry into the next window.
        """
        with self._lock.read():
            k, x, dense, T, B, y, st, ws = self._run_forward(X, state, Y)
            p = self.params
            loss = k.softmax_xent_forward(ws["A"], p[self._wy], p["by"], y, ws["P"])
            check_finite_loss(loss)
            if return_state:
                return float(loss), self._final_state(ws)
            return float(loss)

    def forward(self, X, state=None):
        """Run the recurrence only (no output layer).

        Returns
        -------
        A : ndarray (T, B, H), the hidden states a_1..a_T (a new array).
        final_state : the state after the last step (RNN ``(B, H)``; LSTM ``(a, c)``).
        """
        with self._lock.read():
            ws = self._run_forward(X, state)[-1]
            if not np.isfinite(ws["A"][-1]).all():
                check_finite_loss(float("nan"), "hidden state")
            return ws["A"].copy(), self._final_state(ws)

    def predict_proba(self, X, state=None):
        """Softmax outputs ``(T, B, Y)`` for inputs ``X`` (a new array)."""
        with self._lock.read():
            self._finite_params("predict probabilities")
            k, x, dense, T, B, y, st, ws = self._run_forward(X, state)
            P = np.empty((T, B, self.output_size), self.dtype)
            k.softmax_xent_forward(ws["A"], self.params[self._wy], self.params["by"],
                                   np.full((T, B), -1, np.int64), P)
            return P

    def sample(self, n, *, seed=None, rng=None, temperature=1.0, top_k=0, start=-1,
               stop=-1, state=None):
        """Generate up to ``n`` indices, each fed back as the next input.

        Parameters
        ----------
        n : int >= 1, maximum number of indices.
        seed, rng : reproducibility (``numpy.random.Generator``); one uniform per index.
        temperature : float >= 0, logits are divided by it; 0 = greedy (argmax).
        top_k : int >= 0, sample only among the k most likely (0 = all).
        start : int, first input index (-1 = zero input).
        stop : int, stop after emitting this index (-1 = never).
        state : initial state for batch 1 (default zeros); it is not modified.

        Returns
        -------
        ndarray of int64, the generated indices (length <= n).
        """
        n = positive_int(n, "n", maximum=INT_MAX)
        check_sizes({"the uniforms and the output": (2 * n,)}, 8, f"sample(n={n})")
        temperature = finite_float(temperature, "temperature", 0.0)
        top_k = min(positive_int(top_k, "top_k", minimum=0), self.output_size)  # >= Y: all
        start = index_int(start, "start", -1, self.input_size)
        stop = index_int(stop, "stop", -1, self.output_size)
        if self.output_size > self.input_size:
            raise ValueError("sampling feeds outputs back as inputs: output_size must be "
                             "<= input_size")
        g = _rng(seed, rng)
        with self._lock.read():
            self._finite_params("sample")
            st = [np.array(s[0], copy=True) for s in self._state(state, 1)]
            temperature = self._sample_temperature(temperature)
            k = _ext.kernels()
            u = g.random(n)
            out = np.empty(n, np.int64)
            m = self._sample(k, st, start, u, temperature, top_k, stop, out)
            return out[:m]

    def _sample_temperature(self, temperature):
        """``temperature``, or 0 (greedy) when it is so small that a logit divided by it
        overflows float64: the limit of the distribution as the temperature goes to 0, the
        same pick on both backends. The logits are bounded by the output layer's row
        sums of ``|W|`` plus ``|by|`` (the hidden state is in [-1, 1])."""
        if temperature == 0 or temperature >= 1e-200:
            return temperature
        Wy, by = self.params[self._wy], self.params["by"]
        bound = (float(np.abs(Wy).sum(axis=1, dtype=np.float64).max())
                 + float(np.abs(by).max()))
        return 0.0 if bound / temperature > 1e307 else temperature

    def loss_and_grads(self, X, Y, state=None, dA=None):
        """Summed cross-entropy and every gradient.

        Parameters
        ----------
        X : inputs; Y : targets (see the module docstring).
        state : initial state (default zeros): RNN ``a0 (B, H)``; LSTM ``(a0, c0)``.
        dA : optional extra upstream gradient on the hidden states ``(T, B, H)``.

        Returns
        -------
        loss : float
        grads : dict ``{"d" + name: array}`` plus ``"da0"`` (and ``"dc0"`` for the LSTM,
            ``"dx"`` for dense inputs); new arrays owned by the caller.
        final_state : the last state (RNN: ``(B, H)``; LSTM: ``(a, c)``), copies.
        """
        with self._lock.read():
            k, x, dense, T, B, y, st, ws = self._run_forward(X, state, Y)
            grads = self.zero_grads()
            if dA is None:
                ws["dA"][...] = 0
            else:
                ws["dA"][...] = float_array(dA, "dA", self.dtype,
                                            shape=(T, B, self.hidden_size))
            p = self.params
            loss = k.softmax_xent(ws["A"], p[self._wy], p["by"], y, ws["P"],
                                  grads["d" + self._wy], grads["dby"], ws["dA"])
            check_finite_loss(loss)
            final = self._final_state(ws)
            self._backward(k, x, dense, st, ws, grads)
            if not all_finite(grads.values()):
                raise ValueError("the gradients are not finite (they overflow the model's "
                                 "dtype): the parameters are too large; lower the learning "
                                 "rate or clip the gradients")
            return float(loss), grads, final

    def train_step(self, X, Y, state=None, *, lr=0.01, clip=5.0):
        """One fused SGD training step on index sequences (the course's ``optimize``).

        Forward, summed cross-entropy, BPTT, clip every gradient to ``[-clip, clip]``
        (``clip=0`` disables it) and ``p += -lr * g``, in one kernel call.

        A step whose loss, gradients or updated parameters are not finite raises
        ValueError and leaves the parameters as they were. A loss per target that
        explodes (more than ``EXPLODE_FACTOR`` times the first one, or than
        ``log(output_size)``) warns once per model with a ``RuntimeWarning``.

        Returns
        -------
        loss : float, before the update.
        final_state : the last state of the forward pass (copies).
        """
        self._checked_params()
        x, dense, T, B = self._inputs(X)
        if dense:
            raise TypeError("train_step takes index inputs X; use loss_and_grads for dense x")
        y = self._targets(Y, T, B)
        st = self._state(state, B)
        lr = finite_float(lr, "lr", dtype=self.dtype)
        clip = finite_float(clip, "clip", 0.0, dtype=self.dtype)
        if clip > 0:
            representable(abs(lr) * clip, "lr * clip (the largest update)", self.dtype)
        with self._lock.write():
            params = [self.params[k] for k in self.param_names]
            backup = self._backup
            if backup is None or any(b.shape != p.shape for b, p in zip(backup, params)):
                backup = self._backup = [np.empty_like(p) for p in params]
            for b, p in zip(backup, params):
                np.copyto(b, p)
            loss, final = self._train_step(_ext.kernels(), x, y, state, st, T, B, lr, clip)
            check_finite_loss(loss)    # the kernels skip the update then
            if not all_finite(params):
                for b, p in zip(backup, params):
                    np.copyto(p, b)
                raise ValueError(
                    f"this step (lr={lr}, clip={clip}) made the parameters NaN or infinite "
                    "(the gradients or the update overflow the model's dtype); they are left "
                    "as they were before it: lower the learning rate or clip the gradients")
            self._watch_loss(loss, y)
        return float(loss), final

    def _watch_loss(self, loss, y):
        """Warn once when the loss per target explodes (see :meth:`train_step`)."""
        watch_loss(self, loss, y)

    @property
    def last_grads(self):
        """The (clipped) gradients of the last :meth:`train_step` (internal buffers)."""
        return self._grads


class RNN(_Model):
    """Vanilla RNN with a softmax output layer.

    ``a_t = tanh(Wax x_t + Waa a_{t-1} + ba)``, ``y_t = softmax(Wya a_t + by)``.

    Parameters
    ----------
    input_size : int, X (the vocabulary size for character models).
    hidden_size : int, H.
    output_size : int, Y (default: input_size).
    dtype : float32 (default, fast) or float64.
    seed, rng : initialisation randomness.
    init_scale : weights are ``N(0, 1) * init_scale`` (default 0.01, the course's); biases 0.

    Examples
    --------
    >>> import fastrnn
    >>> m = fastrnn.RNN(27, 50, dtype="float64", seed=0)
    >>> loss, grads, a = m.loss_and_grads([-1, 3, 4], [3, 4, 0])
    >>> sorted(grads)[:3]
    ['dWaa', 'dWax', 'dWya']
    """

    cell = "rnn"
    param_names = ("Wax", "Waa", "ba", "Wya", "by")
    _wy = "Wya"

    def __init__(self, input_size, hidden_size, output_size=None, *, dtype=np.float32,
                 seed=None, rng=None, init_scale=0.01):
        self._random_init(input_size, hidden_size, output_size, dtype, seed, rng, init_scale)

    @staticmethod
    def _sizes_of(params):
        Wax, Wya = np.asarray(params["Wax"]), np.asarray(params["Wya"])
        if Wax.ndim != 2 or Wya.ndim != 2:
            raise ValueError("params Wax and Wya must be 2-D")
        return Wax.shape[0], Wax.shape[1], Wya.shape[0]

    @staticmethod
    def _shapes_of(H, X, Y):
        return {"Wax": (H, X), "Waa": (H, H), "ba": (H,), "Wya": (Y, H), "by": (Y,)}

    def _shapes(self):
        return self._shapes_of(self.hidden_size, self.input_size, self.output_size)

    def initial_state(self, batch=1):
        """Zero state ``a0 (B, H)``."""
        return np.zeros((self._batch(batch), self.hidden_size), self.dtype)

    def _state(self, state, B):
        if state is None:
            return (self.initial_state(B),)
        if isinstance(state, tuple):
            state = state[0]
        return (float_array(state, "state", self.dtype, shape=(B, self.hidden_size)),)

    def _workspace_shapes(self, T, B):
        H, Y = self.hidden_size, self.output_size
        return {"A": (T, B, H), "P": (T, B, Y), "dA": (T, B, H), "da0": (B, H)}

    def _make_workspace(self, T, B):
        return {k: np.empty(s, self.dtype) for k, s in self._workspace_shapes(T, B).items()}

    def _forward(self, k, x, dense, st, ws):
        p = self.params
        f = k.rnn_forward_dense if dense else k.rnn_forward_ix
        f(x, p["Wax"], p["Waa"], p["ba"], st[0], ws["A"])

    def _final_state(self, ws):
        return ws["A"][-1].copy()

    def _backward(self, k, x, dense, st, ws, grads):
        p = self.params
        if dense:
            grads["dx"] = np.empty(x.shape, self.dtype)
            k.rnn_backward_dense(x, p["Wax"], p["Waa"], st[0], ws["A"], ws["dA"], grads["dWax"],
                                 grads["dWaa"], grads["dba"], ws["da0"], grads["dx"])
        else:
            k.rnn_backward_ix(x, p["Waa"], st[0], ws["A"], ws["dA"], grads["dWax"],
                              grads["dWaa"], grads["dba"], ws["da0"])
        grads["da0"] = ws["da0"].copy()

    def _train_step(self, k, x, y, state, st, T, B, lr, clip):
        # an RNNTrainer holds the converted arguments, so a step converts only X and Y;
        # it is rebuilt when the batch, the backend or a parameter array changes
        p = self.params
        tr = self._trainer
        arrays = (p["Wax"], p["Waa"], p["ba"], p["Wya"], p["by"])
        if (tr is None or tr.B != B or tr.max_T < T or self._trainer_backend != k.BACKEND
                or any(a is not b for a, b in zip(tr.params, arrays))):
            max_T = max(T, 2 * tr.max_T) if tr is not None and tr.B == B else T
            tr = self._trainer = k.RNNTrainer(*arrays, max_T, B, clip, lr)
            self._trainer_backend = k.BACKEND
            self._grads = dict(zip(("dWax", "dWaa", "dba", "dWya", "dby"), tr.grads))
        tr.clip = clip
        tr.lr = lr
        if state is None:
            tr.a0.fill(0)
        else:
            np.copyto(tr.a0, st[0])
        loss = tr.step(x, y)
        return loss, tr.A[T - 1].copy()

    def _sample(self, k, st, start, u, temperature, top_k, stop, out):
        p = self.params
        return k.rnn_sample(p["Wax"], p["Waa"], p["ba"], p["Wya"], p["by"], st[0], start, u,
                            temperature, top_k, stop, out)


class LSTM(_Model):
    """LSTM with a softmax output layer (the course's gates, stacked in the order [f, i, c, o]).

    ``f, i, o = sigmoid(.)``, ``c~ = tanh(.)`` of ``W [a_{t-1}; x_t] + b``;
    ``c_t = f * c_{t-1} + i * c~``; ``a_t = o * tanh(c_t)``; ``y_t = softmax(Wy a_t + by)``.

    Parameters
    ----------
    input_size, hidden_size, output_size, dtype, seed, rng, init_scale : as :class:`RNN`.
    forget_bias : float, initial forget-gate bias (default 1.0, a common choice that
        keeps the cell state flowing early in training; the course starts at 0).

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> m = fastrnn.LSTM(27, 32, dtype="float64", seed=0)
    >>> m.params["Wh"].shape, m.params["Wx"].shape      # (4H, H), (4H, X): gates f, i, c, o
    ((128, 32), (128, 27))
    >>> X = np.array([[-1, -1], [3, 1], [4, 2]])         # (T, B) = (3, 2) indices
    >>> loss, grads, (a, c) = m.loss_and_grads(X, [[3, 1], [4, 2], [0, 0]])
    >>> a.shape, c.shape                                  # the final states, (B, H)
    ((2, 32), (2, 32))
    """

    cell = "lstm"
    param_names = ("Wx", "Wh", "b", "Wy", "by")
    _wy = "Wy"

    def __init__(self, input_size, hidden_size, output_size=None, *, dtype=np.float32,
                 seed=None, rng=None, init_scale=0.01, forget_bias=1.0):
        self._forget_bias = finite_float(forget_bias, "forget_bias", dtype=as_dtype(dtype))
        self._random_init(input_size, hidden_size, output_size, dtype, seed, rng, init_scale)

    def _bias_init(self, params):
        params["b"][: self.hidden_size] = self._forget_bias

    @staticmethod
    def _sizes_of(params):
        Wx, Wy = np.asarray(params["Wx"]), np.asarray(params["Wy"])
        if Wx.ndim != 2 or Wy.ndim != 2 or Wx.shape[0] % 4:
            raise ValueError("params Wx must be (4H, X) and Wy (Y, H)")
        return Wx.shape[0] // 4, Wx.shape[1], Wy.shape[0]

    @staticmethod
    def _shapes_of(H, X, Y):
        return {"Wx": (4 * H, X), "Wh": (4 * H, H), "b": (4 * H,), "Wy": (Y, H), "by": (Y,)}

    def _shapes(self):
        return self._shapes_of(self.hidden_size, self.input_size, self.output_size)

    def initial_state(self, batch=1):
        """Zero state ``(a0, c0)``, each ``(B, H)``."""
        B = self._batch(batch)
        return (np.zeros((B, self.hidden_size), self.dtype),
                np.zeros((B, self.hidden_size), self.dtype))

    def _state(self, state, B):
        if state is None:
            return self.initial_state(B)
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError("an LSTM state is a pair (a, c)")
        return tuple(float_array(s, n, self.dtype, shape=(B, self.hidden_size))
                     for s, n in zip(state, ("state[0] (a)", "state[1] (c)")))

    def _workspace_shapes(self, T, B):
        H, Y = self.hidden_size, self.output_size
        return {"A": (T, B, H), "C": (T, B, H), "G": (T, B, 4 * H), "P": (T, B, Y),
                "dA": (T, B, H), "dcT": (B, H), "da0": (B, H), "dc0": (B, H)}

    def _make_workspace(self, T, B):
        return {k: np.zeros(s, self.dtype) for k, s in self._workspace_shapes(T, B).items()}

    def _forward(self, k, x, dense, st, ws):
        p = self.params
        f = k.lstm_forward_dense if dense else k.lstm_forward_ix
        f(x, p["Wx"], p["Wh"], p["b"], st[0], st[1], ws["A"], ws["C"], ws["G"])

    def _final_state(self, ws):
        return ws["A"][-1].copy(), ws["C"][-1].copy()

    def _backward(self, k, x, dense, st, ws, grads):
        p = self.params
        ws["dcT"][...] = 0
        if dense:
            grads["dx"] = np.empty(x.shape, self.dtype)
            k.lstm_backward_dense(x, p["Wx"], p["Wh"], st[0], st[1], ws["A"], ws["C"], ws["G"],
                                  ws["dA"], ws["dcT"], grads["dWx"], grads["dWh"], grads["db"],
                                  ws["da0"], ws["dc0"], grads["dx"])
        else:
            k.lstm_backward_ix(x, p["Wh"], st[0], st[1], ws["A"], ws["C"], ws["G"], ws["dA"],
                               ws["dcT"], grads["dWx"], grads["dWh"], grads["db"], ws["da0"],
                               ws["dc0"])
        grads["da0"] = ws["da0"].copy()
        grads["dc0"] = ws["dc0"].copy()

    def _train_step(self, k, x, y, state, st, T, B, lr, clip):
        if self._grads is None:
            self._grads = self.zero_grads()
        ws = self._workspace(T, B)
        p, g = self.params, self._grads
        loss = k.lstm_train_step_ix(x, y, p["Wx"], p["Wh"], p["b"], p["Wy"], p["by"], st[0],
                                    st[1], ws["A"], ws["C"], ws["G"], ws["P"], ws["dA"],
                                    g["dWx"], g["dWh"], g["db"], g["dWy"], g["dby"], ws["da0"],
                                    ws["dc0"], clip, lr)
        return loss, self._final_state(ws)

    def _sample(self, k, st, start, u, temperature, top_k, stop, out):
        p = self.params
        a, c = st
        return k.lstm_sample(p["Wx"], p["Wh"], p["b"], p["Wy"], p["by"], a, c, start, u,
                             temperature, top_k, stop, out)
