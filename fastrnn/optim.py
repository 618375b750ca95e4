"""Gradient clipping and optimizers (SGD, Adam, Adagrad) over dicts of arrays.

Public. Parameters and gradients are dicts ``{name: array}`` / ``{"d" + name: array}``
(the course's convention, e.g. ``Waa`` / ``dWaa``); the updates run in place on the
active backend's kernels (``fastrnn.set_backend``).
"""

from __future__ import annotations

import math

import numpy as np

from . import _ext
from ._validation import all_finite, finite_float, representable


def _grad_arrays(grads):
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict of arrays, got {type(grads).__name__}")
    out = []
    for k, g in grads.items():
        if not isinstance(g, np.ndarray) or g.dtype not in (np.float32, np.float64):
            raise TypeError(f"grads[{k!r}] must be a float32/float64 ndarray")
        if not g.flags.c_contiguous:
            raise ValueError(f"grads[{k!r}] must be C-contiguous")
        if not g.flags.writeable:
            raise ValueError(f"grads[{k!r}] is read-only")
        out.append(g)
    if not all_finite(out):
        raise ValueError("grads hold NaN or infinity (training diverged? lower the learning "
                         "rate)")
    return out


def _absmax(arrays):
    """The largest ``|x|`` over the arrays (float64); NaN when one holds NaN."""
    m = 0.0
    for a in arrays:
        if a.size:
            hi, lo = float(a.max()), float(a.min())         # both NaN when one is
            if hi != hi:
                return hi
            m = max(m, hi, -lo)
    return m


def _check_update(ps, gs, lr, step_bound, what):
    """Before an update ``|p_new - p| <= lr * step_bound(max|g|)``: raise ValueError,
    naming the cause, when the gradients are not finite or the update could overflow the
    parameters' dtype (nothing is written then). ``step_bound`` None: no bound known."""
    gmax = _absmax(gs)
    if not np.isfinite(gmax):
        raise ValueError(f"{what}: grads hold NaN or infinity (training diverged? "
                         "lower the learning rate or clip the gradients)")
    for p in ps[:1]:
        representable(lr, "lr", p.dtype)
        big = float(np.finfo(p.dtype).max)
        bound = step_bound(gmax)
        if bound is not None and _absmax(ps) + abs(lr) * bound >= big / 2:
            raise ValueError(f"{what}: lr={lr} times gradients up to {gmax:.3g} would overflow "
                             f"the {p.dtype.name} parameters; lower the learning rate")


def clip_by_value(grads, max_value, *, inplace=True):
    """Clip every gradient to ``[-max_value, max_value]``.

    Parameters
    ----------
    grads : dict of str -> ndarray
        Gradients of any shapes, float32 or float64, C-contiguous.
    max_value : float > 0
    inplace : bool, default True
        False returns a new dict of clipped copies and leaves ``grads`` unchanged.

    Returns
    -------
    dict
        ``grads`` itself (in place) or the copies, same keys and shapes.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> g = {"dWaa": np.array([[-7.0, 0.5], [3.0, 9.0]])}
    >>> fastrnn.clip_by_value(g, 5.0)["dWaa"].tolist()
    [[-5.0, 0.5], [3.0, 5.0]]
    """
    m = finite_float(max_value, "max_value", 0.0, strict=True)
    arrays = _grad_arrays(grads)
    for g in arrays:               # a bound that rounds to 0 would clip everything to 0
        representable(m, "max_value", g.dtype)
    if not inplace:
        grads = {k: np.array(v, copy=True) for k, v in grads.items()}
        arrays = list(grads.values())
    _ext.kernels().clip_(arrays, m)
    return grads


def global_norm(grads):
    """The global L2 norm ``sqrt(sum of squares)`` over all gradients (float64).

    Parameters
    ----------
    grads : dict of str -> ndarray
        Gradients of any shapes, float32 or float64, C-contiguous.

    Returns
    -------
    float
        The norm of all entries of all arrays taken as one vector.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> fastrnn.global_norm({"dby": np.array([3.0]), "dba": np.array([[4.0]])})
    5.0
    """
    return _norm(_grad_arrays(grads))


def _norm(arrays):
    norm = float(_ext.kernels().global_norm(arrays))
    if not np.isfinite(norm):        # finite gradients whose squares overflow: rescale
        m = _absmax(arrays)
        norm = m * float(np.sqrt(sum(np.sum(np.square(g / m, dtype=np.float64))
                                     for g in arrays)))
    return norm


