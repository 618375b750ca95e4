"""The course's "Dinosaurus Island" character-level language model (W1A2), on fastrnn kernels.

Public. ``fastrnn.course.dinosaurus`` reproduces the assignment and its ``utils.py``
(COURSE_SPEC.md section 4) with the course's exact names, signatures, dict keys,
cache layouts, printed output and use of NumPy's legacy global RNG
(``np.random.seed`` / ``randn`` / ``shuffle`` and the one ``random_sample()`` draw of
``np.random.choice(..., p=...)``), so that its numbers are the course's numbers.
Every recurrence, the output layer, clipping, the SGD update and the sampling pick
run on the kernels of the active backend (``fastrnn.set_backend``: the compiled
``fastrnn._rnn``/``fastrnn._ops`` by default, or their NumPy twin).

Layouts. Course column vectors ``(n, 1)`` are kernel rows ``(B=1, n)``; the biases
``b (n_a, 1)``, ``by (n_y, 1)`` are kernel vectors ``(n,)`` (views of the same
memory); index sequences are ``(T, 1)`` int64 with ``-1`` for the course's ``None``
(the zero input vector).

Speed. :func:`model` keeps the parameters in kernel layout for the whole run (views
sharing memory with the returned dict), encodes every example once, preallocates
every buffer for the longest name and runs the iterations between two printouts
in one kernel call (``RNNTrainer.run``: per iteration the fused step, forward,
softmax, BPTT, clip to [-5, 5], SGD, with ``a_prev`` carried); the smoothed loss and
the printouts follow in the course's order. It equals a loop over :func:`optimize`,
which is the course's composition ``rnn_forward -> rnn_backward -> clip ->
update_parameters``.

Names. The hidden bias is ``b`` (every course version up to 2021); ``ba`` is accepted
as an alias wherever a parameters dict is read (``db``/``dba`` likewise for
gradients). Numbers are float64, as in the course.

Guards. Inputs are checked before any kernel runs: non-dict parameters raise
``TypeError``, a missing key, a wrong shape, NaN/infinite values, an index out of
range, an empty sequence or an unknown character raise ``ValueError`` naming it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

from .. import _ext
from .._validation import check_finite_loss, finite_float, float_array, positive_int
from ..optim import _check_update
from .step_by_step import _get_param, _RNNParams

__all__ = [
    "softmax",
    "smooth",
    "print_sample",
    "get_sample",
    "get_initial_loss",
    "initialize_parameters",
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
    "update_parameters",
    "clip",
    "sample",
    "optimize",
    "model",
]

_F64 = np.float64
_BIAS_KEYS = ("b", "ba")
_GRAD_KEYS = ("dWaa", "dWax", "dWya", "db", "dby")   # clip's keys, in the course's order
MAX_SAMPLE_CHARS = 50
"""``sample`` stops after this many picks and then appends the newline (length <= 51)."""
CLIP_VALUE = 5.0
"""``optimize`` clips every gradient to ``[-5, 5]``."""
PRINT_EVERY = 2000
"""``model`` prints the loss and samples names every this many iterations."""
_MASKED = np.full((1, 1), -1, dtype=np.int64)


# ------------------------------------------------------------------ utils.py helpers


def softmax(x):
    """The course's softmax: ``exp(x - max(x)) / sum(axis=0)`` with one global max."""
    x = np.asarray(x)
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum(axis=0)


def smooth(loss, cur_loss):
    """Exponential smoothing of the loss, ``0.999 * loss + 0.001 * cur_loss``."""
    return loss * 0.999 + cur_loss * 0.001


def _sample_text(sample_ix, ix_to_char):
    try:
        n = len(sample_ix)
    except TypeError:
        raise TypeError(
            f"sample_ix must be a sequence of indices, got {type(sample_ix).__name__}"
        ) from None
    if n == 0:
        raise ValueError("sample_ix is empty: there is no character to print")
    try:
        txt = "".join(ix_to_char[ix] for ix in sample_ix)
    except (KeyError, IndexError) as exc:
        raise ValueError(f"sample_ix holds an index that ix_to_char does not map: {exc}") from None
    return txt[0].upper() + txt[1:]


