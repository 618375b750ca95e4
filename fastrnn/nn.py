"""Recurrent layers as PyTorch users know them: ``RNN``, ``LSTM``, ``GRU``.

Public. The same constructor arguments, shapes, gate orders, parameter names and numbers
as ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` (``proj_size`` aside), on NumPy arrays::

    import fastrnn.nn as nn
    lstm = nn.LSTM(60, 128, num_layers=2, bidirectional=True, batch_first=True)
    lstm.load_state_dict({k: v.numpy() for k, v in torch_lstm.state_dict().items()})
    y, (h_n, c_n) = lstm(x)                       # x (B, T, 60) float32

Training: ``forward`` in training mode (the default, as in PyTorch; ``eval()`` turns
dropout off and keeps no cache), then ``backward(dy, dh_n)`` returns ``(dx, dhx)`` and
fills ``layer.grads`` (the keys of ``state_dict()``); fastrnn's clipping works on
``layer.grads`` and its optimizers on ``opt.step(layer.params, layer.dgrads)``.

The layers run on the active backend's kernels (``fastrnn.set_backend``): the compiled
``fastrnn._layers`` or the NumPy twin, :mod:`fastrnn.reference`: a whole stack (layers,
directions, dropout, ``batch_first``, lengths) is one ``stack_forward`` / ``stack_backward``
call of the backend (the twin's is the readable one). Every argument is checked here,
before any kernel runs.
"""

from __future__ import annotations

import math

import numpy as np

from . import _ext
from ._validation import as_dtype, finite_float, float_array, positive_int
from .models import _rng
from .reference import _layers as _ref

__all__ = ["RNN", "LSTM", "GRU", "from_torch"]


def _native(a, dtype):
    """True for a C-contiguous ndarray of ``dtype`` (``step`` passes those on unconverted)."""
    return type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous


class _RNNBase:
    """Shared body of :class:`RNN`, :class:`LSTM` and :class:`GRU` (see :class:`LSTM`)."""

    _torch_name = ""

    def __init__(self, mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                 bidirectional, dtype, seed, rng):
        self.mode = mode
        self._cell = _ref.CELLS[mode]
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.num_layers = positive_int(num_layers, "num_layers")
        for name, v in (("bias", bias), ("batch_first", batch_first),
                        ("bidirectional", bidirectional)):
            if not isinstance(v, (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {type(v).__name__} {v!r}")
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.bidirectional = bool(bidirectional)
        self.dropout = finite_float(dropout, "dropout", 0.0)
        if self.dropout >= 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        self.dtype = as_dtype(dtype)
        self.rng = _rng(seed, rng)
        self.training = True
        self._cache = None
        self._stepper = None          # step()'s Stepper, bound to the parameter arrays
        D, H, N = self.num_directions, self.hidden_size, _ref.GATES[self._cell]
        # PyTorch's initialisation: every parameter from U(-1/sqrt(H), 1/sqrt(H)), in
        # the order of its parameter list
        k = 1 / math.sqrt(H)
        self.params = {}
        for name in _ref.param_names(self.num_layers, self.bidirectional, self.bias):
            self.params[name] = self.rng.uniform(-k, k, self._shape(name, N, H, D)).astype(
                self.dtype)
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}

    # ----------------------------------------------------------------- properties

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def dgrads(self):
        """``{"d" + name: grad}`` over the same arrays as :attr:`grads`: the key
        convention of :mod:`fastrnn.optim` (``opt.step(layer.params, layer.dgrads)``)."""
        return {"d" + k: g for k, g in self.grads.items()}

    def _shape(self, name, N, H, D):
        layer = int(name.split("_l")[1].split("_")[0])
        if name.startswith("weight_ih"):
            return (N * H, self.input_size if layer == 0 else D * H)
        if name.startswith("weight_hh"):
            return (N * H, H)
        return (N * H,)

    def __repr__(self):
        extra = "".join(f", {k}={getattr(self, k)!r}" for k, d in (
            ("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
            ("bidirectional", False)) if getattr(self, k) != d)
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra}, "
                f"dtype={self.dtype.name})")

    def train(self, mode=True):
        """Training mode (dropout on, forward keeps what backward needs); returns self."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"mode must be a bool, got {type(mode).__name__}")
        self.training = bool(mode)
        if not self.training:
            self._cache = None
        return self

    def eval(self):
        """Inference mode: no dropout, no cache (``backward`` is unavailable); returns self."""
        return self.train(False)

    # ------------------------------------------------------------------- checks

    def _states(self, hx, B):
        """Initial states as ``(h0, c0)`` (``c0`` None but for the LSTM), zeros when None."""
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        if hx is None:
            z = np.zeros(shape, self.dtype)
            return z, (np.zeros(shape, self.dtype) if self._cell == _ref.LSTM else None)
        if self._cell == _ref.LSTM:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("hx of an LSTM must be a tuple (h_0, c_0)")
            return (float_array(hx[0], "h_0", self.dtype, shape),
                    float_array(hx[1], "c_0", self.dtype, shape))
        return float_array(hx, "hx", self.dtype, shape), None

    def _input(self, x):
        x = float_array(x, "x", self.dtype, ndim=3)
        if x.shape[2] != self.input_size:
            raise ValueError(f"x must have {self.input_size} features (input_size) on its "
                             f"last axis, got shape {x.shape}")
        T, B = (x.shape[1], x.shape[0]) if self.batch_first else x.shape[:2]
        if T < 1 or B < 1:
            raise ValueError(f"x must hold at least one step and one sequence, got shape "
                             f"{x.shape}{' (batch_first)' if self.batch_first else ''}")
        return x, T, B

    @staticmethod
    def _lengths(lengths, T, B):
        if lengths is None:
            return None
        a = np.asarray(lengths)
        if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"lengths must hold integers, got dtype {a.dtype}")
        if a.shape != (B,):
            raise ValueError(f"lengths must have shape ({B},) (one per sequence), got {a.shape}")
        if a.min() < 1 or a.max() > T:
            raise ValueError(f"lengths must be in [1, {T}] (the number of steps), got "
                             f"min {a.min()}, max {a.max()}")
        return np.ascontiguousarray(a, dtype=np.int64)

    # ------------------------------------------------------------------ compute

    def forward(self, x, hx=None, lengths=None):
        """Run the layers over a batch of sequences.

        Parameters
        ----------
        x : (T, B, input_size), or (B, T, input_size) with ``batch_first``; cast to the
            layer's dtype.
        hx : initial states (D*num_layers, B, hidden_size), zeros when None; for the
            LSTM a tuple ``(h_0, c_0)``.
        lengths : (B,) integers in [1, T], or None: sequence ``b`` has ``lengths[b]``
            steps (PyTorch's packed sequence: outputs past its end are zero, the final
            state is that of its last step, the reverse direction starts there).

        Returns
        -------
        y : (T, B, D*hidden_size) (or batch first), the last layer's outputs.
        h_n : (D*num_layers, B, hidden_size); for the LSTM a tuple ``(h_n, c_n)``.
        """
        x, T, B = self._input(x)
        h0, c0 = self._states(hx, B)
        return self._run(x, h0, c0, self._lengths(lengths, T, B))

    __call__ = forward

    def _run(self, x, h0, c0, lens):
        """:meth:`forward` on checked arguments (``x`` may also be ``(T, B)`` int64 indices
        in [-1, input_size): one-hot rows, for the character models; ``dx`` is then None)."""
        T, B = (x.shape[1], x.shape[0]) if self.batch_first else x.shape[:2]
        masks = None
        if self.training and self.dropout > 0 and self.num_layers > 1:
            keep = 1 - self.dropout      # inverted dropout: kept entries scaled by 1/keep
            shape = (T, B, self.num_directions * self.hidden_size)
            masks = [((self.rng.random(shape) >= self.dropout) / keep).astype(self.dtype)
                     for _ in range(self.num_layers - 1)]
        k = _ext.kernels()
        y, hn, cn, cache = k.stack_forward(
            self._cell, x, self.params, h0, c0, lens, masks, self.num_layers,
            self.bidirectional, self.batch_first)
        self._cache = (cache, k, y.shape) if self.training else None
        return y, ((hn, cn) if self._cell == _ref.LSTM else hn)

    def backward(self, dy, dh_n=None, dc_n=None):
        """Gradients of the last training-mode forward; fills :attr:`grads`.

        Parameters
        ----------
        dy : like ``y``, the gradient on the outputs (ignored past a sequence's end).
        dh_n : like ``h_n`` or None (zeros); dc_n : like ``c_n`` (LSTM only) or None.

        Returns
        -------
        dx : like ``x``; dhx : like ``hx`` (``(dh_0, dc_0)`` for the LSTM).
        """
        if self._cache is None:
            raise RuntimeError("backward needs a forward in training mode first (train(), "
                               "then forward); each forward allows one backward")
        cache, k, yshape = self._cache
        dy = float_array(dy, "dy", self.dtype, yshape)
        sshape = cache["hx"].shape
        dh_n = None if dh_n is None else float_array(dh_n, "dh_n", self.dtype, sshape)
        if dc_n is not None:
            if self._cell != _ref.LSTM:
                raise TypeError(f"dc_n is for the LSTM only, not {type(self).__name__}")
            dc_n = float_array(dc_n, "dc_n", self.dtype, sshape)
        self._cache = None                       # the kernels' backward consumes the cache
        for g in self.grads.values():
            g.fill(0)
        dx, dh0, dc0 = k.stack_backward(cache, self.params, dy, dh_n, dc_n, self.grads)
        return dx, ((dh0, dc0) if self._cell == _ref.LSTM else dh0)

    def step(self, x_t, state=None):
        """One time step of every layer (unidirectional layers; no dropout), for streaming.

        Parameters
        ----------
        x_t : (B, input_size) the step's inputs.
        state : like ``h_n`` of :meth:`forward` (``(h, c)`` for the LSTM), or None (zeros).

        Returns
        -------
        y_t : (B, hidden_size) the last layer's output; state : the new state.
        """
        if self.bidirectional:
            raise ValueError("step() runs unidirectional layers only (a reverse direction "
                             "needs the whole sequence)")
        # C-contiguous ndarrays of the layer's dtype go to the stepper as they are (it
        # checks their shapes and values); anything else is converted (or refused) first
        if not (_native(x_t, self.dtype) and x_t.ndim == 2):
            x_t = float_array(x_t, "x_t", self.dtype, ndim=2)
        B = x_t.shape[0]
        h0 = c0 = None                    # None: zeros, inside the stepper
        if state is not None:
            lstm = self._cell == _ref.LSTM
            if lstm and (not isinstance(state, (tuple, list)) or len(state) != 2):
                raise TypeError("the state of an LSTM must be a tuple (h, c)")
            h0, c0 = state if lstm else (state, None)
            if not (_native(h0, self.dtype) and (not lstm or _native(c0, self.dtype))):
                h0, c0 = self._states(state, B)       # converts, or raises naming it
        k = _ext.kernels()
        st = self._stepper
        if st is None or st.batch != B or type(st) is not k.Stepper or \
                not st.current(self.params):
            st = self._stepper = k.Stepper(self._cell, B, self.input_size, self.hidden_size,
                                           self.num_layers, self.bias,
                                           tuple(self.params.values()))
        return st.step(x_t, h0, c0)

    # ------------------------------------------------------------------ weights

    def state_dict(self):
        """Copies of the parameters under PyTorch's names (``weight_ih_l0``, ...)."""
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state_dict, strict=True):
        """Copy parameters in place (the arrays of :attr:`params` keep their identity).

        Parameters
        ----------
        state_dict : mapping of PyTorch's names to arrays (or anything ``np.asarray`` takes,
            e.g. ``{k: v.numpy() for k, v in module.state_dict().items()}``).
        strict : bool; True requires exactly this layer's keys. Shapes are always checked.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        missing = [k for k in self.params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in self.params]
        if strict and (missing or unexpected):
            raise ValueError(f"state_dict does not match {self!r}: missing key(s) {missing}, "
                             f"unexpected key(s) {unexpected}")
        new = {k: float_array(np.asarray(state_dict[k]), f"state_dict[{k!r}]", self.dtype,
                              self.params[k].shape) for k in self.params if k in state_dict}
        for k, v in new.items():                 # all checked before any is written
            np.copyto(self.params[k], v)

    def to_torch(self):
        """A ``torch.nn.RNN/LSTM/GRU`` with this layer's arguments, weights, dtype and mode
        (imports torch)."""
        import torch

        kw = dict(num_layers=self.num_layers, bias=self.bias, batch_first=self.batch_first,
                  dropout=self.dropout, bidirectional=self.bidirectional,
                  dtype=torch.float32 if self.dtype == np.float32 else torch.float64)
        if self._cell in (_ref.RNN_TANH, _ref.RNN_RELU):
            kw["nonlinearity"] = "tanh" if self._cell == _ref.RNN_TANH else "relu"
        m = getattr(torch.nn, self._torch_name)(self.input_size, self.hidden_size, **kw)
        m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.params.items()})
        return m.train(self.training)


class RNN(_RNNBase):
    """Elman RNN layers, ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (or relu):
    ``torch.nn.RNN``'s arguments and semantics; see :class:`LSTM` for the methods."""

    _torch_name = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, *, dtype=np.float32,
                 seed=None, rng=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype, seed, rng)


