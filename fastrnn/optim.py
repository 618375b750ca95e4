"""Gradient clipping and optimizers (SGD, Adam, Adagrad) over dicts of arrays.

Public. Parameters and gradients are dicts ``{name: array}`` / ``{"d" + name: array}``
(the course's convention, e.g. ``Waa`` / ``dWaa``); the updates run in place on the
active backend's kernels (``fastrnn.set_backend``).
"""

from __future__ import annotations

import numpy as np

from . import _ext
from ._validation import finite_float


def _grad_arrays(grads):
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict of arrays, got {type(grads).__name__}")
    out = []
    for k, g in grads.items():
        if not isinstance(g, np.ndarray) or g.dtype not in (np.float32, np.float64):
            raise TypeError(f"grads[{k!r}] must be a float32/float64 ndarray")
        if not g.flags.c_contiguous:
            raise ValueError(f"grads[{k!r}] must be C-contiguous")
        out.append(g)
    return out


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
    if not inplace:
        grads = {k: np.array(v, copy=True) for k, v in grads.items()}
    _ext.kernels().clip_(_grad_arrays(grads), m)
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
    return float(_ext.kernels().global_norm(_grad_arrays(grads)))


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
    norm = float(k.global_norm(arrays))
    if not np.isfinite(norm):
        raise ValueError("the gradients hold NaN or infinity; lower the learning rate")
    if norm > m:
        k.scale_(arrays, m / norm)
    return norm


def _pairs(params, grads):
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    ps, gs = [], []
    for name, p in params.items():
        key = "d" + name
        if key not in grads:
            raise ValueError(f"grads is missing {key!r} for parameter {name!r}")
        g = grads[key]
        if not isinstance(p, np.ndarray) or not isinstance(g, np.ndarray):
            raise TypeError(f"params[{name!r}] and grads[{key!r}] must be ndarrays")
        if p.shape != g.shape or p.dtype != g.dtype:
            raise ValueError(f"grads[{key!r}] {g.shape} {g.dtype} does not match "
                             f"params[{name!r}] {p.shape} {p.dtype}")
        if not (p.flags.c_contiguous and g.flags.c_contiguous):
            raise ValueError(f"params[{name!r}] and grads[{key!r}] must be C-contiguous")
        ps.append(p)
        gs.append(g)
    return ps, gs


class Optimizer:
    """Base class: ``step(params, grads)`` updates ``params`` in place."""

    name = "optimizer"

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
        for name, p in params.items():
            if name not in self.m:
                self.m[name] = np.zeros_like(p)
                self.v[name] = np.zeros_like(p)
        self.t += 1
        _ext.kernels().adam_update_(ps, gs, [self.m[n] for n in params],
                                    [self.v[n] for n in params], self.lr, self.beta1,
                                    self.beta2, self.eps, self.t)

    def state_dict(self):
        d = {"t": np.int64(self.t)}
        d.update({"m." + k: v for k, v in self.m.items()})
        d.update({"v." + k: v for k, v in self.v.items()})
        return d

    def load_state_dict(self, state):
        self.t = int(state["t"])
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
        for name, p in params.items():
            if name not in self.mem:
                self.mem[name] = np.zeros_like(p)
        _ext.kernels().adagrad_update_(ps, gs, [self.mem[n] for n in params], self.lr,
                                       self.eps)

    def state_dict(self):
        return {"mem." + k: v for k, v in self.mem.items()}

    def load_state_dict(self, state):
        self.mem = {k[4:]: np.array(v) for k, v in state.items() if k.startswith("mem.")}


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adagrad": Adagrad}