def print_sample(sample_ix, ix_to_char):
    """Print the sampled name, first letter upper-cased, with ``end=''``.

    The name normally ends in ``'\\n'``, so it still appears on its own line.
    """
    print("%s" % (_sample_text(sample_ix, ix_to_char),), end="")


def get_sample(sample_ix, ix_to_char):
    """Return the sampled name with its first letter upper-cased (keeps the ``'\\n'``)."""
    return _sample_text(sample_ix, ix_to_char)


def get_initial_loss(vocab_size, seq_length):
    """``-log(1 / vocab_size) * seq_length``: the loss of a uniform guess over a name."""
    vocab_size = positive_int(vocab_size, "vocab_size")
    seq_length = positive_int(seq_length, "seq_length", minimum=0)
    return -np.log(1.0 / vocab_size) * seq_length


def initialize_parameters(n_a, n_x, n_y):
    """The course's initial parameters, from NumPy's legacy global RNG.

    Calls ``np.random.seed(1)``, then draws ``Wax = randn(n_a, n_x) * 0.01``,
    ``Waa = randn(n_a, n_a) * 0.01``, ``Wya = randn(n_y, n_a) * 0.01`` in that order;
    ``b = zeros((n_a, 1))``, ``by = zeros((n_y, 1))``.

    Returns
    -------
    parameters : dict with keys ``Wax, Waa, Wya, b, by`` (float64, C-contiguous).
    """
    n_a = positive_int(n_a, "n_a")
    n_x = positive_int(n_x, "n_x")
    n_y = positive_int(n_y, "n_y")
    np.random.seed(1)
    Wax = np.random.randn(n_a, n_x) * 0.01
    Waa = np.random.randn(n_a, n_a) * 0.01
    Wya = np.random.randn(n_y, n_a) * 0.01
    b = np.zeros((n_a, 1))
    by = np.zeros((n_y, 1))
    return {"Wax": Wax, "Waa": Waa, "Wya": Wya, "b": b, "by": by}


# ---------------------------------------------------------------------------- guards


def _params(parameters):
    return _RNNParams(parameters, bias_keys=_BIAS_KEYS)


def _column(a, name, n):
    return float_array(a, name, dtype=_F64, shape=(n, 1))


def _encode(seq, name, high, allow_none):
    """A course index list -> int64 (T, 1), ``None`` -> -1 (the zero input)."""
    if isinstance(seq, np.ndarray):
        if seq.ndim != 1:
            raise ValueError(f"{name} must be a 1-D sequence of indices, got shape {seq.shape}")
        seq = seq.tolist()
    elif not isinstance(seq, (list, tuple)):
        raise TypeError(f"{name} must be a list of integer indices, got {type(seq).__name__}")
    if len(seq) == 0:
        raise ValueError(f"{name} is empty: a sequence needs at least one time step")
    out = np.empty((len(seq), 1), dtype=np.int64)
    for t, v in enumerate(seq):
        if v is None:
            if not allow_none:
                raise ValueError(f"{name}[{t}] is None; only X may hold None (the zero input)")
            out[t, 0] = -1
            continue
        if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
            raise TypeError(f"{name}[{t}] must be an integer index, got {type(v).__name__} {v!r}")
        if not 0 <= v < high:
            hint = " (use None for the zero input)" if allow_none and v < 0 else ""
            raise ValueError(f"{name}[{t}] = {v} is outside [0, {high - 1}]{hint}")
        out[t, 0] = v
    return out


def _grad_target(gradients, key, shape, aliases=()):
    """The caller's gradient array that is updated in place (must be a float ndarray)."""
    k, g = _get_param(gradients, key, aliases, name="gradients")
    if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
        raise TypeError(f"gradients[{k!r}] must be a float NumPy array (it is updated in place), "
                        f"got {type(g).__name__}")
    if g.shape != shape:
        raise ValueError(f"gradients[{k!r}] must have shape {shape}, got {g.shape}")
    if not g.flags.writeable:
        raise ValueError(f"gradients[{k!r}] is read-only; it is updated in place")
    return k, g


