"""The course's "Building a Recurrent Neural Network - Step by Step" (W1A1), on fastrnn kernels.

Public. ``fastrnn.course.step_by_step`` reproduces the assignment's functions with the
course's exact names, signatures, return tuples, dict keys and cache layouts
(COURSE_SPEC.md section 2), but every recurrence runs on the kernels of the active
backend (``fastrnn.set_backend``/``fastrnn._ext.kernels()``: the compiled
``fastrnn._rnn`` by default, or its NumPy twin ``fastrnn.reference``).

Layouts. The course is column-major with time last: a step input ``xt`` is
``(n_x, m)``, a sequence ``x`` is ``(n_x, m, T_x)``, biases are ``(n, 1)`` columns.
The kernels are time-major and C-contiguous: ``x`` ``(T, B, X)``, hidden states
``(T, B, H)``, biases ``(H,)``. The private helpers ``_seq_to_kernel`` /
``_seq_from_kernel`` and ``_cols_to_rows`` / ``_rows_to_cols`` do that conversion
once per call, in one place, for the RNN functions here and for the LSTM functions
(``lstm_cell_forward``, ``lstm_forward``, ``lstm_cell_backward``, ``lstm_backward``,
on ``lstm_forward_dense`` / ``lstm_backward_dense``). The course's four LSTM gate
matrices ``W_g (n_a, n_a+n_x)`` act on ``concat = [a_prev; xt]``; the kernels hold them
stacked in the gate order [f, i, c, o] as ``Wh (4 n_a, n_a)`` (the ``a_prev`` columns)
and ``Wx (4 n_a, n_x)`` (the ``xt`` columns), with ``b (4 n_a,)``.

Numbers. Everything is computed in float64 (the course's dtype); other real inputs
are converted. The softmax is the course's (``rnn_utils.softmax``): one global max
over the whole ``(n_y, m)`` array, then normalised per column, so ``yt_pred``
matches the course value for value.

Guards. Every function checks its inputs before a kernel runs: ``parameters`` must be
a dict (``TypeError``) holding the course keys (``ValueError`` naming a missing key),
arrays must have the course shapes and finite values (``ValueError`` naming the
argument).
"""

from __future__ import annotations

import numpy as np

from .. import _ext
from .._validation import float_array

__all__ = [
    "softmax",
    "sigmoid",
    "rnn_cell_forward",
    "rnn_forward",
    "rnn_cell_backward",
    "rnn_backward",
    "lstm_cell_forward",
    "lstm_forward",
    "lstm_cell_backward",
    "lstm_backward",
]

_F64 = np.float64

RNN_KEYS = ("Wax", "Waa", "Wya", "ba", "by")
"""Parameter keys of the course RNN (``ba`` may also be given as ``b``)."""

LSTM_GATES = ("f", "i", "c", "o")
"""The course's LSTM gates in the kernels' block order [f, i, c, o] (``i`` = update gate)."""

LSTM_KEYS = ("Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo", "Wy", "by")
"""Parameter keys of the course LSTM."""


# --------------------------------------------------------------------------- helpers
# (rnn_utils.py of the course)


def softmax(x):
    """The course's softmax: ``exp(x - max(x)) / sum(axis=0)``, one global max.

    Parameters
    ----------
    x : array_like, (n_y, m) logits.

    Returns
    -------
    ndarray of the shape of ``x``; every column sums to 1.
    """
    x = np.asarray(x)
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum(axis=0)


def sigmoid(x):
    """The course's sigmoid ``1 / (1 + exp(-x))``."""
    return 1 / (1 + np.exp(-np.asarray(x)))


# ------------------------------------------------------------------ layout conversion


def _seq_to_kernel(a, copy=False):
    """Course sequence ``(n, m, T)`` -> kernel layout ``(T, m, n)``, C-contiguous float64.

    ``copy=True`` always returns a new array (for buffers a kernel overwrites).
    """
    t = np.transpose(a, (2, 1, 0))
    if copy:
        return np.array(t, dtype=_F64, order="C", copy=True)
    return np.ascontiguousarray(t, dtype=_F64)


def _seq_from_kernel(a):
    """Kernel layout ``(T, m, n)`` -> course sequence ``(n, m, T)``, C-contiguous."""
    return np.ascontiguousarray(np.transpose(a, (2, 1, 0)))


def _cols_to_rows(a, copy=False):
    """Course columns ``(n, m)`` -> kernel rows ``(m, n)``, C-contiguous float64."""
    if copy:
        return np.array(a.T, dtype=_F64, order="C", copy=True)
    return np.ascontiguousarray(a.T, dtype=_F64)


def _rows_to_cols(a):
    """Kernel rows ``(m, n)`` -> course columns ``(n, m)``, C-contiguous."""
    return np.ascontiguousarray(a.T)


# ------------------------------------------------------------------------ guards


