"""NumPy twin of ``fastrnn._lstm``: LSTM forward, BPTT, sampling and one training step.

Private module of the public ``fastrnn.reference`` package; every function has the
signature and the in-place semantics of the compiled kernel of the same name.

Gate order (the one documented statement; ``fastrnn._lstm``, the course layer, the
models and the tests all use it): the stacked parameters hold four blocks of ``H``
rows in the order **[f, i, c, o]** -- forget, update/input, candidate ``c~``, output --
block ``k`` being rows ``k*H:(k+1)*H`` of ``Wx (4H, X)``, ``Wh (4H, H)`` and ``b (4H,)``.
The same order is used along the last axis of the gate buffer ``G (T, B, 4H)``.

Forward lines (per step t, per batch row; the course's ``W_g [a_prev; x_t] + b_g`` with
``W_g = [Wh block | Wx block]``)::

    z_t  = Wx x_t + Wh a_{t-1} + b                     (4H,)
    f, i, o = sigmoid(z_f), sigmoid(z_i), sigmoid(z_o)
    cc   = tanh(z_c)
    c_t  = f * c_{t-1} + i * cc
    a_t  = o * tanh(c_t)

The input projection and the bias are hoisted out of the time loop exactly as the kernel
does (``G[t] = Wx[:, x_t] + b`` by a column gather, or one GEMM for dense inputs), then
``G[t] += a_{t-1} @ Wh.T`` per step. ``G`` keeps the *activated* gates ``[f, i, cc, o]``
so that backward takes every derivative from outputs (``y (1 - y)``, ``1 - y^2``).
"""

from __future__ import annotations

import numpy as np

from ._ops import clip_, sample_pick, sgd_update_, softmax_xent