def _char_to_ix(char_to_ix, high):
    if not isinstance(char_to_ix, Mapping):
        raise TypeError(f"char_to_ix must be a dict, got {type(char_to_ix).__name__}")
    if "\n" not in char_to_ix:
        raise ValueError("char_to_ix has no entry for '\\n' (the end-of-name character)")
    nl = char_to_ix["\n"]
    if isinstance(nl, bool) or not isinstance(nl, (numbers.Integral, np.integer)) \
            or not 0 <= nl < high:
        raise ValueError(f"char_to_ix['\\n'] = {nl!r} must be an integer index in [0, {high - 1}]")
    return int(nl)


# ------------------------------------------------------------------- forward/backward


def rnn_step_forward(parameters, a_prev, x):
    """One RNN step: ``a_next = tanh(Wax x + Waa a_prev + b)``, ``p_t = softmax(Wya a_next + by)``.

    Parameters
    ----------
    parameters : dict with ``Wax (n_a, n_x)``, ``Waa (n_a, n_a)``, ``Wya (n_y, n_a)``,
        ``b (n_a, 1)`` (or ``ba``), ``by (n_y, 1)``.
    a_prev : (n_a, 1) previous hidden state.
    x : (n_x, 1) input column (one-hot or zeros).

    Returns
    -------
    a_next : (n_a, 1); p_t : (n_y, 1) probabilities.
    """
    p = _params(parameters)
    a0 = _column(a_prev, "a_prev", p.n_a)
    xc = _column(x, "x", p.n_x)
    K = _ext.kernels()
    A = np.empty((1, 1, p.n_a))
    K.rnn_forward_dense(xc.reshape(1, 1, p.n_x), p.Wax, p.Waa, p.ba, a0.reshape(1, p.n_a), A)
    P = np.empty((1, 1, p.n_y))
    K.softmax_xent_forward(A, p.Wya, p.by, _MASKED, P)
    return A.reshape(p.n_a, 1), P.reshape(p.n_y, 1)


def rnn_step_backward(dy, gradients, parameters, x, a, a_prev):
    """One step of BPTT, accumulating into ``gradients`` in place (the course's order).

    ``dWya += dy a^T``; ``dby += dy``; ``da = Wya^T dy + da_next``;
    ``daraw = (1 - a^2) * da``; ``db += daraw``; ``dWax += daraw x^T``;
    ``dWaa += daraw a_prev^T``; ``gradients['da_next'] = Waa^T daraw`` (a new array).

    Parameters
    ----------
    dy : (n_y, 1) gradient on the logits (``y_hat - onehot(y)``).
    gradients : dict of float arrays ``dWax, dWaa, dWya, db (or dba), dby, da_next``;
        updated in place and returned.
    parameters : dict as in :func:`rnn_step_forward`.
    x : (n_x, 1) input of the step; a : (n_a, 1) its hidden state; a_prev : (n_a, 1).
    """
    p = _params(parameters)
    dyc = _column(dy, "dy", p.n_y)
    xc = _column(x, "x", p.n_x)
    ac = _column(a, "a", p.n_a)
    apc = _column(a_prev, "a_prev", p.n_a)
    _, gWya = _grad_target(gradients, "dWya", (p.n_y, p.n_a))
    _, gby = _grad_target(gradients, "dby", (p.n_y, 1))
    _, gb = _grad_target(gradients, "db", (p.n_a, 1), ("dba",))
    _, gWax = _grad_target(gradients, "dWax", (p.n_a, p.n_x))
    _, gWaa = _grad_target(gradients, "dWaa", (p.n_a, p.n_a))
    _, da_next = _get_param(gradients, "da_next", name="gradients")
    da_next = _column(da_next, "gradients['da_next']", p.n_a)
    # da = Wya^T dy + da_next, as a kernel row (1, 1, n_a)
    dA = (np.dot(p.Wya.T, dyc) + da_next).reshape(1, 1, p.n_a)
    dWax = np.zeros((p.n_a, p.n_x))
    dWaa = np.zeros((p.n_a, p.n_a))
    db = np.zeros(p.n_a)
    da0 = np.empty((1, p.n_a))
    dx = np.empty((1, 1, p.n_x))
    _ext.kernels().rnn_backward_dense(xc.reshape(1, 1, p.n_x), p.Wax, p.Waa, apc.reshape(1, p.n_a),
                                      ac.reshape(1, 1, p.n_a), dA, dWax, dWaa, db, da0, dx)
    gWya += np.dot(dyc, ac.T)
    gby += dyc
    gb += db.reshape(p.n_a, 1)
    gWax += dWax
    gWaa += dWaa
    gradients["da_next"] = da0.reshape(p.n_a, 1)
    return gradients


