"""NumPy twin of ``fastrnn._layers``: PyTorch-semantics recurrent layers (RNN, LSTM, GRU).

Private module of the public ``fastrnn.reference`` package. Two levels:

* :func:`rec_forward` / :func:`rec_backward`: one layer in one direction, the kernel
  level (the compiled ``fastrnn._layers`` has the same functions, signatures and
  in-place semantics);
* :func:`stack_forward` / :func:`stack_backward`: layers, directions, dropout between
  layers, ``batch_first`` and ``lengths``, in plain NumPy around the kernel level
  (``fastrnn.nn`` runs them with the kernels of the active backend).

Cells (``cell`` is a code of :data:`CELLS`), PyTorch's formulas and gate orders; per
step ``t`` and batch row, ``gx = W_ih x_t + b_ih`` (hoisted out of the time loop: one
product for the whole sequence) and ``gh = W_hh h_{t-1} + b_hh``::

    RNN_TANH  h_t = tanh(gx + gh)                                   (1 gate block)
    RNN_RELU  h_t = relu(gx + gh)
    LSTM      i, f, g, o = s(gx_i+gh_i), s(gx_f+gh_f), tanh(gx_g+gh_g), s(gx_o+gh_o)
              c_t = f c_{t-1} + i g,   h_t = o tanh(c_t)            (4 blocks [i, f, g, o])
    GRU       r = s(gx_r + gh_r),  z = s(gx_z + gh_z)
              n = tanh(gx_n + r (W_hn h_{t-1} + b_hn))              (3 blocks [r, z, n])
              h_t = n + z (h_{t-1} - n)        (= (1 - z) n + z h_{t-1})

Block ``k`` of a gate axis is entries ``k*H:(k+1)*H``. For RNN and LSTM both biases
join the hoisted projection (``G = x W_ih^T + b_ih + b_hh``); the GRU's ``b_hn`` stays
inside the reset product, so its projection holds ``b_ih + [b_hr, b_hz, 0]``.

Variable lengths (``lengths (B,)``, 1 <= lengths <= T): step ``t`` is *valid* for row
``b`` when ``t < lengths[b]``, in both directions. An invalid step leaves the state as it
was, so the forward direction's state freezes after the last valid step and the reverse
direction (steps ``T-1 .. 0``) keeps ``h0`` until it reaches the last valid step: the
result PyTorch gives for a packed sequence. The kernels' state buffers ``Y`` and ``C``
hold the state after every step, carried through invalid steps (so ``h_{t-1}`` of any
step is the neighbouring entry, or ``h0``); the outputs a user sees are ``Y`` with the
invalid steps zeroed (:func:`stack_forward` does it). ``dY`` at invalid steps is ignored.
"""

from __future__ import annotations

import sys

import numpy as np

CELLS = {"RNN_TANH": 0, "RNN_RELU": 1, "LSTM": 2, "GRU": 3}
"""Cell codes of the kernels (PyTorch's mode names)."""
GATES = (1, 1, 4, 3)
"""Gate blocks per cell code: the weights of a layer are ``(GATES[cell] * H, ...)``."""
RNN_TANH, RNN_RELU, LSTM, GRU = 0, 1, 2, 3


