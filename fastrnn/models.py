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
"""

from __future__ import annotations

import numpy as np

from . import _config, _ext
from ._validation import (
    as_dtype,
    check_finite_loss,
    finite_float,
    float_array,
    index_array,
    positive_int,
)

GATES = ("f", "i", "c", "o")
"""The LSTM gate order of the stacked weights ``Wx``, ``Wh``, ``b`` (used everywhere)."""


def _rng(seed=None, rng=None):
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    return np.random.default_rng(seed)


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
        self._ws = {}
        self._grads = None
        self._trainer = None          # RNN: the RNNTrainer of the last train_step
        self._trainer_backend = None

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
        first = np.asarray(params[cls.param_names[0]])
        H, X, Y = cls._sizes_of(params)
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
        scale = finite_float(init_scale, "init_scale", 0.0)
        g = _rng(seed, rng)
        params = {}
        for name, shape in self._shapes().items():
            if name.startswith("b"):
                params[name] = np.zeros(shape)
            else:
                params[name] = g.standard_normal(shape) * scale
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
        _config.auto_threads(B, paired=B == 1 and _config.pairs(_ext.kernels(), self.cell,
                                                                 self.hidden_size))
        key = (T, B)
        ws = self._ws.get(key)
        if ws is None:
            if len(self._ws) > 8:
                self._ws.clear()
            ws = self._make_workspace(T, B)
            self._ws[key] = ws
        return ws

    def zero_grads(self):
        """A dict of zero gradients ``{"d" + name: zeros_like(param)}``."""
        return {"d" + k: np.zeros_like(v) for k, v in self.params.items()}

    @property
    def n_params(self):
        """Total number of scalar parameters."""
        return int(sum(v.size for v in self.params.values()))

    def _run_forward(self, X, state, Y=None):
        """Check ``X`` (and ``Y``, before any work) and ``state``, then run the recurrence
        into the workspace. Returns ``(kernels, x, dense, T, B, y, state arrays, ws)``."""
        x, dense, T, B = self._inputs(X)
        y = None if Y is None else self._targets(Y, T, B)
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
        ws = self._run_forward(X, state)[-1]
        if not np.isfinite(ws["A"][-1]).all():
            check_finite_loss(float("nan"), "hidden state")
        return ws["A"].copy(), self._final_state(ws)

    def predict_proba(self, X, state=None):
        """Softmax outputs ``(T, B, Y)`` for inputs ``X`` (a new array)."""
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
        n = positive_int(n, "n")
        temperature = finite_float(temperature, "temperature", 0.0)
        top_k = positive_int(top_k, "top_k", minimum=0)
        start = int(start)
        if not -1 <= start < self.input_size:
            raise ValueError(f"start must be in [-1, {self.input_size - 1}], got {start}")
        if self.output_size > self.input_size:
            raise ValueError("sampling feeds outputs back as inputs: output_size must be "
                             "<= input_size")
        st = [np.array(s[0], copy=True) for s in self._state(state, 1)]
        k = _ext.kernels()
        _config.auto_threads(1, paired=n > 1 and _config.pairs(k, self.cell, self.hidden_size))
        u = _rng(seed, rng).random(n)
        out = np.empty(n, np.int64)
        m = self._sample(k, st, start, u, temperature, top_k, int(stop), out)
        return out[:m]

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
        k, x, dense, T, B, y, st, ws = self._run_forward(X, state, Y)
        grads = self.zero_grads()
        if dA is None:
            ws["dA"][...] = 0
        else:
            ws["dA"][...] = float_array(dA, "dA", self.dtype, shape=(T, B, self.hidden_size))
        p = self.params
        loss = k.softmax_xent(ws["A"], p[self._wy], p["by"], y, ws["P"],
                              grads["d" + self._wy], grads["dby"], ws["dA"])
        check_finite_loss(loss)
        final = self._final_state(ws)
        self._backward(k, x, dense, st, ws, grads)
        return float(loss), grads, final

    def train_step(self, X, Y, state=None, *, lr=0.01, clip=5.0):
        """One fused SGD training step on index sequences (the course's ``optimize``).

        Forward, summed cross-entropy, BPTT, clip every gradient to ``[-clip, clip]``
        (``clip=0`` disables it) and ``p += -lr * g``, in one kernel call.

        Returns
        -------
        loss : float, before the update.
        final_state : the last state of the forward pass (copies).
        """
        x, dense, T, B = self._inputs(X)
        if dense:
            raise TypeError("train_step takes index inputs; use loss_and_grads for dense x")
        y = self._targets(Y, T, B)
        st = self._state(state, B)
        lr = finite_float(lr, "lr")
        clip = finite_float(clip, "clip", 0.0)
        loss, final = self._train_step(_ext.kernels(), x, y, state, st, T, B, lr, clip)
        check_finite_loss(loss)
        return float(loss), final

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

    def _shapes(self):
        H, X, Y = self.hidden_size, self.input_size, self.output_size
        return {"Wax": (H, X), "Waa": (H, H), "ba": (H,), "Wya": (Y, H), "by": (Y,)}

    def initial_state(self, batch=1):
        """Zero state ``a0 (B, H)``."""
        return np.zeros((positive_int(batch, "batch"), self.hidden_size), self.dtype)

    def _state(self, state, B):
        if state is None:
            return (self.initial_state(B),)
        if isinstance(state, tuple):
            state = state[0]
        return (float_array(state, "state", self.dtype, shape=(B, self.hidden_size)),)

    def _make_workspace(self, T, B):
        H, Y, dt = self.hidden_size, self.output_size, self.dtype
        return {"A": np.empty((T, B, H), dt), "P": np.empty((T, B, Y), dt),
                "dA": np.empty((T, B, H), dt), "da0": np.empty((B, H), dt)}

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
            _config.auto_threads(B)
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
    """

    cell = "lstm"
    param_names = ("Wx", "Wh", "b", "Wy", "by")
    _wy = "Wy"

    def __init__(self, input_size, hidden_size, output_size=None, *, dtype=np.float32,
                 seed=None, rng=None, init_scale=0.01, forget_bias=1.0):
        self._forget_bias = finite_float(forget_bias, "forget_bias")
        self._random_init(input_size, hidden_size, output_size, dtype, seed, rng, init_scale)

    def _bias_init(self, params):
        params["b"][: self.hidden_size] = self._forget_bias

    @staticmethod
    def _sizes_of(params):
        Wx, Wy = np.asarray(params["Wx"]), np.asarray(params["Wy"])
        if Wx.ndim != 2 or Wy.ndim != 2 or Wx.shape[0] % 4:
            raise ValueError("params Wx must be (4H, X) and Wy (Y, H)")
        return Wx.shape[0] // 4, Wx.shape[1], Wy.shape[0]

    def _shapes(self):
        H, X, Y = self.hidden_size, self.input_size, self.output_size
        return {"Wx": (4 * H, X), "Wh": (4 * H, H), "b": (4 * H,), "Wy": (Y, H), "by": (Y,)}

    def initial_state(self, batch=1):
        """Zero state ``(a0, c0)``, each ``(B, H)``."""
        B = positive_int(batch, "batch")
        return (np.zeros((B, self.hidden_size), self.dtype),
                np.zeros((B, self.hidden_size), self.dtype))

    def _state(self, state, B):
        if state is None:
            return self.initial_state(B)
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError("an LSTM state is a pair (a, c)")
        return tuple(float_array(s, n, self.dtype, shape=(B, self.hidden_size))
                     for s, n in zip(state, ("state[0] (a)", "state[1] (c)")))

    def _make_workspace(self, T, B):
        H, Y, dt = self.hidden_size, self.output_size, self.dtype
        return {"A": np.empty((T, B, H), dt), "C": np.empty((T, B, H), dt),
                "G": np.empty((T, B, 4 * H), dt), "P": np.empty((T, B, Y), dt),
                "dA": np.empty((T, B, H), dt), "dcT": np.zeros((B, H), dt),
                "da0": np.empty((B, H), dt), "dc0": np.empty((B, H), dt)}

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