def _forward(p, Xk, Yk, a0c, vocab_size):
    """Kernel forward + softmax over one name; returns (loss, cache) course-style."""
    T = Xk.shape[0]
    K = _ext.kernels()
    A = np.empty((T, 1, p.n_a))
    K.rnn_forward_ix(Xk, p.Wax, p.Waa, p.ba, a0c.reshape(1, p.n_a), A)
    P = np.empty((T, 1, p.n_y))
    loss = K.softmax_xent_forward(A, p.Wya, p.by, Yk, P)
    onehot = np.zeros((T, vocab_size, 1))
    valid = np.nonzero(Xk[:, 0] >= 0)[0]
    onehot[valid, Xk[valid, 0], 0] = 1
    x = {}
    a = {-1: np.copy(a0c)}
    y_hat = {}
    for t in range(T):
        x[t] = onehot[t]
        a[t] = A[t].reshape(p.n_a, 1)
        y_hat[t] = P[t].reshape(p.n_y, 1)
    return np.float64(loss), (y_hat, a, x)


def rnn_forward(X, Y, a0, parameters, vocab_size=27):
    """Forward pass over one name, all steps in one kernel call.

    Parameters
    ----------
    X : list of T input indices; ``X[t] = None`` means the zero input vector.
    Y : list of (at least T) target indices.
    a0 : (n_a, 1) initial hidden state.
    parameters : dict as in :func:`rnn_step_forward`.
    vocab_size : int, the size of the one-hot inputs; must equal ``Wax.shape[1]``.

    Returns
    -------
    loss : float, the cross-entropy **summed** over the T steps (not averaged).
    cache : ``(y_hat, a, x)``, dicts keyed by t: ``y_hat[t] (n_y, 1)``,
        ``a[t] (n_a, 1)`` with ``a[-1]`` a copy of ``a0``, ``x[t] (vocab_size, 1)`` one-hot.
    """
    p = _params(parameters)
    vocab_size = positive_int(vocab_size, "vocab_size")
    if vocab_size != p.n_x:
        raise ValueError(f"vocab_size = {vocab_size} but parameters['Wax'] has {p.n_x} columns")
    Xk = _encode(X, "X", p.n_x, allow_none=True)
    Yk = _encode(Y, "Y", p.n_y, allow_none=False)
    if Yk.shape[0] < Xk.shape[0]:
        raise ValueError(f"Y has {Yk.shape[0]} targets for {Xk.shape[0]} inputs X")
    a0c = _column(a0, "a0", p.n_a)
    return _forward(p, Xk, np.ascontiguousarray(Yk[: Xk.shape[0]]), a0c, vocab_size)


def _cache_stack(cache, T, p):
    if not isinstance(cache, (tuple, list)) or len(cache) != 3 \
            or not all(isinstance(d, dict) for d in cache):
        raise TypeError("cache must be the (y_hat, a, x) tuple of dicts returned by rnn_forward")
    y_hat, a, x = cache
    P = np.empty((T, 1, p.n_y))
    A = np.empty((T, 1, p.n_a))
    xk = np.empty((T, 1, p.n_x))
    for name, d, out, n in (("y_hat", y_hat, P, p.n_y), ("a", a, A, p.n_a), ("x", x, xk, p.n_x)):
        for t in range(T):
            if t not in d:
                raise ValueError(f"cache {name} has no step {t}: the cache is shorter than X")
            out[t, 0] = _column(d[t], f"cache {name}[{t}]", n)[:, 0]
    if -1 not in a:
        raise ValueError("cache a has no entry a[-1] (the initial hidden state)")
    a0 = _column(a[-1], "cache a[-1]", p.n_a).reshape(1, p.n_a)
    return P, A, xk, a0