class LSTM(_RNNBase):
    """LSTM layers with ``torch.nn.LSTM``'s arguments, semantics and weights.

    Parameters
    ----------
    input_size, hidden_size : int, features of the input and of the state ``H``.
    num_layers : int, stacked layers (layer k+1 reads layer k's outputs).
    bias : bool, False drops ``bias_ih_*`` / ``bias_hh_*``.
    batch_first : bool, inputs and outputs ``(B, T, F)`` instead of ``(T, B, F)``.
    dropout : float in [0, 1), inverted dropout on the outputs of every layer but the
        last, in training mode; masks from the layer's Generator.
    bidirectional : bool, a reverse direction per layer (outputs concatenated, D = 2).
    dtype : float32 (default) or float64.
    seed, rng : the Generator for initialisation and dropout (``rng`` is used as is).

    Notes
    -----
    Gates ``[i, f, g, o]`` in blocks of ``H`` rows of ``weight_ih_l{k}`` (4H, input_size)
    and ``weight_hh_l{k}`` (4H, H); ``c_t = f c_{t-1} + i g``, ``h_t = o tanh(c_t)``.
    Parameters live in ``params`` and gradients in ``grads`` (the same keys).
    """

    _torch_name = "LSTM"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, dtype=np.float32, seed=None, rng=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype, seed, rng)


