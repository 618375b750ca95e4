"""NumPy twin of ``fastrnn._rnn``: vanilla RNN forward, BPTT and sampling.

Private module of the public ``fastrnn.reference`` package.

Forward line (per step t, per batch row b)::

    a_t = tanh(Wax x_t + Waa a_{t-1} + ba)

computed as ``z = (Wax[:, x_t] + ba) + a_{t-1} @ Waa.T`` (the input projection and the
bias are hoisted out of the time loop, exactly as the kernel does).
"""

from __future__ import annotations

import numpy as np

from ._ops import clip_, sample_pick, sgd_update_, softmax_xent


def _gather_input(X, Wax, ba, A):
    """A[t, b] = Wax[:, X[t, b]] + ba, or ba alone where X[t, b] == -1."""
    A[...] = ba
    valid = X >= 0
    A[valid] += Wax.T[X[valid]]


def _recurrence(Waa, a0, A):
    T = A.shape[0]
    for t in range(T):
        a_prev = a0 if t == 0 else A[t - 1]
        A[t] += a_prev @ Waa.T
        np.tanh(A[t], out=A[t])


def rnn_forward_ix(X, Wax, Waa, ba, a0, A):
    """RNN forward over character indices.

    Parameters
    ----------
    X : IN (T, B) int64 indices into the X columns of ``Wax``; -1 = zero input.
    Wax : IN (H, X); Waa : IN (H, H); ba : IN (H,); a0 : IN (B, H).
    A : OUT (T, B, H) hidden states a_1..a_T (kept for backward).
    """
    _gather_input(X, Wax, ba, A)
    _recurrence(Waa, a0, A)


def rnn_forward_dense(x, Wax, Waa, ba, a0, A):
    """RNN forward over dense inputs ``x`` IN (T, B, X); otherwise as :func:`rnn_forward_ix`."""
    T, B, Xn = x.shape
    H = Waa.shape[0]
    A2 = A.reshape(T * B, H)
    np.dot(x.reshape(T * B, Xn), Wax.T, out=A2)
    A2 += ba
    _recurrence(Waa, a0, A)


def _bptt(Waa, a0, A, dA, dWaa, dba, da0):
    """Shared BPTT core; turns dA into dZ in place and accumulates dWaa, dba."""
    T, B, H = A.shape
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            # a_{t+1} = tanh(... + a_t @ Waa.T)  ->  da_t += dz_{t+1} @ Waa
            dA[t] += dA[t + 1] @ Waa
        # a_t = tanh(z_t)  ->  dz_t = da_t * (1 - a_t^2)
        dA[t] *= 1.0 - A[t] * A[t]
    da0[...] = dA[0] @ Waa
    dWaa += dA[0].T @ a0
    if T > 1:
        dWaa += dA[1:].reshape(-1, H).T @ A[:-1].reshape(-1, H)
    dba += dA.reshape(-1, H).sum(axis=0)


def rnn_backward_ix(X, Waa, a0, A, dA, dWax, dWaa, dba, da0):
    """RNN backward through time for index inputs.

    Parameters
    ----------
    X : IN (T, B) int64 indices (-1 = zero input); Waa : IN (H, H); a0 : IN (B, H).
    A : IN (T, B, H) hidden states from the forward pass.
    dA : IN/OUT (T, B, H): the upstream gradient on every hidden state (output layer
        and/or the course's ``da``); overwritten with ``dz_t`` (pre-tanh gradients).
    dWax : (H, X), dWaa : (H, H), dba : (H,): accumulated (``+=``).
    da0 : OUT (B, H) gradient on the initial state.
    """
    _bptt(Waa, a0, A, dA, dWaa, dba, da0)
    T, B, H = A.shape
    valid = X >= 0
    # a_t used Wax[:, X[t, b]]  ->  dWax[:, X[t, b]] += dz_t[b]
    np.add.at(dWax.T, X[valid], dA[valid])