def _backward(p, T, Yk, cache):
    """Course rnn_backward on the kernels; returns (6-key gradients, cache a dict)."""
    P, A, xk, a0 = _cache_stack(cache, T, p)
    # dy = y_hat[t] - onehot(Y[t]); the output layer's share of BPTT in one product each
    dz = P.reshape(T, p.n_y)
    dz[np.arange(T), Yk[:T, 0]] -= 1
    A2 = A.reshape(T, p.n_a)
    dWya = np.dot(dz.T, A2)
    dby = dz.sum(axis=0).reshape(p.n_y, 1)
    dA = np.dot(dz, p.Wya).reshape(T, 1, p.n_a)            # Wya^T dy_t for every t
    dWax = np.zeros((p.n_a, p.n_x))
    dWaa = np.zeros((p.n_a, p.n_a))
    db = np.zeros(p.n_a)
    da0 = np.empty((1, p.n_a))
    dx = np.empty((T, 1, p.n_x))
    _ext.kernels().rnn_backward_dense(xk, p.Wax, p.Waa, a0, A, dA, dWax, dWaa, db, da0, dx)
    gradients = {
        "dWax": dWax,
        "dWaa": dWaa,
        "dWya": dWya,
        "db": db.reshape(p.n_a, 1),
        "dby": dby,
        "da_next": da0.reshape(p.n_a, 1),
    }
    return gradients, cache[1]


def rnn_backward(X, Y, parameters, cache):
    """Backpropagation through time over one name (the BPTT loop in one kernel call).

    Uses the cache of :func:`rnn_forward` exactly as the course does (``y_hat``, ``a``
    and the one-hot ``x`` of steps ``0 .. len(X)-1`` and ``a[-1]``).

    Returns
    -------
    gradients : dict with the 6 keys ``dWax, dWaa, dWya, db, dby, da_next``.
    a : the cache's dict of hidden states.
    """
    p = _params(parameters)
    Xk = _encode(X, "X", p.n_x, allow_none=True)
    Yk = _encode(Y, "Y", p.n_y, allow_none=False)
    T = Xk.shape[0]
    if Yk.shape[0] < T:
        raise ValueError(f"Y has {Yk.shape[0]} targets for {T} inputs X")
    return _backward(p, T, Yk, cache)


# ------------------------------------------------------------------ clip and update


def update_parameters(parameters, gradients, lr):
    """Plain SGD in place, ``W += -lr * dW`` for ``Wax, Waa, Wya, b, by``.

    The caller's arrays are updated in place (``b`` may be ``ba``, ``db`` may be
    ``dba``); a non-contiguous parameter is updated through a contiguous copy that is
    written back. Returns ``parameters``.
    """
    p = _params(parameters)
    lr = finite_float(lr, "lr")
    pairs = []
    for key, gkey, galias, shape in (
        ("Wax", "dWax", (), p.Wax.shape),
        ("Waa", "dWaa", (), p.Waa.shape),
        ("Wya", "dWya", (), p.Wya.shape),
        (p.bias_key, "db", ("dba",), (p.n_a, 1)),
        ("by", "dby", (), (p.n_y, 1)),
    ):
        target = parameters[key]
        if not isinstance(target, np.ndarray) or target.dtype.kind != "f":
            raise TypeError(f"parameters[{key!r}] must be a float NumPy array (it is updated in "
                            f"place), got {type(target).__name__}")
        if not target.flags.writeable:
            raise ValueError(f"parameters[{key!r}] is read-only; it is updated in place")
        gk, g = _get_param(gradients, gkey, galias, name="gradients")
        g = float_array(g, f"gradients[{gk!r}]", dtype=target.dtype, shape=shape)
        pairs.append((target, g))
    # non-finite gradients or an update that overflows: ValueError before any write
    _check_update([t for t, _ in pairs], [g for _, g in pairs], lr, lambda m: m,
                  "update_parameters")
    sgd = _ext.kernels().sgd_update_
    for target, g in pairs:
        if target.flags.c_contiguous:
            sgd([target], [g], lr)
        else:
            work = np.ascontiguousarray(target)
            sgd([work], [g], lr)
            target[...] = work
    return parameters