def _sigmoid(z):
    """Stable logistic: ``1/(1+e^-z)`` for z >= 0, ``e^z/(1+e^z)`` else."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _prev(S, s0, t, reverse):
    """The state before step ``t``: the entry of ``S`` processed just before, or ``s0``."""
    if reverse:
        return S[t + 1] if t + 1 < S.shape[0] else s0
    return S[t - 1] if t > 0 else s0


def _order(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


# ------------------------------------------------------------------------- forward

def rec_forward(cell, x, W_ih, W_hh, b_ih, b_hh, h0, c0, lengths, reverse, Y, C, G, hn, cn):
    """One recurrent layer in one direction over a whole (padded) batch.

    Parameters
    ----------
    cell : int, a code of :data:`CELLS`.
    x : IN (T, B, X) inputs, or (T, B) int64 indices in [-1, X): one-hot rows (-1 a zero
        row), whose projection is a column of ``W_ih`` (the character models' first layer).
    W_ih : IN (N*H, X); W_hh : IN (N*H, H); b_ih, b_hh : IN (N*H,), N = GATES[cell].
    h0, c0 : IN (B, H) initial states (``c0`` is read by the LSTM only).
    lengths : IN (B,) int64, 1 <= lengths[b] <= T.
    reverse : bool, run the steps T-1 .. 0 (the reverse direction of a bidirectional layer).
    Y : OUT (T, B, H) the hidden state after every step (carried through invalid steps).
    C : OUT (T, B, H) LSTM: the cell state after every step (carried like Y);
        GRU: ``W_hn h_{t-1} + b_hn`` of every step; RNN: not used.
    G : OUT (T, B, N*H) the activated gates of every step (kept for backward;
        RNN: ``h_t``).
    hn, cn : OUT (B, H) the final states (``cn``: LSTM only).
    """
    T, B = x.shape[:2]
    H = W_hh.shape[1]
    G2 = G.reshape(T * B, -1)
    # gx_t = W_ih x_t + b_ih (+ b_hh, except the GRU's b_hn): one product for all steps
    if x.ndim == 2:                                      # one-hot rows: columns of W_ih
        ix = x.reshape(T * B)
        G2[...] = np.where((ix >= 0)[:, None], W_ih.T[np.maximum(ix, 0)], 0)
    else:
        np.dot(x.reshape(T * B, -1), W_ih.T, out=G2)
    G2 += b_ih
    if cell == GRU:
        G2[:, :2 * H] += b_hh[:2 * H]
    else:
        G2 += b_hh
    h = np.array(h0, copy=True)
    c = np.array(c0, copy=True)
    for t in _order(T, reverse):
        v = (t < lengths)[:, None]
        z = G[t]
        if cell == GRU:
            gh = h @ W_hh.T                              # (B, 3H)
            z[:, :2 * H] += gh[:, :2 * H]
            ghn = gh[:, 2 * H:] + b_hh[2 * H:]
            r = _sigmoid(z[:, :H])
            u = _sigmoid(z[:, H:2 * H])
            n = np.tanh(z[:, 2 * H:] + r * ghn)
            h_new = n + u * (h - n)
            z[:, :H], z[:, H:2 * H], z[:, 2 * H:] = r, u, n
            C[t] = ghn
        elif cell == LSTM:
            z += h @ W_hh.T
            i = _sigmoid(z[:, :H])
            f = _sigmoid(z[:, H:2 * H])
            g = np.tanh(z[:, 2 * H:3 * H])
            o = _sigmoid(z[:, 3 * H:])
            c_new = f * c + i * g
            h_new = o * np.tanh(c_new)
            z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:] = i, f, g, o
            c = np.where(v, c_new, c)
            C[t] = c
        else:
            z += h @ W_hh.T
            h_new = np.tanh(z) if cell == RNN_TANH else np.maximum(z, 0)
            z[...] = h_new
        h = np.where(v, h_new, h)
        Y[t] = h
    hn[...] = h
    if cell == LSTM:
        cn[...] = c


# ------------------------------------------------------------------------ backward

def rec_backward(cell, x, W_ih, W_hh, h0, c0, lengths, reverse, Y, C, G, dY, dhn, dcn,
                 dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh):
    """Backward of :func:`rec_forward` (same ``cell``, ``x``, weights, states, ``lengths``,
    ``reverse``, and its ``Y``, ``C``, ``G``).

    Parameters
    ----------
    G : IN/OUT (T, B, N*H): the activated gates on entry; on return the gradients on the
        hoisted projection ``gx`` (zero at invalid steps). Backward consumes the cache.
    C : IN/OUT (T, B, H): as the forward left it; GRU: on return the gradient on the
        pre-activation ``W_hn h_{t-1} + b_hn``.
    dY : IN (T, B, H) the gradient on the outputs (ignored at invalid steps).
    dhn, dcn : IN (B, H) the gradients on the final states (``dcn``: LSTM only).
    dx : IN/OUT (T, B, X), accumulated (``+=``): the two directions of a layer add into it;
        None for index inputs.
    dh0, dc0 : OUT (B, H) the gradients on the initial states (``dc0``: LSTM only).
    dW_ih, dW_hh, db_ih, db_hh : accumulated (``+=``).
    """
    T, B = x.shape[:2]
    H = W_hh.shape[1]
    N = G.shape[2] // H
    dh = np.array(dhn, copy=True)
    dc = np.array(dcn, copy=True)
    for t in _order(T, not reverse):
        v = (t < lengths)[:, None]
        h_prev = _prev(Y, h0, t, reverse)
        dht = dh + np.where(v, dY[t], 0)                # gradient on h_t
        g = G[t]
        if cell == GRU:
            r, u, n = g[:, :H].copy(), g[:, H:2 * H].copy(), g[:, 2 * H:].copy()
            ghn = C[t]
            # h_t = n + z (h_{t-1} - n)
            du = dht * (h_prev - n)
            dn = dht * (1 - u)
            # n = tanh(gx_n + r ghn)
            dan = dn * (1 - n * n)
            dr = dan * ghn
            g[:, :H] = dr * r * (1 - r)                   # d gx_r = d gh_r
            g[:, H:2 * H] = du * u * (1 - u)              # d gx_z = d gh_z
            g[:, 2 * H:] = dan                            # d gx_n
            C[t] = dan * r                                # d ghn (= d gh_n)
            g *= v
            C[t] *= v
            dgh = np.concatenate([g[:, :2 * H], C[t]], axis=1)
            dh_prev = dht * u + dgh @ W_hh
        elif cell == LSTM:
            i, f, gg, o = (g[:, k * H:(k + 1) * H].copy() for k in range(4))
            c_prev = _prev(C, c0, t, reverse)
            tc = np.tanh(C[t])
            # h_t = o tanh(c_t)
            dct = dc + dht * o * (1 - tc * tc)
            g[:, 3 * H:] = dht * tc * o * (1 - o)
            # c_t = f c_{t-1} + i g
            g[:, 2 * H:3 * H] = dct * i * (1 - gg * gg)
            g[:, :H] = dct * gg * i * (1 - i)
            g[:, H:2 * H] = dct * c_prev * f * (1 - f)
            g *= v
            dc = np.where(v, dct * f, dc)
            dh_prev = g @ W_hh
        else:
            h = Y[t]
            g[...] = dht * (1 - h * h) if cell == RNN_TANH else dht * (h > 0)
            g *= v
            dh_prev = g @ W_hh
        dh = np.where(v, dh_prev, dh)
    dh0[...] = dh
    if cell == LSTM:
        dc0[...] = dc
    # the products that do not depend on the order of steps, over all steps at once
    dG = G.reshape(T * B, N * H)
    # gx_t = W_ih x_t + b_ih  ->  dW_ih += dgx^T x, db_ih += sum dgx, dx += dgx W_ih
    if x.ndim == 2:                      # index inputs: dG's rows into columns ix
        ix = x.reshape(T * B)
        np.add.at(dW_ih.T, ix[ix >= 0], dG[ix >= 0])
    else:
        dW_ih += dG.T @ x.reshape(T * B, -1)
        dx += (dG @ W_ih).reshape(dx.shape)
    db_ih += dG.sum(axis=0)
    # gh_t = W_hh h_{t-1} + b_hh  ->  dW_hh += dgh^T h_prev, db_hh += sum dgh
    Hp = np.empty_like(Y)
    for t in range(T):
        Hp[t] = _prev(Y, h0, t, reverse)
    Hp2 = Hp.reshape(T * B, H)
    if cell == GRU:
        dW_hh[:2 * H] += dG[:, :2 * H].T @ Hp2
        dW_hh[2 * H:] += C.reshape(T * B, H).T @ Hp2
        db_hh[:2 * H] += dG[:, :2 * H].sum(axis=0)
        db_hh[2 * H:] += C.reshape(T * B, H).sum(axis=0)
    else:
        dW_hh += dG.T @ Hp2
        db_hh += dG.sum(axis=0)


# --------------------------------------------------------------- layers and directions

def param_names(num_layers, bidirectional, bias=True):
    """PyTorch's parameter names, in its order: per layer, per direction, ``weight_ih``,
    ``weight_hh`` (and ``bias_ih``, ``bias_hh``), suffix ``_l{k}`` (+ ``_reverse``)."""
    names = []
    for k in range(num_layers):
        for sfx in ("", "_reverse")[:1 + bool(bidirectional)]:
            kinds = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if bias else ())
            names += [f"{kind}_l{k}{sfx}" for kind in kinds]
    return names


def _weights(params, k, sfx, N, H, dtype):
    """The four arrays of layer ``k``, direction ``sfx``; zero biases without ``bias``."""
    W_ih, W_hh = params[f"weight_ih_l{k}{sfx}"], params[f"weight_hh_l{k}{sfx}"]
    b_ih = params.get(f"bias_ih_l{k}{sfx}")
    b_hh = params.get(f"bias_hh_l{k}{sfx}")
    if b_ih is None:
        b_ih = b_hh = np.zeros(N * H, dtype)
    return W_ih, W_hh, b_ih, b_hh


def stack_forward(cell, x, params, hx, cx, lengths, masks, num_layers, bidirectional,
                  batch_first=False, kernels=None):
    """Forward of a stack of recurrent layers (``torch.nn.RNN/LSTM/GRU.forward``).

    Parameters
    ----------
    cell : int, a code of :data:`CELLS`.
    x : (T, B, X), or (B, T, X) with ``batch_first``; C-contiguous, the parameters' dtype;
        or (T, B) / (B, T) int64 indices for the first layer (see :func:`rec_forward`).
    params : dict of PyTorch's parameter names (:func:`param_names`) -> arrays.
    hx, cx : (L*D, B, H) initial states (``cx``: LSTM only, else None); L layers,
        D = 2 if bidirectional else 1, row ``k*D + d`` for layer k, direction d.
    lengths : (B,) int64 with 1 <= lengths <= T, or None (every row has T steps).
    masks : None, or a list of L-1 arrays (T, B, D*H): the inverted-dropout factors
        (0 or 1/(1-p)) applied to the outputs of layer k before layer k+1.
    kernels : namespace with ``rec_forward`` (default: this module's).

    Returns
    -------
    y : (T, B, D*H) (or batch first) the last layer's outputs, zero at invalid steps.
    hn, cn : (L*D, B, H) the final states (``cn`` None except for the LSTM).
    cache : what :func:`stack_backward` needs.
    """
    kern = kernels if kernels is not None else sys.modules[__name__]
    if batch_first:
        x = np.ascontiguousarray(np.swapaxes(x, 0, 1))
    T, B = x.shape[:2]
    D = 2 if bidirectional else 1
    H = hx.shape[2]
    N = GATES[cell]
    dt = hx.dtype
    lens = np.full(B, T, np.int64) if lengths is None else lengths
    hn = np.empty_like(hx)
    cn = np.empty_like(hx) if cell == LSTM else None
    c0s = cx if cell == LSTM else hx       # any (B, H) array: not read by other cells
    layers = []
    inp = x
    for k in range(num_layers):
        dirs = []
        for d in range(D):
            sfx = "_reverse" if d else ""
            W_ih, W_hh, b_ih, b_hh = _weights(params, k, sfx, N, H, dt)
            Y = np.empty((T, B, H), dt)
            C = np.empty((T, B, H), dt)
            G = np.empty((T, B, N * H), dt)
            kern.rec_forward(cell, inp, W_ih, W_hh, b_ih, b_hh, hx[k * D + d],
                             c0s[k * D + d], lens, bool(d), Y, C, G, hn[k * D + d],
                             (cn if cn is not None else hn)[k * D + d])
            dirs.append((Y, C, G))
        layers.append((inp, dirs))
        out = dirs[0][0] if D == 1 else np.concatenate([dd[0] for dd in dirs], axis=2)
        if k + 1 < num_layers and masks is not None:
            out = out * masks[k]           # inverted dropout between layers
        inp = out
    y = inp
    if lengths is not None:                # outputs past a sequence's end are zero
        y = y * (np.arange(T)[:, None] < lens[None, :])[:, :, None]
    if batch_first:
        y = np.ascontiguousarray(y.transpose(1, 0, 2))
    cache = dict(cell=cell, layers=layers, hx=hx, cx=cx, lens=lens, masks=masks,
                 num_layers=num_layers, D=D, batch_first=batch_first)
    return y, hn, cn, cache


def stack_backward(cache, params, dy, dhn, dcn, grads, kernels=None):
    """Backward of :func:`stack_forward` (consumes ``cache``).

    Parameters
    ----------
    dy : like ``y`` (ignored at invalid steps); dhn, dcn : (L*D, B, H) or None (zeros).
    grads : dict with the keys of ``params``, accumulated (``+=``).

    Returns
    -------
    dx : like ``x`` (None for index inputs); dh0, dc0 : (L*D, B, H) (``dc0`` None except
        for the LSTM).
    """
    kern = kernels if kernels is not None else sys.modules[__name__]
    cell, D, layers = cache["cell"], cache["D"], cache["layers"]
    hx, cx, lens, masks = cache["hx"], cache["cx"], cache["lens"], cache["masks"]
    if cache["batch_first"]:
        dy = dy.transpose(1, 0, 2)
    H = hx.shape[2]
    N = GATES[cell]
    dt = hx.dtype
    zeros = np.zeros(hx.shape[1:], dt)
    scratch = np.empty_like(zeros)         # dc0 of the cells without a cell state
    dh0 = np.empty_like(hx)
    dc0 = np.empty_like(hx) if cell == LSTM else None
    dout = dy
    for k in range(cache["num_layers"] - 1, -1, -1):
        inp, dirs = layers[k]
        if k + 1 < cache["num_layers"] and masks is not None:
            dout = dout * masks[k]
        dinp = np.zeros_like(inp) if inp.ndim == 3 else None
        for d in range(D):
            sfx = "_reverse" if d else ""
            W_ih, W_hh, _, _ = _weights(params, k, sfx, N, H, dt)
            bias = f"bias_ih_l{k}{sfx}" in grads
            db_ih = grads[f"bias_ih_l{k}{sfx}"] if bias else np.zeros(N * H, dt)
            db_hh = grads[f"bias_hh_l{k}{sfx}"] if bias else np.zeros(N * H, dt)
            Y, C, G = dirs[d]
            j = k * D + d
            kern.rec_backward(
                cell, inp, W_ih, W_hh, hx[j], (cx if cell == LSTM else hx)[j], lens,
                bool(d), Y, C, G, np.ascontiguousarray(dout[:, :, d * H:(d + 1) * H]),
                zeros if dhn is None else dhn[j],
                zeros if (dcn is None or cell != LSTM) else dcn[j],
                dinp, dh0[j], dc0[j] if cell == LSTM else scratch,
                grads[f"weight_ih_l{k}{sfx}"], grads[f"weight_hh_l{k}{sfx}"], db_ih, db_hh)
        dout = dinp
    dx = dout
    if cache["batch_first"] and dx is not None:
        dx = np.ascontiguousarray(dx.transpose(1, 0, 2))
    return dx, dh0, dc0


# ----------------------------------------------------------------------- streaming

class Stepper:
    """One time step of every layer of a unidirectional stack (``fastrnn.nn``'s ``step``):
    :func:`stack_forward` at T = 1. The compiled ``Stepper`` binds the weights and its
    buffers once; this twin keeps the same constructor, ``current`` and ``step``.

    Parameters
    ----------
    cell : int, a code of :data:`CELLS`; batch, input_size, hidden_size, num_layers : int.
    bias : bool, the layers have biases.
    arrays : tuple, the parameters in :func:`param_names`' order (unidirectional).
    """

    def __init__(self, cell, batch, input_size, hidden_size, num_layers, bias, arrays):
        if not 0 <= cell <= 3:
            raise ValueError(f"cell must be 0-3 (RNN_TANH, RNN_RELU, LSTM, GRU), got {cell}")
        if batch < 1:
            raise ValueError(f"x_t must hold at least one row, got batch {batch}")
        names = param_names(num_layers, False, bias)
        if len(arrays) != len(names):
            raise ValueError(f"arrays must hold {len(names)} parameters, got {len(arrays)}")
        dt = arrays[0].dtype if isinstance(arrays[0], np.ndarray) else None
        if dt not in (np.float32, np.float64):
            raise TypeError(f"the weights must be float32 or float64 arrays, got {dt}")
        N, H = GATES[cell], hidden_size
        for name, a in zip(names, arrays):
            k = int(name.split("_l")[1])
            shape = ((N * H, input_size if k == 0 else H) if name.startswith("weight_ih") else
                     (N * H, H) if name.startswith("weight_hh") else (N * H,))
            if not isinstance(a, np.ndarray) or a.dtype != dt:
                raise TypeError(f"{name} must be a {np.dtype(dt)} array")
            if a.shape != shape or not a.flags.c_contiguous:
                raise ValueError(f"{name} must be C-contiguous of shape {shape}")
        self.cell, self.batch, self.input_size, self.hidden_size = cell, batch, input_size, H
        self.num_layers, self.dtype, self.arrays = num_layers, np.dtype(dt), tuple(arrays)
        self._params = dict(zip(names, arrays))

    def current(self, params):
        """True when ``params.values()`` are the bound arrays (the same objects)."""
        return len(params) == len(self.arrays) and all(
            a is b for a, b in zip(params.values(), self.arrays))

    def _check(self, a, name, shape):
        if not isinstance(a, np.ndarray) or a.dtype != self.dtype or a.shape != shape \
                or not a.flags.c_contiguous:
            raise ValueError(f"{name} must be a C-contiguous {self.dtype} array of shape "
                             f"{shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name.split('[')[0]} contains NaN or infinity")
        return a

    def step(self, x_t, h0, c0):
        """One step: ``x_t (B, input_size)``; ``h0``, ``c0`` ``(L, B, H)`` or None (zeros;
        ``c0`` LSTM only). Returns ``(y_t, h_n)``, for the LSTM ``(y_t, (h_n, c_n))``."""
        lstm = self.cell == LSTM
        shape = (self.num_layers, self.batch, self.hidden_size)
        x_t = self._check(x_t, "x_t", (self.batch, self.input_size))
        h0 = np.zeros(shape, self.dtype) if h0 is None else \
            self._check(h0, "state[0] (h)" if lstm else "state", shape)
        c0 = (np.zeros(shape, self.dtype) if c0 is None else
              self._check(c0, "state[1] (c)", shape)) if lstm else None
        _, hn, cn, _ = stack_forward(self.cell, x_t[None], self._params, h0, c0, None, None,
                                     self.num_layers, False)
        return (hn[-1], (hn, cn)) if lstm else (hn[-1], hn)