def _get_param(parameters, key, aliases=(), name="parameters"):
    if not isinstance(parameters, dict):
        raise TypeError(f"{name} must be a dict, got {type(parameters).__name__}")
    for k in (key,) + tuple(aliases):
        if k in parameters:
            return k, parameters[k]
    alias = f" (or {', '.join(repr(a) for a in aliases)})" if aliases else ""
    raise ValueError(
        f"{name} is missing the key {key!r}{alias}; it has {sorted(map(str, parameters))}"
    )


class _RNNParams:
    """The course RNN parameters checked and in kernel layout (float64, C-contiguous).

    ``Wax (n_a, n_x)``, ``Waa (n_a, n_a)``, ``Wya (n_y, n_a)`` as given; the biases
    ``ba`` and ``by`` become 1-D ``(n_a,)`` / ``(n_y,)`` (views when the course
    columns are already float64 C-contiguous). ``bias_keys`` lists the accepted
    names of the hidden bias, preferred first (W1A1: ``ba``; W1A2: ``b``); the one
    found is kept in ``bias_key``. Shared with :mod:`fastrnn.course.dinosaurus`.
    """

    __slots__ = ("Wax", "Waa", "Wya", "ba", "by", "n_a", "n_x", "n_y", "bias_key")

    def __init__(self, parameters, name="parameters", bias_keys=("ba", "b")):
        _, Wax = _get_param(parameters, "Wax", name=name)
        _, Waa = _get_param(parameters, "Waa", name=name)
        _, Wya = _get_param(parameters, "Wya", name=name)
        kb, ba = _get_param(parameters, bias_keys[0], bias_keys[1:], name=name)
        self.bias_key = kb
        _, by = _get_param(parameters, "by", name=name)
        self.Wax = float_array(Wax, f"{name}['Wax']", dtype=_F64, ndim=2)
        n_a, n_x = self.Wax.shape
        _positive_dims(self.Wax, f"{name}['Wax']")
        self.Waa = float_array(Waa, f"{name}['Waa']", dtype=_F64, shape=(n_a, n_a))
        self.Wya = float_array(Wya, f"{name}['Wya']", dtype=_F64, ndim=2, shape=(None, n_a))
        n_y = self.Wya.shape[0]
        _positive_dims(self.Wya, f"{name}['Wya']")
        self.ba = float_array(ba, f"{name}[{kb!r}]", dtype=_F64, shape=(n_a, 1)).reshape(n_a)
        self.by = float_array(by, f"{name}['by']", dtype=_F64, shape=(n_y, 1)).reshape(n_y)
        self.n_a, self.n_x, self.n_y = n_a, n_x, n_y


def _positive_dims(a, name):
    if 0 in a.shape:
        raise ValueError(f"{name} must have no zero-length axis, got shape {a.shape}")


def _columns(a, name, rows):
    """A course ``(rows, m)`` float64 array with ``m >= 1``."""
    arr = float_array(a, name, dtype=_F64, ndim=2, shape=(rows, None))
    if arr.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one example (column), got shape {arr.shape}")
    return arr


def _cell_cache(cache, name="cache"):
    if not isinstance(cache, (tuple, list)) or len(cache) != 4:
        got = f"{type(cache).__name__} of length {len(cache)}" if isinstance(cache, (tuple, list)) \
            else type(cache).__name__
        raise TypeError(
            f"{name} must be the 4-tuple (a_next, a_prev, xt, parameters) returned by "
            f"rnn_cell_forward, got {got}"
        )
    return cache


# ------------------------------------------------------------------ kernel drivers


def _forward(p, xk, a0k):
    """Run ``rnn_forward_dense``: xk (T, m, n_x), a0k (m, n_a) -> A (T, m, n_a)."""
    T, m, _ = xk.shape
    A = np.empty((T, m, p.n_a), dtype=_F64)
    _ext.kernels().rnn_forward_dense(xk, p.Wax, p.Waa, p.ba, a0k, A)
    return A