def clip(gradients, maxValue):
    """Clip the gradients element-wise to ``[-maxValue, maxValue]`` (2021+ semantics).

    Returns a **new** dict with exactly the keys ``dWaa, dWax, dWya, db, dby`` (copies;
    ``da_next`` is dropped); the caller's arrays are unchanged. ``db`` may be given
    as ``dba``. Infinite entries clip to ``+-maxValue``; NaN raises ``ValueError``.
    """
    maxValue = finite_float(maxValue, "maxValue", minimum=0)
    out = {}
    for key in _GRAD_KEYS:
        k, g = _get_param(gradients, key, ("dba",) if key == "db" else (), name="gradients")
        arr = float_array(g, f"gradients[{k!r}]", finite=False, copy=True)
        if np.isnan(arr).any():
            raise ValueError(f"gradients[{k!r}] contains NaN")
        out[key] = arr
    _ext.kernels().clip_(list(out.values()), maxValue)
    return out


# -------------------------------------------------------------------------- sampling

_UNIFORMS: dict[tuple, np.ndarray] = {}
_UNIFORMS_MAX = 4096


def _course_uniforms(seed):
    """The uniform each of the up to 50 picks of ``sample(.., seed)`` draws.

    Pick k runs ``np.random.seed(seed + 2k)`` and ``np.random.choice(.., p=..)``, which
    draws exactly one ``random_sample()``: a constant per seed, cached here.
    """
    u = _UNIFORMS.get(seed)
    if u is None:
        u = np.empty(MAX_SAMPLE_CHARS)
        for k in range(MAX_SAMPLE_CHARS):
            np.random.seed(seed + 2 * k)
            u[k] = np.random.random_sample()
        u.flags.writeable = False
        if len(_UNIFORMS) < _UNIFORMS_MAX:
            _UNIFORMS[seed] = u
    return u


def sample(parameters, char_to_ix, seed):
    """Sample a name, one character at a time, with the course's exact RNG use.

    Starts from a zero input and a zero hidden state. Pick k (``counter = k``) runs
    ``np.random.seed(counter + seed)`` (the seed also grows by one per pick, so pick k
    uses ``seed + 2k``) and draws ``idx`` like ``np.random.choice(range(vocab_size),
    p=y.ravel())``; the pick is fed back as the next one-hot input. Stops after the
    newline or after 50 picks, then appends a newline. The global RNG is left in the
    state the course code leaves it in.

    Parameters
    ----------
    parameters : dict as in :func:`rnn_step_forward`, with ``n_x == n_y``.
    char_to_ix : dict mapping characters to indices; must contain ``'\\n'``.
    seed : int >= 0.

    Returns
    -------
    indices : list of int (at most 51 entries).
    """
    p = _params(parameters)
    if p.n_x != p.n_y:
        raise ValueError(f"sample feeds each pick back as the next input: parameters['Wax'] must "
                         f"have vocab_size = {p.n_y} columns, got {p.n_x}")
    newline = _char_to_ix(char_to_ix, p.n_y)
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__} {seed!r}")
    seed = int(seed)
    last = seed + 2 * (MAX_SAMPLE_CHARS - 1)
    if seed < 0 or last > 2**32 - 1:
        top = 2**32 - 1 - 2 * (MAX_SAMPLE_CHARS - 1)
        raise ValueError(f"seed must be in [0, {top}] (np.random.seed(seed + 2k)), got {seed}")
    u = _course_uniforms(seed)
    a = np.zeros(p.n_a)
    out = np.empty(MAX_SAMPLE_CHARS, dtype=np.int64)
    n = _ext.kernels().rnn_sample(p.Wax, p.Waa, p.ba, p.Wya, p.by, a, -1, u, 1.0, 0, newline, out)
    # leave the global RNG as the course does: seeded for the last pick, one draw made
    np.random.seed(seed + 2 * (n - 1))
    np.random.random_sample()
    indices = out[:n].tolist()
    if n == MAX_SAMPLE_CHARS:
        indices.append(newline)
    return indices


# ---------------------------------------------------------------------- optimization