def rnn_backward_dense(x, Wax, Waa, a0, A, dA, dWax, dWaa, dba, da0, dx):
    """RNN BPTT for dense inputs: as :func:`rnn_backward_ix` plus ``dx`` OUT (T, B, X)."""
    _bptt(Waa, a0, A, dA, dWaa, dba, da0)
    T, B, Xn = x.shape
    H = A.shape[2]
    dZ = dA.reshape(T * B, H)
    dWax += dZ.T @ x.reshape(T * B, Xn)
    np.dot(dZ, Wax, out=dx.reshape(T * B, Xn))




def rnn_sample(Wax, Waa, ba, Wya, by, a, x0, u, temperature, top_k, stop, out):
    """Generate characters one step at a time, feeding each pick back as the next input.

    Parameters
    ----------
    Wax, Waa, ba, Wya, by : IN model parameters (shapes as in the forward).
    a : IN/OUT (H,) hidden state; holds the last state on return.
    x0 : int, first input index (-1 = zero input).
    u : IN (N,) float64 uniforms in [0, 1), one per character (pre-drawn by the caller).
    temperature : float; logits are divided by it; ``0`` picks the argmax (greedy).
    top_k : int; keep only the k largest logits (0 = all).
    stop : int; stop after emitting this index (-1 = never).
    out : OUT (N,) int64 indices.

    Returns
    -------
    n : int, the number of characters written to ``out``.

    Per step: ``a = tanh(Wax x + Waa a + ba)`` (the course's order of sums),
    ``p = softmax((Wya a + by) / temperature)``, pick by inverse CDF of ``u[k]``.
    """
    x = int(x0)
    n = out.shape[0]
    for k in range(n):
        z = Waa @ a
        if x >= 0:
            z = Wax[:, x] + z
        z += ba
        np.tanh(z, out=a)
        logits = Wya @ a + by
        idx = sample_pick(logits, temperature, top_k, u[k])
        out[k] = idx
        x = idx
        if idx == stop:
            return k + 1
    return n


def rnn_train_step_ix(X, Y, Wax, Waa, ba, Wya, by, a0, A, P, dA,
                      dWax, dWaa, dba, dWya, dby, da0, clip, lr):
    """One full training step on index sequences, in place (the course's ``optimize``).

    Zero the gradients; forward (``A``, ``P``); summed cross-entropy against ``Y``;
    BPTT (``dA`` is scratch); clip every gradient to ``[-clip, clip]`` when
    ``clip > 0``; SGD ``p += -lr * g`` when ``lr != 0``.

    Parameters
    ----------
    X, Y : IN (T, B) int64 inputs (-1 = zero input) and targets (-1 = masked).
    Wax, Waa, ba, Wya, by : IN/OUT parameters, updated in place.
    a0 : IN (B, H) initial state.
    A : OUT (T, B, H) hidden states (computed with the parameters before the update).
    P : OUT (T, B, Y) scratch: holds ``dz`` of the output layer on return.
    dA : OUT (T, B, H) scratch: holds the pre-tanh gradients on return.
    dWax, dWaa, dba, dWya, dby : OUT gradients (clipped), same shapes as the parameters.
    da0 : OUT (B, H) gradient on ``a0`` (not clipped).
    clip, lr : float.

    Returns
    -------
    loss : float, the summed cross-entropy before the update.
    """
    grads = (dWax, dWaa, dba, dWya, dby)
    for g in grads:
        g[...] = 0
    rnn_forward_ix(X, Wax, Waa, ba, a0, A)
    dA[...] = 0
    loss = softmax_xent(A, Wya, by, Y, P, dWya, dby, dA)
    if not np.isfinite(loss):
        return loss                     # nothing clipped or updated
    rnn_backward_ix(X, Waa, a0, A, dA, dWax, dWaa, dba, da0)
    if clip > 0:
        clip_(grads, clip)
    if lr != 0:
        sgd_update_((Wax, Waa, ba, Wya, by), grads, lr)
    return loss