def _sigmoid(z):
    """Stable logistic, the kernel's formula: ``1/(1+e^-z)`` for z >= 0, ``e^z/(1+e^z)`` else."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


# ------------------------------------------------------------------------- forward

def _gather_input(X, Wx, b, G):
    """G[t, b] = Wx[:, X[t, b]] + b, or b alone where X[t, b] == -1."""
    G[...] = b
    valid = X >= 0
    G[valid] += Wx.T[X[valid]]


def _recurrence(Wh, a0, c0, A, C, G):
    """Per step: z_t = G[t] + a_{t-1} @ Wh.T, gates, c_t, a_t; G[t] <- activated gates."""
    T = A.shape[0]
    H = A.shape[2]
    for t in range(T):
        a_prev = a0 if t == 0 else A[t - 1]
        c_prev = c0 if t == 0 else C[t - 1]
        z = G[t]
        z += a_prev @ Wh.T
        f = _sigmoid(z[:, 0 * H:1 * H])
        i = _sigmoid(z[:, 1 * H:2 * H])
        cc = np.tanh(z[:, 2 * H:3 * H])
        o = _sigmoid(z[:, 3 * H:4 * H])
        C[t] = f * c_prev + i * cc
        A[t] = o * np.tanh(C[t])
        z[:, 0 * H:1 * H] = f
        z[:, 1 * H:2 * H] = i
        z[:, 2 * H:3 * H] = cc
        z[:, 3 * H:4 * H] = o


def lstm_forward_ix(X, Wx, Wh, b, a0, c0, A, C, G):
    """LSTM forward over character indices.

    Parameters
    ----------
    X : IN (T, B) int64 indices into the columns of ``Wx``; -1 = zero input.
    Wx : IN (4H, X); Wh : IN (4H, H); b : IN (4H,), gate blocks [f, i, c, o].
    a0, c0 : IN (B, H) initial hidden and cell states.
    A, C : OUT (T, B, H) hidden states a_1..a_T and cell states c_1..c_T.
    G : OUT (T, B, 4H) activated gates [f, i, cc, o] (kept for backward).
    """
    _gather_input(X, Wx, b, G)
    _recurrence(Wh, a0, c0, A, C, G)


def lstm_forward_dense(x, Wx, Wh, b, a0, c0, A, C, G):
    """LSTM forward over dense inputs ``x`` IN (T, B, X); otherwise as :func:`lstm_forward_ix`."""
    T, B, Xn = x.shape
    G2 = G.reshape(T * B, -1)
    np.dot(x.reshape(T * B, Xn), Wx.T, out=G2)
    G2 += b
    _recurrence(Wh, a0, c0, A, C, G)


# ------------------------------------------------------------------------ backward

def _bptt(Wh, a0, c0, A, C, G, dA, dcT, dWh, db, da0, dc0):
    """Shared BPTT core: G (activated gates) -> dZ in place; accumulates dWh, db."""
    T, B, H = A.shape
    dc = np.array(dcT, copy=True)            # carry: gradient on c_t (dcT may alias dc0)
    for t in range(T - 1, -1, -1):
        c_prev = c0 if t == 0 else C[t - 1]
        g = G[t]
        f = g[:, 0 * H:1 * H].copy()
        i = g[:, 1 * H:2 * H].copy()
        cc = g[:, 2 * H:3 * H].copy()
        o = g[:, 3 * H:4 * H].copy()
        da = dA[t]                            # upstream + carry from step t+1 (added below)
        tc = np.tanh(C[t])
        # a_t = o * tanh(c_t)  ->  dc_t += da_t * o * (1 - tanh(c_t)^2)
        dc = dc + da * o * (1 - tc * tc)
        # a_t = o * tanh(c_t), o = sigmoid(z_o)  ->  dz_o = da_t * tanh(c_t) * o (1 - o)
        g[:, 3 * H:4 * H] = da * tc * o * (1 - o)
        # c_t = f c_{t-1} + i cc, cc = tanh(z_c)  ->  dz_c = dc_t * i * (1 - cc^2)
        g[:, 2 * H:3 * H] = dc * i * (1 - cc * cc)
        # c_t = f c_{t-1} + i cc, i = sigmoid(z_i)  ->  dz_i = dc_t * cc * i (1 - i)
        g[:, 1 * H:2 * H] = dc * cc * i * (1 - i)
        # c_t = f c_{t-1} + i cc, f = sigmoid(z_f)  ->  dz_f = dc_t * c_{t-1} * f (1 - f)
        g[:, 0 * H:1 * H] = dc * c_prev * f * (1 - f)
        # c_t = f c_{t-1} + ...  ->  dc_{t-1} = dc_t * f
        dc = dc * f
        # z_t = ... + a_{t-1} @ Wh.T  ->  da_{t-1} += dz_t @ Wh
        if t > 0:
            dA[t - 1] += g @ Wh
        else:
            da0[...] = g @ Wh
    dc0[...] = dc
    dZ = G.reshape(T * B, 4 * H)
    # z_t = ... + a_{t-1} @ Wh.T  ->  dWh += sum_t dz_t^T a_{t-1}
    dWh += G[0].T @ a0
    if T > 1:
        dWh += dZ[B:].T @ A[:-1].reshape(-1, H)
    # z_t = ... + b  ->  db += sum over rows of dz
    db += dZ.sum(axis=0)


def lstm_backward_ix(X, Wh, a0, c0, A, C, G, dA, dcT, dWx, dWh, db, da0, dc0):
    """LSTM backward through time for index inputs.

    Parameters
    ----------
    X : IN (T, B) int64 indices (-1 = zero input); Wh : IN (4H, H).
    a0, c0 : IN (B, H); A, C : IN (T, B, H) states from the forward pass.
    G : IN/OUT (T, B, 4H): the activated gates on entry; the pre-activation gate
        gradients ``dZ`` [dz_f, dz_i, dz_c, dz_o] on return.
    dA : IN/OUT (T, B, H): the upstream gradient on every hidden state; used as scratch
        (holds the total gradient on each a_t on return).
    dcT : IN (B, H) upstream gradient on the final cell state c_T (zeros normally).
    dWx (4H, X), dWh (4H, H), db (4H,) : accumulated (``+=``).
    da0, dc0 : OUT (B, H) gradients on the initial states.
    """
    _bptt(Wh, a0, c0, A, C, G, dA, dcT, dWh, db, da0, dc0)
    valid = X >= 0
    # z_t used Wx[:, X[t, b]]  ->  dWx[:, X[t, b]] += dz_t[b]
    np.add.at(dWx.T, X[valid], G[valid])


def lstm_backward_dense(x, Wx, Wh, a0, c0, A, C, G, dA, dcT, dWx, dWh, db, da0, dc0, dx):
    """LSTM BPTT for dense inputs: as :func:`lstm_backward_ix` plus ``dx`` OUT (T, B, X)."""
    _bptt(Wh, a0, c0, A, C, G, dA, dcT, dWh, db, da0, dc0)
    T, B, Xn = x.shape
    dZ = G.reshape(T * B, -1)
    # z_t = Wx x_t + ...  ->  dWx += dz_t^T x_t, dx_t = dz_t @ Wx
    dWx += dZ.T @ x.reshape(T * B, Xn)
    np.dot(dZ, Wx, out=dx.reshape(T * B, Xn))


# ------------------------------------------------------------------------ sampling



def lstm_sample(Wx, Wh, b, Wy, by, a, c, x0, u, temperature, top_k, stop, out):
    """Generate characters one step at a time, feeding each pick back as the next input.

    Parameters
    ----------
    Wx, Wh, b, Wy, by : IN model parameters (shapes as in the forward; ``Wy (Y, H)``).
    a, c : IN/OUT (H,) hidden and cell state; hold the last state on return.
    x0 : int, first input index (-1 = zero input).
    u : IN (N,) float64 uniforms in [0, 1), one per character (pre-drawn by the caller).
    temperature : float; logits are divided by it; ``0`` picks the argmax (greedy).
    top_k : int; keep only the k largest logits (0 = all).
    stop : int; stop after emitting this index (-1 = never).
    out : OUT (N,) int64 indices.

    Returns
    -------
    n : int, the number of characters written to ``out``.

    Per step: ``z = (b + Wx x) + Wh a`` (the order of sums of the forward pass, so the
    states match :func:`lstm_forward_ix`'s), the
    forward lines above, ``p = softmax((Wy a + by) / temperature)``, pick by inverse CDF
    of ``u[k]`` (:func:`fastrnn.reference.pick_index`).
    """
    H = Wh.shape[1]
    x = int(x0)
    n = out.shape[0]
    for k in range(n):
        z = b + Wx[:, x] if x >= 0 else b.copy()
        z += Wh @ a
        f = _sigmoid(z[0 * H:1 * H])
        i = _sigmoid(z[1 * H:2 * H])
        cc = np.tanh(z[2 * H:3 * H])
        o = _sigmoid(z[3 * H:4 * H])
        c[...] = f * c + i * cc
        a[...] = o * np.tanh(c)
        logits = Wy @ a + by
        idx = sample_pick(logits, temperature, top_k, u[k])
        out[k] = idx
        x = idx
        if idx == stop:
            return k + 1
    return n


# ------------------------------------------------------------------- training step

def lstm_train_step_ix(X, Y, Wx, Wh, b, Wy, by, a0, c0, A, C, G, P, dA,
                       dWx, dWh, db, dWy, dby, da0, dc0, clip, lr):
    """One full LSTM training step on index sequences, in place.

    Zero the gradients; forward (``A``, ``C``, ``G``); summed cross-entropy of the
    softmax output layer against ``Y``; BPTT (``dA`` and ``G`` are scratch; the
    gradient on the final cell state is zero); clip every parameter gradient to
    ``[-clip, clip]`` when ``clip > 0``; SGD ``p += -lr * g`` when ``lr != 0``.

    Parameters
    ----------
    X, Y : IN (T, B) int64 inputs (-1 = zero input) and targets (-1 = masked).
    Wx (4H, X), Wh (4H, H), b (4H,), Wy (Y, H), by (Y,) : IN/OUT parameters, updated in place.
    a0, c0 : IN (B, H) initial states.
    A, C : OUT (T, B, H) states (computed with the parameters before the update).
    G : OUT (T, B, 4H) scratch: holds the gate gradients ``dZ`` on return.
    P : OUT (T, B, Y) scratch: holds ``dz`` of the output layer on return.
    dA : OUT (T, B, H) scratch: holds the total gradient on each hidden state.
    dWx, dWh, db, dWy, dby : OUT gradients (clipped), same shapes as the parameters.
    da0, dc0 : OUT (B, H) gradients on ``a0``, ``c0`` (not clipped).
    clip, lr : float.

    Returns
    -------
    loss : float, the summed cross-entropy before the update.
    """
    grads = (dWx, dWh, db, dWy, dby)
    for g in grads:
        g[...] = 0
    lstm_forward_ix(X, Wx, Wh, b, a0, c0, A, C, G)
    dA[...] = 0
    loss = softmax_xent(A, Wy, by, Y, P, dWy, dby, dA)
    if not np.isfinite(loss):
        return loss                     # nothing clipped or updated
    dc0[...] = 0
    lstm_backward_ix(X, Wh, a0, c0, A, C, G, dA, dc0, dWx, dWh, db, da0, dc0)
    if clip > 0:
        clip_(grads, clip)
    if lr != 0:
        sgd_update_((Wx, Wh, b, Wy, by), grads, lr)
    return loss