def optimize(X, Y, a_prev, parameters, learning_rate=0.01):
    """One training step on one name: forward, backward, clip to [-5, 5], SGD update.

    The course's composition ``rnn_forward -> rnn_backward -> clip(.., 5) ->
    update_parameters``, each on the kernels. ``parameters`` is updated in place.
    The course's ``rnn_forward`` call relies on its default ``vocab_size=27``; here
    the vocabulary size is read from ``parameters["Wax"]`` (the same for 27), so any
    vocabulary works.

    Parameters
    ----------
    X, Y : lists of indices (``X[0]`` may be ``None``); a_prev : (n_a, 1).
    parameters : dict as in :func:`rnn_step_forward`, modified in place.
    learning_rate : float.

    Returns
    -------
    loss : float, summed cross-entropy before the update.
    gradients : the clipped 5-key dict ``dWaa, dWax, dWya, db, dby``.
    a_last : (n_a, 1), the last hidden state ``a[len(X) - 1]``.
    """
    p = _params(parameters)
    learning_rate = finite_float(learning_rate, "learning_rate")
    Xk = _encode(X, "X", p.n_x, allow_none=True)
    Yk = _encode(Y, "Y", p.n_y, allow_none=False)
    T = Xk.shape[0]
    if Yk.shape[0] < T:
        raise ValueError(f"Y has {Yk.shape[0]} targets for {T} inputs X")
    Yk = np.ascontiguousarray(Yk[:T])
    a0c = _column(a_prev, "a_prev", p.n_a)
    loss, cache = _forward(p, Xk, Yk, a0c, p.n_x)
    gradients, a = _backward(p, T, Yk, cache)
    gradients = clip(gradients, CLIP_VALUE)
    update_parameters(parameters, gradients, learning_rate)
    return loss, gradients, a[T - 1]


def _examples(data_x):
    if isinstance(data_x, str):
        # v3-v3b read the lines of the text (readlines: no empty name after a final '\n')
        lines = data_x.split("\n")
        if len(lines) > 1 and lines[-1] == "":
            lines.pop()
        data_x = lines
    if not isinstance(data_x, (list, tuple)):
        try:
            data_x = list(data_x)
        except TypeError:
            raise TypeError(
                f"data_x must be a list of names (str), got {type(data_x).__name__}"
            ) from None
    for i, s in enumerate(data_x):
        if not isinstance(s, str):
            raise TypeError(f"data_x[{i}] must be a str (a name), got {type(s).__name__} {s!r}")
    examples = [x.strip() for x in data_x]
    if not examples:
        raise ValueError("data_x holds no names")
    return examples


