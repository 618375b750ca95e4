"""NumPy twin of ``fastrnn._ops``: output layer, clipping, optimizer updates, sampling pick.

Private module of the public ``fastrnn.reference`` package; same signatures and
in-place semantics as the compiled kernels.
"""

from __future__ import annotations

import numpy as np


def softmax_xent_forward(A, Wya, by, Y, P):
    """Softmax output layer and summed cross-entropy (no gradients).

    Parameters
    ----------
    A : IN (T, B, H) hidden states.
    Wya : IN (Y, H); by : IN (Y,).
    Y : IN (T, B) int64 targets, ``-1`` = masked (contributes nothing).
    P : OUT (T, B, Y) softmax probabilities ``softmax(Wya a_t + by)`` (row max shifted).

    Returns
    -------
    loss : float, ``-sum_{t,b: Y>=0} log P[t, b, Y[t, b]]`` (summed, not averaged).
    """
    H = A.shape[-1]
    V = Wya.shape[0]
    A2 = A.reshape(-1, H)
    P2 = P.reshape(-1, V)
    y = Y.reshape(-1)
    np.dot(A2, Wya.T, out=P2)
    P2 += by
    m = P2.max(axis=1, keepdims=True)
    P2 -= m                                   # z - max
    rows = np.nonzero(y >= 0)[0]
    zy = P2[rows, y[rows]].copy()             # z_y - max for the loss
    np.exp(P2, out=P2)
    s = P2.sum(axis=1, keepdims=True)
    # loss = sum(log s - (z_y - max)): stable, never log(0)
    loss = float(np.sum(np.log(s[rows, 0]) - zy))
    P2 /= s
    return loss


def softmax_xent(A, Wya, by, Y, P, dWya, dby, dA):
    """Forward and backward of the softmax output layer, fused.

    As :func:`softmax_xent_forward`, then (the forward line ``z = Wya a + by``,
    ``L = -log softmax(z)[y]`` differentiates to ``dz = p - onehot(y)``):

    P : IN/OUT (T, B, Y): on return holds ``dz``, zero on masked rows.
    dWya : accumulated (Y, H) ``+= dz^T A``; dby : accumulated (Y,) ``+= sum dz``.
    dA : accumulated (T, B, H) ``+= dz @ Wya`` (the gradient reaching the hidden states).

    Returns the summed loss.
    """
    loss = softmax_xent_forward(A, Wya, by, Y, P)
    H = A.shape[-1]
    V = Wya.shape[0]
    A2 = A.reshape(-1, H)
    dZ = P.reshape(-1, V)
    y = Y.reshape(-1)
    rows = np.nonzero(y >= 0)[0]
    dZ[rows, y[rows]] -= 1.0
    dZ[y < 0] = 0.0
    dWya += dZ.T @ A2
    dby += dZ.sum(axis=0)
    dA.reshape(-1, H)[...] += dZ @ Wya
    return loss


def clip_(arrays, max_value):
    """Clip every array of the sequence in place to ``[-max_value, max_value]``."""
    for g in arrays:
        np.clip(g, -max_value, max_value, out=g)


def global_norm(arrays):
    """``sqrt(sum_k sum(g_k ** 2))`` over a sequence of arrays, as a float."""
    return float(np.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in arrays)))


def scale_(arrays, factor):
    """Multiply every array of the sequence in place by ``factor``."""
    for g in arrays:
        g *= g.dtype.type(factor)


def sgd_update_(params, grads, lr):
    """Plain SGD in place: ``p += -lr * g`` for each pair (the course's update)."""
    for p, g in zip(params, grads):
        p += -p.dtype.type(lr) * g


def adam_update_(params, grads, ms, vs, lr, beta1, beta2, eps, t):
    """Adam in place (Kingma & Ba), bias-corrected at step ``t >= 1``.

    ``m = b1 m + (1-b1) g``; ``v = b2 v + (1-b2) g^2``;
    ``p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)``.
    """
    c1 = 1.0 - beta1 ** t
    c2 = 1.0 - beta2 ** t
    for p, g, m, v in zip(params, grads, ms, vs):
        dt = p.dtype.type
        m *= dt(beta1)
        m += dt(1.0 - beta1) * g
        v *= dt(beta2)
        v += dt(1.0 - beta2) * g * g
        p -= dt(lr) * (m / dt(c1)) / (np.sqrt(v / dt(c2)) + dt(eps))


def adagrad_update_(params, grads, mems, lr, eps):
    """Adagrad in place (min-char-rnn): ``mem += g^2``; ``p -= lr * g / sqrt(mem + eps)``."""
    for p, g, mem in zip(params, grads, mems):
        dt = p.dtype.type
        mem += g * g
        p -= dt(lr) * g / np.sqrt(mem + dt(eps))


def softmax_t(logits, temperature, top_k):
    """float64 ``softmax(logits / temperature)`` keeping only the ``top_k`` largest (0 = all);
    the sampling kernels' distribution (ties at the cut-off are all kept)."""
    z = logits / temperature if temperature != 1.0 else logits.copy()
    if 0 < top_k < z.shape[0]:
        kth = np.partition(z, z.shape[0] - top_k)[z.shape[0] - top_k]
        z[z < kth] = -np.inf
    e = np.exp(z - np.max(z))
    return e / e.sum()


def pick_index(p, u):
    """Inverse-CDF pick exactly as ``np.random.choice(len(p), p=p)`` after it drew ``u``.

    ``cdf = cumsum(p)`` in float64, ``cdf /= cdf[-1]``, the first index whose
    ``cdf`` exceeds ``u`` (``searchsorted(cdf, u, side="right")``).
    """
    cdf = np.cumsum(np.asarray(p, dtype=np.float64))
    cdf /= cdf[-1]
    k = int(np.searchsorted(cdf, u, side="right"))
    return min(k, cdf.shape[0] - 1)


def sample_pick(logits, temperature, top_k, u):
    """The sampling kernels' pick (twin of ``sample_pick`` in ``_common.pxd``): the first
    argmax when ``temperature == 0``, else :func:`pick_index` of
    :func:`softmax_t` (float64) with the uniform ``u``."""
    if temperature == 0:
        return int(np.argmax(logits))
    return pick_index(softmax_t(np.asarray(logits, dtype=np.float64), float(temperature), top_k), u)