def clip_by_norm(grads, max_norm):
    """Rescale all gradients in place so their global L2 norm is at most ``max_norm``.

    Parameters
    ----------
    grads : dict of str -> ndarray
        Gradients of any shapes, float32 or float64, C-contiguous; modified in place.
    max_norm : float > 0

    Returns
    -------
    norm : float
        The global norm before clipping.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> g = {"dby": np.array([3.0, 4.0])}
    >>> fastrnn.clip_by_norm(g, 1.0), g["dby"].tolist()
    (5.0, [0.6000000000000001, 0.8])
    """
    m = finite_float(max_norm, "max_norm", 0.0, strict=True)
    arrays = _grad_arrays(grads)
    k = _ext.kernels()
    norm = _norm(arrays)
    if not np.isfinite(norm):
        raise ValueError(f"the global norm of grads overflows ({norm}); lower the learning "
                         "rate")
    if norm > m:
        k.scale_(arrays, m / norm)
    return norm


def _pairs(params, grads):
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict of arrays, got {type(grads).__name__}")
    ps, gs = [], []
    for name, p in params.items():
        key = "d" + name
        if key not in grads:
            raise ValueError(f"grads is missing {key!r} for params[{name!r}]")
        g = grads[key]
        if not isinstance(p, np.ndarray) or not isinstance(g, np.ndarray):
            raise TypeError(f"params[{name!r}] and grads[{key!r}] must be ndarrays")
        if p.shape != g.shape or p.dtype != g.dtype:
            raise ValueError(f"grads[{key!r}] {g.shape} {g.dtype} does not match "
                             f"params[{name!r}] {p.shape} {p.dtype}")
        if p.dtype not in (np.float32, np.float64):
            raise TypeError(f"params[{name!r}] must be float32 or float64, got {p.dtype}")
        if ps and p.dtype != ps[0].dtype:
            raise TypeError(f"params mixes dtypes: {ps[0].dtype} and {p.dtype} ({name!r})")
        if not p.flags.writeable:
            raise ValueError(f"params[{name!r}] is read-only")
        if not (p.flags.c_contiguous and g.flags.c_contiguous):
            raise ValueError(f"params[{name!r}] and grads[{key!r}] must be C-contiguous")
        ps.append(p)
        gs.append(g)
    return ps, gs