def model(data_x, ix_to_char, char_to_ix, num_iterations=35000, n_a=50, dino_names=7,
          vocab_size=27, verbose=False):
    """Train the course's character-level RNN on names (2021 signature and output).

    Initialises the parameters (:func:`initialize_parameters`, legacy seed 1),
    shuffles ``[x.strip() for x in data_x]`` with ``np.random.seed(0)``, then for
    ``j = 0 .. num_iterations-1`` trains on name ``j % len(examples)`` with
    ``X = [None] + ix``, ``Y = ix + [newline]``, carrying the last hidden state from
    one name to the next, exactly like a loop over :func:`optimize` (learning rate
    0.01). Every 2000 iterations it prints the smoothed loss and ``dino_names``
    sampled names (seeds 0, 1, ...), exactly as the course prints them; ``verbose``
    adds the course's debug lines.

    Parameters
    ----------
    data_x : list of str, the names (``data.split("\\n")`` of the lower-cased text);
        a str is split into its lines.
    ix_to_char : dict index -> character; char_to_ix : dict character -> index
        (must contain ``'\\n'``, every character of the names, indices < vocab_size).
    num_iterations : int >= 0; n_a : int >= 1 hidden units; dino_names : int >= 0
        names sampled per report; vocab_size : int; verbose : bool.

    Returns
    -------
    parameters : dict ``Wax, Waa, Wya, b, by`` after training.
    last_dino_name : str, the last name sampled (with its ``'\\n'``), ``"abc"`` if none.
    """
    num_iterations = positive_int(num_iterations, "num_iterations", minimum=0)
    n_a = positive_int(n_a, "n_a")
    dino_names = positive_int(dino_names, "dino_names", minimum=0)
    vocab_size = positive_int(vocab_size, "vocab_size")
    newline = _char_to_ix(char_to_ix, vocab_size)
    examples = _examples(data_x)
    codes = {}
    for i, name in enumerate(examples):
        for c in name:
            if c not in codes:
                if c not in char_to_ix:
                    raise ValueError(f"character {c!r} of name {i} ({name!r}) is not in char_to_ix")
                ix = char_to_ix[c]
                if isinstance(ix, bool) or not isinstance(ix, (numbers.Integral, np.integer)) \
                        or not 0 <= ix < vocab_size:
                    raise ValueError(f"char_to_ix[{c!r}] = {ix!r} must be an integer index in "
                                     f"[0, {vocab_size - 1}]")
                codes[c] = int(ix)
    if num_iterations and dino_names:
        if not isinstance(ix_to_char, (Mapping, list, tuple, str)):
            raise TypeError(f"ix_to_char must be a dict, got {type(ix_to_char).__name__}")
        for i in range(vocab_size):
            try:
                ix_to_char[i]
            except (KeyError, IndexError):
                raise ValueError(f"ix_to_char has no character for index {i}") from None

    n_x, n_y = vocab_size, vocab_size
    parameters = initialize_parameters(n_a, n_x, n_y)
    loss = get_initial_loss(vocab_size, dino_names)
    np.random.seed(0)
    np.random.shuffle(examples)
    last_dino_name = "abc"

    # kernel layout: views sharing memory with the course dict (updated in place)
    Wax, Waa, Wya = parameters["Wax"], parameters["Waa"], parameters["Wya"]
    ba, by = parameters["b"].reshape(n_a), parameters["by"].reshape(n_y)
    if not (np.shares_memory(ba, parameters["b"]) and np.shares_memory(by, parameters["by"])):
        raise RuntimeError("internal error: the bias views do not share memory")  # pragma: no cover
    # the trainer holds the parameter views, the buffers sized for the longest name and
    # a_prev (its a0), carried across names
    L = max(len(s) for s in examples) + 1
    trainer = _ext.kernels().RNNTrainer(Wax, Waa, ba, Wya, by, L, 1, CLIP_VALUE, 0.01)
    # every name as rows of one (N, 1) array: example e is rows offsets[e]:offsets[e + 1]
    Xs, Ys, offsets = [], [], [0]
    for name in examples:
        ix = [codes[c] for c in name]
        Xs += [-1] + ix
        Ys += ix + [newline]
        offsets.append(len(Xs))
    Xs = np.array(Xs, dtype=np.int64).reshape(-1, 1)
    Ys = np.array(Ys, dtype=np.int64).reshape(-1, 1)
    offsets = np.array(offsets, dtype=np.int64)

    n_examples = len(examples)
    debug_js = (0, n_examples - 1, n_examples)
    isfinite = math.isfinite
    # the iterations between two printouts run in one kernel call (the loop draws no
    # random numbers: only the printouts sample); the smoothing and the prints follow,
    # in the course's order
    j = 0
    while j < num_iterations:
        j1 = min(num_iterations, -(-j // PRINT_EVERY) * PRINT_EVERY + 1)   # to a printout
        order = np.arange(j, j1, dtype=np.int64) % n_examples
        losses = np.empty(j1 - j)
        done = trainer.run(Xs, Ys, offsets, order, losses)
        for k in range(done):
            jj = j + k
            curr_loss = float(losses[k])
            if not isfinite(curr_loss):
                check_finite_loss(curr_loss, f"loss at iteration {jj}")

            if verbose and jj in debug_js:
                print("j = ", jj, "idx = ", jj % n_examples,)
            if verbose and jj == 0:
                single_example = examples[0]
                single_example_chars = [c for c in single_example]
                single_example_ix = [char_to_ix[c] for c in single_example_chars]
                X = [None] + single_example_ix
                Y = X[1:] + [char_to_ix["\n"]]
                print("single_example =", single_example)
                print("single_example_chars", single_example_chars)
                print("single_example_ix", single_example_ix)
                print(" X = ", X, "\n", "Y =       ", Y, "\n")

            loss = loss * 0.999 + curr_loss * 0.001          # smooth(loss, curr_loss)

            if jj % PRINT_EVERY == 0:
                print("Iteration: %d, Loss: %f" % (jj, loss) + "\n")
                for seed in range(dino_names):
                    sampled_indices = sample(parameters, char_to_ix, seed)
                    last_dino_name = get_sample(sampled_indices, ix_to_char)
                    print(last_dino_name.replace("\n", ""))
                print("\n")
        j = j1

    return parameters, last_dino_name