class RNNTrainer:
    """NumPy twin of ``fastrnn._rnn.RNNTrainer``: repeated fused SGD steps on fixed arrays.

    Same constructor, attributes (``a0``, ``A``, ``grads``, ``clip``, ``lr``, ``H``, ``X``,
    ``Y``, ``B``, ``max_T``) and :meth:`step` as the compiled class.
    """

    def __init__(self, Wax, Waa, ba, Wya, by, max_T, batch, clip=5.0, lr=0.01):
        self.params = (Wax, Waa, ba, Wya, by)
        self.H, self.X = Wax.shape
        self.Y = Wya.shape[0]
        self.B, self.max_T = int(batch), int(max_T)
        if self.max_T < 1 or self.B < 1:
            raise ValueError("max_T and batch must be >= 1")
        self.clip, self.lr = float(clip), float(lr)
        dt = Wax.dtype
        self.grads = tuple(np.zeros_like(p) for p in self.params)
        self.a0 = np.zeros((self.B, self.H), dt)
        self.A = np.zeros((self.max_T, self.B, self.H), dt)
        self.P = np.zeros((self.max_T, self.B, self.Y), dt)
        self.dA = np.zeros((self.max_T, self.B, self.H), dt)
        self.da0 = np.zeros((self.B, self.H), dt)

    def step(self, X, Y, carry=False):
        """One training step on ``X``, ``Y`` (T, B); ``carry`` copies the last state into a0."""
        T = X.shape[0]
        if X.ndim != 2 or X.shape[1] != self.B or not 1 <= T <= self.max_T:
            raise ValueError(f"X must have shape (T, {self.B}) with 1 <= T <= {self.max_T}, "
                             f"got {X.shape}")
        loss = rnn_train_step_ix(X, Y, *self.params, self.a0, self.A[:T], self.P[:T],
                                 self.dA[:T], *self.grads, self.da0, self.clip, self.lr)
        if carry:
            self.a0[...] = self.A[T - 1]
        return loss

    def run(self, X, Y, offsets, order, losses):
        """Steps on a sequence of examples, the state carried from each to the next:
        ``losses[k] = step(X[offsets[e]:offsets[e + 1]], Y[...], carry=True)`` for k, e in
        ``enumerate(order)``; stops after the first non-finite loss. Returns the number of
        steps run (see ``fastrnn._rnn.RNNTrainer.run``)."""
        n = len(offsets) - 1
        if X.ndim != 2 or X.shape[1] != self.B or Y.shape != X.shape:
            raise ValueError(f"X and Y must have shape (N, {self.B}), got {X.shape} and "
                             f"{Y.shape}")
        if n < 1:
            raise ValueError("offsets must hold at least two entries (one example)")
        for e in range(n):
            lo, hi = int(offsets[e]), int(offsets[e + 1])
            if lo < 0 or hi > X.shape[0] or not 1 <= hi - lo <= self.max_T:
                raise ValueError(f"example {e} = rows offsets[{e}]:offsets[{e + 1}] = "
                                 f"{lo}:{hi} must hold 1 to {self.max_T} rows of the "
                                 f"{X.shape[0]} in X")
        for k, e in enumerate(order):
            if not 0 <= e < n:
                raise ValueError(f"order[{k}] = {e} is outside [0, {n - 1}]")
        if len(losses) < len(order):
            raise ValueError(f"losses must hold at least {len(order)} entries, got "
                             f"{len(losses)}")
        for name, M, hi in (("X", X, self.X), ("Y", Y, self.Y)):
            if M.size and (M.min() < -1 or M.max() >= hi):
                raise ValueError(f"{name} has entries outside [-1, {hi - 1}]")
        for k, e in enumerate(order):
            rows = slice(int(offsets[e]), int(offsets[e + 1]))
            losses[k] = self.step(X[rows], Y[rows], carry=True)
            if not np.isfinite(losses[k]):
                return k + 1
        return len(order)