class Optimizer:
    """Base class: ``step(params, grads)`` updates ``params`` in place.

    Every step first checks the gradients are finite and that the update cannot
    overflow the parameters' dtype (ValueError otherwise, before anything is written).
    """

    name = "optimizer"

    def _state_for(self, store, params):
        """The state arrays of ``store`` for ``params`` (zeros when new; a shape or dtype
        that no longer matches, e.g. from a foreign checkpoint, is a ValueError)."""
        out = []
        for name, p in params.items():
            s = store.get(name)
            if s is None:
                s = store[name] = np.zeros_like(p)
            elif (type(s) is not np.ndarray or s.shape != p.shape or s.dtype != p.dtype
                  or not s.flags.c_contiguous or not s.flags.writeable):
                raise ValueError(f"{self.name} state for {name!r} "
                                 f"{getattr(s, 'shape', '?')} {getattr(s, 'dtype', '?')} does "
                                 f"not match the parameter {p.shape} {p.dtype}")
            out.append(s)
        return out

    def step(self, params, grads):  # pragma: no cover - abstract
        """Update ``params`` in place from ``grads``.

        Parameters
        ----------
        params : dict of str -> ndarray
            The weights (e.g. ``{"Waa": (H, H), ...}``), modified in place.
        grads : dict of str -> ndarray
            ``{"d" + name: array}`` of the same shapes and dtype as ``params``.
        """
        raise NotImplementedError

    def state_dict(self):
        """Arrays and scalars that resume the optimizer exactly (for checkpoints)."""
        return {}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``p += -lr * g`` (the course's update).

    Parameters
    ----------
    lr : float > 0, default 0.01
        Learning rate.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> p = {"by": np.array([1.0, 2.0])}
    >>> fastrnn.SGD(lr=0.5).step(p, {"dby": np.array([2.0, -2.0])})
    >>> p["by"].tolist()
    [0.0, 3.0]
    """

    name = "sgd"

    def __init__(self, lr=0.01):
        self.lr = finite_float(lr, "lr", 0.0, strict=True)

    def step(self, params, grads):
        ps, gs = _pairs(params, grads)
        _check_update(ps, gs, self.lr, lambda g: g, "SGD")
        _ext.kernels().sgd_update_(ps, gs, self.lr)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction.

    Parameters
    ----------
    lr : float > 0, default 0.001
    beta1, beta2 : float in [0, 1), default 0.9, 0.999
        Decay rates of the first and second moment estimates.
    eps : float > 0, default 1e-8

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> p = {"by": np.array([1.0, 2.0])}
    >>> opt = fastrnn.Adam(lr=0.1)
    >>> opt.step(p, {"dby": np.array([2.0, -2.0])})  # the first step moves each by lr
    >>> np.round(p["by"], 6).tolist(), opt.t
    ([0.9, 2.1], 1)
    """

    name = "adam"

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr = finite_float(lr, "lr", 0.0, strict=True)
        self.beta1 = finite_float(beta1, "beta1", 0.0)
        self.beta2 = finite_float(beta2, "beta2", 0.0)
        if self.beta1 >= 1 or self.beta2 >= 1:
            raise ValueError("beta1 and beta2 must be < 1")
        self.eps = finite_float(eps, "eps", 0.0, strict=True)
        self.t = 0
        self.m = {}
        self.v = {}

    def step(self, params, grads):
        ps, gs = _pairs(params, grads)
        ms, vs = self._state_for(self.m, params), self._state_for(self.v, params)
        b = self._ratio_bound(self.t + 1)
        _check_update(ps, gs, self.lr, lambda g: b, "Adam")
        if ps and _absmax(gs) * _absmax(gs) >= float(np.finfo(ps[0].dtype).max) / 2:
            raise ValueError("Adam: the squared grads overflow the "
                             f"{ps[0].dtype.name} second moment; lower the learning rate")
        self.t += 1
        _ext.kernels().adam_update_(ps, gs, ms, vs, self.lr, self.beta1, self.beta2,
                                    self.eps, self.t)

    def _ratio_bound(self, t):
        """An upper bound of ``|m_hat| / sqrt(v_hat)`` at step ``t`` (Cauchy-Schwarz on
        the two moving averages): ``(1 - b1) sqrt(S / (1 - b2)) sqrt(1 - b2^t) / (1 - b1^t)``
        with ``S = sum_{k<t} (b1^2 / b2)^k``; None when it cannot be bounded."""
        b1, b2 = self.beta1, self.beta2
        if b2 == 0:
            return 1.0 if b1 == 0 else None
        r = b1 * b1 / b2
        try:
            S = t if r == 1 else (1.0 - r ** t) / (1.0 - r)
        except OverflowError:
            return None
        return (1 - b1) * math.sqrt(S / (1 - b2)) * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)

    def state_dict(self):
        d = {"t": np.int64(self.t)}
        d.update({"m." + k: v for k, v in self.m.items()})
        d.update({"v." + k: v for k, v in self.v.items()})
        return d

    def load_state_dict(self, state):
        t = np.asarray(state["t"])
        if t.ndim or t.dtype.kind not in "iu" or int(t) < 0:
            raise ValueError(f"Adam state t must be an integer >= 0, got {t!r}")
        self.t = int(t)
        self.m = {k[2:]: np.array(v) for k, v in state.items() if k.startswith("m.")}
        self.v = {k[2:]: np.array(v) for k, v in state.items() if k.startswith("v.")}


class Adagrad(Optimizer):
    """Adagrad as in min-char-rnn: ``mem += g^2``; ``p -= lr * g / sqrt(mem + eps)``.

    Parameters
    ----------
    lr : float > 0, default 0.1
    eps : float > 0, default 1e-8

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> p = {"by": np.array([1.0, 2.0])}
    >>> fastrnn.Adagrad(lr=0.1).step(p, {"dby": np.array([2.0, -2.0])})
    >>> np.round(p["by"], 6).tolist()
    [0.9, 2.1]
    """

    name = "adagrad"

    def __init__(self, lr=0.1, eps=1e-8):
        self.lr = finite_float(lr, "lr", 0.0, strict=True)
        self.eps = finite_float(eps, "eps", 0.0, strict=True)
        self.mem = {}

    def step(self, params, grads):
        ps, gs = _pairs(params, grads)
        mems = self._state_for(self.mem, params)
        # |g| / sqrt(mem + g^2 + eps) <= 1 (once g^2 is known not to overflow mem)
        _check_update(ps, gs, self.lr, lambda g: 1.0, "Adagrad")
        gmax = _absmax(gs)
        if ps and gmax * gmax + _absmax(mems) >= float(np.finfo(ps[0].dtype).max) / 2:
            raise ValueError("Adagrad: the accumulated squared grads overflow "
                             f"{ps[0].dtype.name}; lower the learning rate")
        _ext.kernels().adagrad_update_(ps, gs, mems, self.lr, self.eps)

    def state_dict(self):
        return {"mem." + k: v for k, v in self.mem.items()}

    def load_state_dict(self, state):
        self.mem = {k[4:]: np.array(v) for k, v in state.items() if k.startswith("mem.")}


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adagrad": Adagrad}
