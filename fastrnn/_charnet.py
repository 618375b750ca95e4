"""The network of :class:`fastrnn.CharModel` for ``cell="gru"`` and stacked cells.

Private. ``CharNet`` is a :mod:`fastrnn.nn` layer (``RNN`` / ``LSTM`` / ``GRU``, any
number of layers, dropout between them) with a softmax output layer, behind the same
methods :class:`CharModel` uses on :class:`fastrnn.RNN` / :class:`fastrnn.LSTM`
(``loss``, ``forward``, ``loss_and_grads``, ``sample``, ``params``); the single-layer
``rnn`` / ``lstm`` models keep their fused kernels and never come here.

Character inputs (indices, ``-1`` = zero input) go to the first layer as indices: the
engine takes column ``x`` of ``W_ih`` as the input projection (the product with a
one-hot row, bit for bit) and adds the gradient into that column (no ``dx``). Sampling
steps with one-hot rows (``step`` takes dense inputs). The state is that of the layers:
``h (L, B, H)``, for the LSTM ``(h, c)``.

Parameters: the layer's, under PyTorch's names (``weight_ih_l0``, ...), and the output
layer's ``Wy (V, H)``, ``by (V,)``; the arrays are the layer's own (an optimizer updating
``params`` in place updates the layer).
"""

from __future__ import annotations

import numpy as np

from . import _ext, nn
from ._validation import check_finite_loss, float_array, index_array, positive_int
from .models import _rng, watch_loss
from .reference._ops import sample_pick

LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class CharNet:
    """``num_layers`` recurrent layers of ``cell`` and a softmax output layer.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}.
    input_size : int, V (the vocabulary); also the output size.
    hidden_size, num_layers : int >= 1.
    dropout : float in [0, 1), inverted dropout between layers (training only).
    dtype : float32 or float64.
    init_rng, dropout_rng : numpy Generators for the weights and the dropout masks.
    init_scale : the output layer's weights are ``N(0, 1) * init_scale`` (``by`` 0); the
        recurrent layers get PyTorch's ``U(-1/sqrt(H), 1/sqrt(H))``.
    forget_bias : LSTM: the forget block of ``bias_ih`` is set to it and that of
        ``bias_hh`` to 0 (the initial forget-gate bias, as for the single-layer LSTM).
    """

    def __init__(self, cell, input_size, hidden_size, num_layers, dropout, *, dtype,
                 init_rng, dropout_rng, init_scale, forget_bias):
        self.cell = cell
        self.input_size = self.output_size = positive_int(input_size, "input_size")
        self.hidden_size = H = positive_int(hidden_size, "hidden_size")
        self.layer = LAYERS[cell](self.input_size, H, num_layers=num_layers, dropout=dropout,
                                  dtype=dtype, rng=init_rng)
        self.layer.rng = dropout_rng
        self.dtype = self.layer.dtype
        if cell == "lstm":
            for k in range(num_layers):
                self.layer.params[f"bias_ih_l{k}"][H:2 * H] = forget_bias
                self.layer.params[f"bias_hh_l{k}"][H:2 * H] = 0
        self.params = dict(self.layer.params)
        self.params["Wy"] = (init_rng.standard_normal((self.output_size, H))
                             * init_scale).astype(self.dtype)
        self.params["by"] = np.zeros(self.output_size, self.dtype)
        self._loss_start = None       # _watch_loss: the first loss per target
        self._warned = False

    def _state(self, state, B):
        """``state`` checked as the layers take it: (num_layers, B, H) arrays, a tuple
        ``(h, c)`` for the LSTM (ValueError/TypeError otherwise)."""
        return self.layer._states(state, B)

    def _watch_loss(self, loss, y):
        """The fit loop's divergence warning, as the fused models have it."""
        watch_loss(self, loss, y)

    @property
    def num_layers(self):
        return self.layer.num_layers

    def load_params(self, params):
        """Copy ``params`` (exactly this network's keys and shapes) into :attr:`params`."""
        missing = [k for k in self.params if k not in params]
        unexpected = [k for k in params if k not in self.params]
        if missing or unexpected:
            raise ValueError(f"the weights do not match a {self.num_layers}-layer {self.cell}: "
                             f"missing {missing}, unexpected {unexpected}")
        new = {k: float_array(np.asarray(params[k]), k, self.dtype, shape=p.shape)
               for k, p in self.params.items()}
        for k, v in new.items():
            np.copyto(self.params[k], v)

    # ------------------------------------------------------------------- inputs
    def _indices(self, X):
        """Index inputs ``(T,)`` / ``(T, B)`` as a C-contiguous int64 ``(T, B)`` array."""
        ix = index_array(X, "X", self.input_size)
        if ix.ndim == 1:
            ix = ix[:, None]
        if ix.ndim != 2 or ix.shape[0] < 1 or ix.shape[1] < 1:
            raise ValueError(f"X must be (T,) or (T, B) indices, got shape {ix.shape}")
        return np.ascontiguousarray(ix)

    def _targets(self, Y, shape):
        y = index_array(Y, "Y", self.output_size)
        if y.ndim == 1:
            y = y[:, None]
        if y.shape != shape:
            raise ValueError(f"Y must have shape {shape} like X, got {y.shape}")
        return y

    def _run(self, X, state, training):
        x = self._indices(X)
        self.layer.train(training)
        y, hn = self.layer._run(x, *self.layer._states(state, x.shape[1]), None)
        return x.shape, y, hn

    # --------------------------------------------------------------------- API
    def forward(self, X, state=None):
        """The last layer's outputs ``(T, B, H)`` and the final state (no dropout)."""
        _, y, hn = self._run(X, state, False)
        return y, hn

    def loss(self, X, Y, state=None, return_state=False):
        """Summed cross-entropy (no dropout, no gradients); ``(loss, state)`` with
        ``return_state``."""
        shape, y, hn = self._run(X, state, False)
        targets = self._targets(Y, shape)
        P = np.empty(shape + (self.output_size,), self.dtype)
        loss = float(_ext.kernels().softmax_xent_forward(y, self.params["Wy"],
                                                         self.params["by"], targets, P))
        check_finite_loss(loss)
        return (loss, hn) if return_state else loss

    def loss_and_grads(self, X, Y, state=None):
        """Summed cross-entropy (dropout on), gradients ``{"d" + name: array}`` (the
        layer's gradient arrays, overwritten by the next call) and the final state."""
        x = self._indices(X)
        targets = self._targets(Y, x.shape)
        h0, c0 = self.layer._states(state, x.shape[1])
        self.layer.train(True)
        y, hn = self.layer._run(x, h0, c0, None)
        p = self.params
        dWy, dby = np.zeros_like(p["Wy"]), np.zeros_like(p["by"])
        dA = np.zeros_like(y)
        P = np.empty(x.shape + (self.output_size,), self.dtype)
        loss = float(_ext.kernels().softmax_xent(y, p["Wy"], p["by"], targets, P, dWy, dby,
                                                 dA))
        check_finite_loss(loss)
        self.layer.backward(dA)
        grads = {"d" + k: g for k, g in self.layer.grads.items()}
        grads["dWy"], grads["dby"] = dWy, dby
        return loss, grads, hn

    def sample(self, n, *, seed=None, rng=None, temperature=1.0, top_k=0, start=-1,
               stop=-1, state=None):
        """Generate up to ``n`` indices, each fed back as the next input (as
        :meth:`fastrnn.RNN.sample`: one uniform per index, the same pick rule)."""
        n = positive_int(n, "n")
        top_k = positive_int(top_k, "top_k", minimum=0)
        start = int(start)
        if not -1 <= start < self.input_size:
            raise ValueError(f"start must be in [-1, {self.input_size - 1}], got {start}")
        u = _rng(seed, rng).random(n)
        Wy, by = self.params["Wy"], self.params["by"]
        x = np.zeros((1, self.input_size), self.dtype)
        if start >= 0:
            x[0, start] = 1
        self.layer.eval()
        out = []
        for i in range(n):
            h, state = self.layer.step(x, state)
            k = sample_pick(Wy @ h[0] + by, temperature, top_k, u[i])
            out.append(k)
            if k == stop:
                break
            x.fill(0)
            x[0, k] = 1
        return np.array(out, np.int64)