class GRU(_RNNBase):
    """GRU layers with ``torch.nn.GRU``'s arguments, semantics and weights: gates
    ``[r, z, n]``, ``n = tanh(W_in x + b_in + r (W_hn h + b_hn))``,
    ``h_t = (1 - z) n + z h_{t-1}``; see :class:`LSTM` for the methods."""

    _torch_name = "GRU"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, dtype=np.float32, seed=None, rng=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype, seed, rng)


def from_torch(module, dtype=None):
    """The fastrnn layer equivalent to a ``torch.nn.RNN``, ``LSTM`` or ``GRU``: the same
    arguments, weights, training mode, and dtype (the module's, unless ``dtype``)."""
    kind = type(module).__name__
    if kind not in ("RNN", "LSTM", "GRU") or not hasattr(module, "state_dict"):
        raise TypeError(f"module must be a torch.nn.RNN, LSTM or GRU, got {kind}")
    if getattr(module, "proj_size", 0):
        raise ValueError("LSTM with proj_size > 0 is not supported")
    sd = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    if dtype is None:
        dtype = next(iter(sd.values())).dtype
    kw = dict(num_layers=module.num_layers, bias=module.bias, batch_first=module.batch_first,
              dropout=float(module.dropout), bidirectional=module.bidirectional, dtype=dtype)
    if kind == "RNN":
        layer = RNN(module.input_size, module.hidden_size,
                    nonlinearity=module.nonlinearity, **kw)
    else:
        layer = (LSTM if kind == "LSTM" else GRU)(module.input_size, module.hidden_size, **kw)
    layer.load_state_dict(sd)
    return layer.train(module.training)