def _course_softmax_seq(Z):
    """The course softmax applied to every time slice of Z (T, n_y, m) at once.

    Each slice gets its own single global max, exactly as one call of
    :func:`softmax` per ``rnn_cell_forward``.
    """
    e = np.exp(Z - np.max(Z, axis=(1, 2), keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _predictions(p, A):
    """yt_pred for every step: A (T, m, n_a) -> (T, n_y, m) course columns."""
    return _softmax_outputs(p.Wya, p.by, A)


def _softmax_outputs(Wy, by, A):
    """The course softmax of ``Wy a_t + by`` for every step: A (T, m, n_a) -> (T, n_y, m)."""
    # logits as one GEMM over all steps: (T, m, n_y) -> (T, n_y, m)
    Z = np.matmul(A, Wy.T)
    Z += by
    return _course_softmax_seq(np.transpose(Z, (0, 2, 1)))


def _backward(Wax, Waa, xk, a0k, A, dA):
    """Run ``rnn_backward_dense``; returns (dx (T, m, n_x), da0 (m, n_a), dWax, dWaa, dba)."""
    T, m, n_x = xk.shape
    n_a = Waa.shape[0]
    dWax = np.zeros((n_a, n_x), dtype=_F64)
    dWaa = np.zeros((n_a, n_a), dtype=_F64)
    dba = np.zeros(n_a, dtype=_F64)
    da0 = np.empty((m, n_a), dtype=_F64)
    dx = np.empty((T, m, n_x), dtype=_F64)
    _ext.kernels().rnn_backward_dense(xk, Wax, Waa, a0k, A, dA, dWax, dWaa, dba, da0, dx)
    return dx, da0, dWax, dWaa, dba


# ------------------------------------------------------------------------------ RNN


def rnn_cell_forward(xt, a_prev, parameters):
    """One step of the course RNN cell.

    ``a_next = tanh(Waa a_prev + Wax xt + ba)``, ``yt_pred = softmax(Wya a_next + by)``.

    Parameters
    ----------
    xt : (n_x, m) input at step t, one column per example.
    a_prev : (n_a, m) hidden state at step t-1.
    parameters : dict with ``Wax (n_a, n_x)``, ``Waa (n_a, n_a)``, ``Wya (n_y, n_a)``,
        ``ba (n_a, 1)`` and ``by (n_y, 1)``. Not modified.

    Returns
    -------
    a_next : (n_a, m) float64.
    yt_pred : (n_y, m) float64, the course softmax (every column sums to 1).
    cache : tuple ``(a_next, a_prev, xt, parameters)`` for :func:`rnn_cell_backward`
        (``a_prev``, ``xt`` and ``parameters`` are the objects passed in).
    """
    p = _RNNParams(parameters)
    x = _columns(xt, "xt", p.n_x)
    m = x.shape[1]
    a0 = float_array(a_prev, "a_prev", dtype=_F64, shape=(p.n_a, m))
    A = _forward(p, _cols_to_rows(x)[None], _cols_to_rows(a0))
    a_next = _rows_to_cols(A[0])
    yt_pred = _predictions(p, A)[0]
    cache = (a_next, a_prev, xt, parameters)
    return a_next, yt_pred, cache


def rnn_forward(x, a0, parameters):
    """The course RNN over a whole sequence (all steps in one kernel call).

    Parameters
    ----------
    x : (n_x, m, T_x) inputs, time last.
    a0 : (n_a, m) initial hidden state.
    parameters : dict as in :func:`rnn_cell_forward`. Not modified.

    Returns
    -------
    a : (n_a, m, T_x) hidden states.
    y_pred : (n_y, m, T_x) predictions (the course softmax of every step).
    caches : tuple ``(list_of_T_x_cell_caches, x)``; cache ``t`` is
        ``(a_next_t, a_prev_t, x[:, :, t], parameters)`` with ``a_prev_0 = a0`` and
        ``a_prev_t`` the very array ``a_next_{t-1}``.
    """
    p = _RNNParams(parameters)
    xa = float_array(x, "x", dtype=_F64, ndim=3, shape=(p.n_x, None, None))
    _, m, T_x = xa.shape
    if m == 0:
        raise ValueError(f"x must hold at least one example, got shape {xa.shape}")
    a0a = float_array(a0, "a0", dtype=_F64, shape=(p.n_a, m))
    if T_x == 0:  # the course loop runs zero times
        return (np.zeros((p.n_a, m, 0)), np.zeros((p.n_y, m, 0)), ([], x))
    A = _forward(p, _seq_to_kernel(xa), _cols_to_rows(a0a))
    a_steps = np.ascontiguousarray(np.transpose(A, (0, 2, 1)))      # (T, n_a, m)
    Y = _predictions(p, A)                                          # (T, n_y, m)
    a = np.ascontiguousarray(np.transpose(a_steps, (1, 2, 0)))
    y_pred = np.ascontiguousarray(np.transpose(Y, (1, 2, 0)))
    cache_list = []
    a_prev = a0
    for t in range(T_x):
        a_next = a_steps[t]
        cache_list.append((a_next, a_prev, xa[:, :, t], parameters))
        a_prev = a_next
    return a, y_pred, (cache_list, x)


def _gather_caches(cache_list, T):
    """Check the first T cell caches and stack them in kernel layout.

    Returns (p_Wax, p_Waa, xk (T, m, n_x), a0k (m, n_a), A (T, m, n_a)).
    """
    c0 = _cell_cache(cache_list[0], "caches[0][0]")
    params = c0[3]
    _, Wax = _get_param(params, "Wax", name="cache parameters")
    _, Waa = _get_param(params, "Waa", name="cache parameters")
    Waa = float_array(Waa, "cache parameters['Waa']", dtype=_F64, ndim=2)
    n_a = Waa.shape[0]
    _positive_dims(Waa, "cache parameters['Waa']")
    if Waa.shape[1] != n_a:
        raise ValueError(f"cache parameters['Waa'] must be square, got shape {Waa.shape}")
    Wax = float_array(Wax, "cache parameters['Wax']", dtype=_F64, ndim=2, shape=(n_a, None))
    n_x = Wax.shape[1]
    x0 = float_array(c0[2], "caches[0][0][2] (xt)", dtype=_F64, ndim=2, shape=(n_x, None))
    m = x0.shape[1]
    if m == 0:
        raise ValueError("caches[0][0][2] (xt) holds no example")
    a0 = float_array(c0[1], "caches[0][0][1] (a_prev)", dtype=_F64, shape=(n_a, m))
    xk = np.empty((T, m, n_x), dtype=_F64)
    A = np.empty((T, m, n_a), dtype=_F64)
    prev = None
    for t in range(T):
        c = _cell_cache(cache_list[t], f"caches[0][{t}]")
        xk[t] = float_array(c[2], f"caches[0][{t}][2] (xt)", dtype=_F64, shape=(n_x, m)).T
        A[t] = float_array(c[0], f"caches[0][{t}][0] (a_next)", dtype=_F64, shape=(n_a, m)).T
        if t and not (c[1] is prev or np.array_equal(np.asarray(c[1]), A[t - 1].T)):
            raise ValueError(
                f"caches[0][{t}][1] (a_prev) is not caches[0][{t - 1}][0] (a_next): the caches "
                "must be the consecutive steps returned by rnn_forward"
            )
        prev = c[0]
    return Wax, Waa, xk, _cols_to_rows(a0), A


def rnn_cell_backward(da_next, cache):
    """Backward pass of one course RNN cell (the output layer is not part of it).

    ``dtanh = da_next * (1 - a_next**2)``; ``dxt = Wax^T dtanh``; ``dWax = dtanh xt^T``;
    ``da_prev = Waa^T dtanh``; ``dWaa = dtanh a_prev^T``; ``dba = sum_m dtanh``.

    Parameters
    ----------
    da_next : (n_a, m) gradient of the loss with respect to ``a_next``.
    cache : the ``(a_next, a_prev, xt, parameters)`` of :func:`rnn_cell_forward`.

    Returns
    -------
    gradients : dict with ``"dxt" (n_x, m)``, ``"da_prev" (n_a, m)``,
        ``"dWax" (n_a, n_x)``, ``"dWaa" (n_a, n_a)`` and ``"dba" (n_a, 1)``.
    """
    Wax, Waa, xk, a0k, A = _gather_caches([_cell_cache(cache)], 1)
    m, n_a = a0k.shape
    da = float_array(da_next, "da_next", dtype=_F64, shape=(n_a, m))
    dA = _cols_to_rows(da, copy=True)[None]
    dx, da0, dWax, dWaa, dba = _backward(Wax, Waa, xk, a0k, A, dA)
    return {
        "dxt": _rows_to_cols(dx[0]),
        "da_prev": _rows_to_cols(da0),
        "dWax": dWax,
        "dWaa": dWaa,
        "dba": dba.reshape(n_a, 1),
    }



def _backward_inputs(caches, da, forward_name):
    """Check the ``(list_of_caches, x)`` pair of a course forward and the upstream ``da``
    ``(n_a, m, T_x)``; return ``(cache_list, da, T_x)``, T_x taken from ``da`` (the
    course's rule: a shorter ``da`` than the forward pass uses the first T_x caches)."""
    if not isinstance(caches, (tuple, list)) or len(caches) != 2 \
            or not isinstance(caches[0], (list, tuple)):
        raise TypeError(f"caches must be the (list_of_caches, x) 2-tuple returned by "
                        f"{forward_name}")
    cache_list = caches[0]
    if len(cache_list) == 0:
        raise ValueError(f"caches holds no cell cache ({forward_name} ran over zero time steps)")
    da = float_array(da, "da", dtype=_F64, ndim=3)
    T_x = da.shape[2]
    if T_x > len(cache_list):
        raise ValueError(
            f"da has T_x = {T_x} time steps but caches holds only {len(cache_list)} cell caches"
        )
    return cache_list, da, T_x

def rnn_backward(da, caches):
    """Backpropagation through time for the course RNN (one kernel call).

    Parameters
    ----------
    da : (n_a, m, T_x) upstream gradient on every hidden state. As in the course,
        ``T_x`` is read from ``da.shape``: it may be shorter than the forward pass,
        and then only ``caches[0][:T_x]`` are used.
    caches : the ``(list_of_cell_caches, x)`` of :func:`rnn_forward`.

    Returns
    -------
    gradients : dict with ``"dx" (n_x, m, T_x)``, ``"da0" (n_a, m)``,
        ``"dWax" (n_a, n_x)``, ``"dWaa" (n_a, n_a)`` and ``"dba" (n_a, 1)``.
    """
    cache_list, da, T_x = _backward_inputs(caches, da, "rnn_forward")
    Wax, Waa, xk, a0k, A = _gather_caches(cache_list, max(T_x, 1))
    m, n_a = a0k.shape
    n_x = xk.shape[2]
    if da.shape[:2] != (n_a, m):
        raise ValueError(f"da must have shape ({n_a}, {m}, T_x), got {da.shape}")
    if T_x == 0:  # the course loop runs zero times
        return {
            "dx": np.zeros((n_x, m, 0)),
            "da0": np.zeros((n_a, m)),
            "dWax": np.zeros((n_a, n_x)),
            "dWaa": np.zeros((n_a, n_a)),
            "dba": np.zeros((n_a, 1)),
        }
    dA = _seq_to_kernel(da, copy=True)
    dx, da0, dWax, dWaa, dba = _backward(Wax, Waa, xk, a0k, A, dA)
    return {
        "dx": _seq_from_kernel(dx),
        "da0": _rows_to_cols(da0),
        "dWax": dWax,
        "dWaa": dWaa,
        "dba": dba.reshape(n_a, 1),
    }



# ----------------------------------------------------------------------------- LSTM


class _LSTMParams:
    """The course LSTM parameters checked and converted to the kernel layout.

    The course's ``W_g (n_a, n_a+n_x)`` for ``g`` in [f, i, c, o] become ``Wh (4 n_a, n_a)``
    (the columns acting on ``a_prev``) and ``Wx (4 n_a, n_x)`` (the columns acting on
    ``xt``), block ``k`` holding gate ``LSTM_GATES[k]``; ``b_g (n_a, 1)`` become
    ``b (4 n_a,)``. With ``output=True`` (forward) ``Wy (n_y, n_a)`` and ``by`` (as
    ``(n_y,)``) are checked too; the backward needs only the gate weights.
    """

    __slots__ = ("Wx", "Wh", "b", "Wy", "by", "n_a", "n_x", "n_y")

    def __init__(self, parameters, name="parameters", output=True):
        raw = {}
        for g in LSTM_GATES:
            for k in ("W" + g, "b" + g):
                raw[k] = _get_param(parameters, k, name=name)[1]
        if output:
            for k in ("Wy", "by"):
                raw[k] = _get_param(parameters, k, name=name)[1]
        Wf = float_array(raw["Wf"], f"{name}['Wf']", dtype=_F64, ndim=2)
        n_a, n_cat = Wf.shape
        _positive_dims(Wf, f"{name}['Wf']")
        if n_cat <= n_a:
            raise ValueError(
                f"{name}['Wf'] must have shape (n_a, n_a+n_x) with n_x >= 1, got {Wf.shape}"
            )
        n_x = n_cat - n_a
        Ws = [Wf] + [float_array(raw["W" + g], f"{name}['W{g}']", dtype=_F64, shape=(n_a, n_cat))
                     for g in LSTM_GATES[1:]]
        bs = [float_array(raw["b" + g], f"{name}['b{g}']", dtype=_F64, shape=(n_a, 1))
              for g in LSTM_GATES]
        self.Wh = np.ascontiguousarray(np.vstack([W[:, :n_a] for W in Ws]))
        self.Wx = np.ascontiguousarray(np.vstack([W[:, n_a:] for W in Ws]))
        self.b = np.vstack(bs).reshape(4 * n_a)
        self.n_a, self.n_x = n_a, n_x
        self.Wy = self.by = self.n_y = None
        if output:
            self.Wy = float_array(raw["Wy"], f"{name}['Wy']", dtype=_F64, ndim=2,
                                  shape=(None, n_a))
            _positive_dims(self.Wy, f"{name}['Wy']")
            self.n_y = self.Wy.shape[0]
            self.by = float_array(raw["by"], f"{name}['by']", dtype=_F64,
                                  shape=(self.n_y, 1)).reshape(self.n_y)


def _lstm_forward_kernel(p, xk, a0k, c0k):
    """Run ``lstm_forward_dense``: xk (T, m, n_x), a0k/c0k (m, n_a) -> A, C, G."""
    T, m, _ = xk.shape
    A = np.empty((T, m, p.n_a), dtype=_F64)
    C = np.empty((T, m, p.n_a), dtype=_F64)
    G = np.empty((T, m, 4 * p.n_a), dtype=_F64)
    _ext.kernels().lstm_forward_dense(xk, p.Wx, p.Wh, p.b, a0k, c0k, A, C, G)
    return A, C, G


def _steps_to_cols(S):
    """Kernel steps (T, m, n) -> (T, n, m), each step a C-contiguous course column block."""
    return np.ascontiguousarray(np.transpose(S, (0, 2, 1)))


def _gates_to_cols(G, n_a):
    """Kernel gates G (T, m, 4 n_a) -> (T, 4, n_a, m): ``[t, k]`` is gate ``k`` of step t."""
    T, m, _ = G.shape
    return np.ascontiguousarray(np.transpose(G.reshape(T, m, 4, n_a), (0, 2, 3, 1)))


def _lstm_cache(cache, name="cache"):
    if not isinstance(cache, (tuple, list)) or len(cache) != 10:
        got = f"{type(cache).__name__} of length {len(cache)}" if isinstance(cache, (tuple, list)) \
            else type(cache).__name__
        raise TypeError(
            f"{name} must be the 10-tuple (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, "
            f"parameters) returned by lstm_cell_forward, got {got}"
        )
    return cache


_CACHE_FIELDS = ("a_next", "c_next", "a_prev", "c_prev", "ft", "it", "cct", "ot", "xt")


def _gather_lstm_caches(cache_list, T):
    """Check the first T LSTM cell caches and stack them in kernel layout.

    Returns (p, xk (T, m, n_x), a0k (m, n_a), c0k (m, n_a), A, C (T, m, n_a),
    G (T, m, 4 n_a) holding the cached activated gates [f, i, cc, o]).
    """
    c0 = _lstm_cache(cache_list[0], "caches[0][0]")
    params = c0[9]
    p = _LSTMParams(params, name="cache parameters", output=False)
    n_a, n_x = p.n_a, p.n_x
    x0 = float_array(c0[8], "caches[0][0][8] (xt)", dtype=_F64, ndim=2, shape=(n_x, None))
    m = x0.shape[1]
    if m == 0:
        raise ValueError("caches[0][0][8] (xt) holds no example")
    a0 = float_array(c0[2], "caches[0][0][2] (a_prev)", dtype=_F64, shape=(n_a, m))
    c0_ = float_array(c0[3], "caches[0][0][3] (c_prev)", dtype=_F64, shape=(n_a, m))
    xk = np.empty((T, m, n_x), dtype=_F64)
    A = np.empty((T, m, n_a), dtype=_F64)
    C = np.empty((T, m, n_a), dtype=_F64)
    G = np.empty((T, m, 4 * n_a), dtype=_F64)
    Gv = G.reshape(T, m, 4, n_a)
    prev = None
    for t in range(T):
        c = _lstm_cache(cache_list[t], f"caches[0][{t}]")
        where = f"caches[0][{t}]"
        if t and c[9] is not params:
            q = _LSTMParams(c[9], name=f"{where}[9] (parameters)", output=False)
            if q.Wh.shape != p.Wh.shape or q.Wx.shape != p.Wx.shape \
                    or not (np.array_equal(q.Wh, p.Wh) and np.array_equal(q.Wx, p.Wx)):
                raise ValueError(
                    f"{where}[9] (parameters) differs from caches[0][0][9]: the caches must be "
                    "the steps of one lstm_forward"
                )
        xk[t] = float_array(c[8], f"{where}[8] (xt)", dtype=_F64, shape=(n_x, m)).T
        A[t] = float_array(c[0], f"{where}[0] (a_next)", dtype=_F64, shape=(n_a, m)).T
        C[t] = float_array(c[1], f"{where}[1] (c_next)", dtype=_F64, shape=(n_a, m)).T
        for k in range(4):
            Gv[t, :, k] = float_array(c[4 + k], f"{where}[{4 + k}] ({_CACHE_FIELDS[4 + k]})",
                                      dtype=_F64, shape=(n_a, m)).T
        if t:
            for j, src, field in ((2, 0, "a"), (3, 1, "c")):
                same = c[j] is prev[src] or np.array_equal(
                    np.asarray(c[j]), (A if field == "a" else C)[t - 1].T)
                if not same:
                    raise ValueError(
                        f"{where}[{j}] ({field}_prev) is not caches[0][{t - 1}][{src}] "
                        f"({field}_next): the caches must be the consecutive steps returned "
                        "by lstm_forward"
                    )
        prev = c
    return p, xk, _cols_to_rows(a0), _cols_to_rows(c0_), A, C, G


def _lstm_backward_kernel(p, xk, a0k, c0k, A, C, G, dA, dcT):
    """Run ``lstm_backward_dense`` (G and dA are overwritten).

    Returns (dx (T, m, n_x), da0 (m, n_a), dc0 (m, n_a), dWx, dWh, db).
    """
    T, m, n_x = xk.shape
    n_a = p.n_a
    dWx = np.zeros((4 * n_a, n_x), dtype=_F64)
    dWh = np.zeros((4 * n_a, n_a), dtype=_F64)
    db = np.zeros(4 * n_a, dtype=_F64)
    da0 = np.empty((m, n_a), dtype=_F64)
    dc0 = np.empty((m, n_a), dtype=_F64)
    dx = np.empty((T, m, n_x), dtype=_F64)
    _ext.kernels().lstm_backward_dense(xk, p.Wx, p.Wh, a0k, c0k, A, C, G, dA, dcT,
                                       dWx, dWh, db, da0, dc0, dx)
    return dx, da0, dc0, dWx, dWh, db


def _gate_gradients(dWx, dWh, db, n_a):
    """Kernel gradients -> the course's ``dW_g = [dWh_g | dWx_g]`` and ``db_g (n_a, 1)``."""
    out = {}
    for k, g in enumerate(LSTM_GATES):
        rows = slice(k * n_a, (k + 1) * n_a)
        out["dW" + g] = np.hstack([dWh[rows], dWx[rows]])
        out["db" + g] = db[rows].reshape(n_a, 1).copy()
    return out


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    """One step of the course LSTM cell.

    With ``concat = [a_prev; xt]``: ``ft = σ(Wf concat + bf)``, ``it = σ(Wi concat + bi)``,
    ``cct = tanh(Wc concat + bc)``, ``c_next = ft*c_prev + it*cct``,
    ``ot = σ(Wo concat + bo)``, ``a_next = ot*tanh(c_next)``,
    ``yt_pred = softmax(Wy a_next + by)``.

    Parameters
    ----------
    xt : (n_x, m) input at step t, one column per example.
    a_prev, c_prev : (n_a, m) hidden and cell state at step t-1.
    parameters : dict with ``Wf, Wi, Wc, Wo (n_a, n_a+n_x)``, ``bf, bi, bc, bo (n_a, 1)``,
        ``Wy (n_y, n_a)`` and ``by (n_y, 1)``. Not modified.

    Returns
    -------
    a_next, c_next : (n_a, m) float64.
    yt_pred : (n_y, m) float64, the course softmax (every column sums to 1).
    cache : tuple ``(a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)``
        for :func:`lstm_cell_backward` (``a_prev``, ``c_prev``, ``xt`` and ``parameters``
        are the objects passed in; the gates are ``(n_a, m)``).
    """
    p = _LSTMParams(parameters)
    x = _columns(xt, "xt", p.n_x)
    m = x.shape[1]
    a0 = float_array(a_prev, "a_prev", dtype=_F64, shape=(p.n_a, m))
    c0 = float_array(c_prev, "c_prev", dtype=_F64, shape=(p.n_a, m))
    A, C, G = _lstm_forward_kernel(p, _cols_to_rows(x)[None], _cols_to_rows(a0),
                                   _cols_to_rows(c0))
    a_next = _rows_to_cols(A[0])
    c_next = _rows_to_cols(C[0])
    ft, it, cct, ot = _gates_to_cols(G, p.n_a)[0]
    yt_pred = _softmax_outputs(p.Wy, p.by, A)[0]
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, yt_pred, cache


def lstm_forward(x, a0, parameters):
    """The course LSTM over a whole sequence (all steps in one kernel call).

    The cell state starts at zeros (the course has no ``c0`` argument).

    Parameters
    ----------
    x : (n_x, m, T_x) inputs, time last.
    a0 : (n_a, m) initial hidden state.
    parameters : dict as in :func:`lstm_cell_forward`. Not modified.

    Returns
    -------
    a : (n_a, m, T_x) hidden states.
    y : (n_y, m, T_x) predictions (the course softmax of every step).
    c : (n_a, m, T_x) cell states.
    caches : tuple ``(list_of_T_x_cell_caches, x)``; cache ``t`` is
        ``(a_next_t, c_next_t, a_prev_t, c_prev_t, ft, it, cct, ot, x[:, :, t], parameters)``
        with ``a_prev_0 = a0``, ``c_prev_0`` zeros, and ``a_prev_t`` / ``c_prev_t`` the
        very arrays ``a_next_{t-1}`` / ``c_next_{t-1}``.
    """
    p = _LSTMParams(parameters)
    xa = float_array(x, "x", dtype=_F64, ndim=3, shape=(p.n_x, None, None))
    _, m, T_x = xa.shape
    if m == 0:
        raise ValueError(f"x must hold at least one example, got shape {xa.shape}")
    a0a = float_array(a0, "a0", dtype=_F64, shape=(p.n_a, m))
    c_prev = np.zeros((p.n_a, m))
    if T_x == 0:  # the course loop runs zero times
        return (np.zeros((p.n_a, m, 0)), np.zeros((p.n_y, m, 0)), np.zeros((p.n_a, m, 0)),
                ([], x))
    A, C, G = _lstm_forward_kernel(p, _seq_to_kernel(xa), _cols_to_rows(a0a),
                                   _cols_to_rows(c_prev))
    a_steps = _steps_to_cols(A)                                     # (T, n_a, m)
    c_steps = _steps_to_cols(C)
    gates = _gates_to_cols(G, p.n_a)                                # (T, 4, n_a, m)
    Y = _softmax_outputs(p.Wy, p.by, A)                             # (T, n_y, m)
    a = np.ascontiguousarray(np.transpose(a_steps, (1, 2, 0)))
    c = np.ascontiguousarray(np.transpose(c_steps, (1, 2, 0)))
    y = np.ascontiguousarray(np.transpose(Y, (1, 2, 0)))
    cache_list = []
    a_prev = a0
    for t in range(T_x):
        ft, it, cct, ot = gates[t]
        a_next, c_next = a_steps[t], c_steps[t]
        cache_list.append((a_next, c_next, a_prev, c_prev, ft, it, cct, ot,
                           xa[:, :, t], parameters))
        a_prev, c_prev = a_next, c_next
    return a, y, c, (cache_list, x)


def lstm_cell_backward(da_next, dc_next, cache):
    """Backward pass of one course LSTM cell (the output layer is not part of it).

    With ``s = dc_next + da_next*ot*(1 - tanh(c_next)**2)``:
    ``dot = da_next*tanh(c_next)*ot*(1-ot)``, ``dcct = s*it*(1-cct**2)``,
    ``dit = s*cct*it*(1-it)``, ``dft = s*c_prev*ft*(1-ft)``; ``dW_g = d_g concat^T``,
    ``db_g = sum_m d_g``; ``dconcat = sum_g W_g^T d_g`` split into ``da_prev``/``dxt``;
    ``dc_prev = s*ft``. The gates are taken from the cache.

    Parameters
    ----------
    da_next, dc_next : (n_a, m) gradients on ``a_next`` and ``c_next``.
    cache : the 10-tuple of :func:`lstm_cell_forward`.

    Returns
    -------
    gradients : dict with ``"dxt" (n_x, m)``, ``"da_prev" (n_a, m)``, ``"dc_prev" (n_a, m)``
        and ``"dWf"``, ``"dbf"``, ``"dWi"``, ``"dbi"``, ``"dWc"``, ``"dbc"``, ``"dWo"``,
        ``"dbo"`` (each ``dW (n_a, n_a+n_x)``, ``db (n_a, 1)``).
    """
    p, xk, a0k, c0k, A, C, G = _gather_lstm_caches([_lstm_cache(cache)], 1)
    m, n_a = a0k.shape
    da = float_array(da_next, "da_next", dtype=_F64, shape=(n_a, m))
    dc = float_array(dc_next, "dc_next", dtype=_F64, shape=(n_a, m))
    dA = _cols_to_rows(da, copy=True)[None]
    dx, da0, dc0, dWx, dWh, db = _lstm_backward_kernel(p, xk, a0k, c0k, A, C, G, dA,
                                                       _cols_to_rows(dc, copy=True))
    out = {"dxt": _rows_to_cols(dx[0]), "da_prev": _rows_to_cols(da0),
           "dc_prev": _rows_to_cols(dc0)}
    out.update(_gate_gradients(dWx, dWh, db, n_a))
    return out


def lstm_backward(da, caches):
    """Backpropagation through time for the course LSTM (one kernel call).

    The gradient on the last cell state is zero, as in the course.

    Parameters
    ----------
    da : (n_a, m, T_x) upstream gradient on every hidden state. As in the course,
        ``T_x`` is read from ``da.shape``: it may be shorter than the forward pass,
        and then only ``caches[0][:T_x]`` are used (the course test passes ``T_x = 4``
        after a 7-step forward).
    caches : the ``(list_of_cell_caches, x)`` of :func:`lstm_forward`.

    Returns
    -------
    gradients : dict with ``"dx" (n_x, m, T_x)``, ``"da0" (n_a, m)`` and ``"dWf"``,
        ``"dbf"``, ``"dWi"``, ``"dbi"``, ``"dWc"``, ``"dbc"``, ``"dWo"``, ``"dbo"``
        (each ``dW (n_a, n_a+n_x)``, ``db (n_a, 1)``). There is no ``dc0``.
    """
    cache_list, da, T_x = _backward_inputs(caches, da, "lstm_forward")
    p, xk, a0k, c0k, A, C, G = _gather_lstm_caches(cache_list, max(T_x, 1))
    m, n_a = a0k.shape
    n_x = xk.shape[2]
    if da.shape[:2] != (n_a, m):
        raise ValueError(f"da must have shape ({n_a}, {m}, T_x), got {da.shape}")
    if T_x == 0:  # the course loop runs zero times
        out = {"dx": np.zeros((n_x, m, 0)), "da0": np.zeros((n_a, m))}
        out.update(_gate_gradients(np.zeros((4 * n_a, n_x)), np.zeros((4 * n_a, n_a)),
                                   np.zeros(4 * n_a), n_a))
        return out
    dA = _seq_to_kernel(da, copy=True)
    dcT = np.zeros((m, n_a), dtype=_F64)
    dx, da0, _, dWx, dWh, db = _lstm_backward_kernel(p, xk, a0k, c0k, A, C, G, dA, dcT)
    out = {"dx": _seq_from_kernel(dx), "da0": _rows_to_cols(da0)}
    out.update(_gate_gradients(dWx, dWh, db, n_a))
    return out
