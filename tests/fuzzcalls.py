"""Hostile calls to fastrnn's public API, shared by the hypothesis suite (test_fuzz.py)
and the fuzz driver (fuzz_driver.py).

A call is built from a *chooser* (``pick(seq)``, ``integer(lo, hi)``): the driver backs
it with a seeded NumPy generator, hypothesis with ``data.draw``. Each call takes mostly
valid arguments and makes one to three of them hostile (values from the pools below).
:func:`run_call` runs it on both backends (fresh, identically seeded objects) and
classifies the outcome:

``ok``        both backends returned, results agree and pass the sanity checks;
``rejected``  both raised ValueError/TypeError (the same class) naming a hostile argument;
``garbage``   a result that fails its sanity check (out-of-range index, NaN, ...);
``disagree``  the backends returned different results or raised differently;
``unnamed``   a ValueError/TypeError whose message names none of the hostile arguments;
``other``     any other exception (its type is recorded).
"""

from __future__ import annotations

import math
import re

import numpy as np

import fastrnn

NAN, INF = float("nan"), float("inf")

INTS = [0, 1, 2, 3, -1, -2, 7, 2**31 - 1, 2**31, 2**32 + 1, 2**63 - 1, 2**63, 2**64 - 1,
        2**64, 2**100, -(2**63), -(2**64), np.int64(3), np.uint64(2**64 - 1), np.int8(-1),
        np.uint8(255), True, False]
FLOATS = [0.0, -0.0, 1.0, 0.5, 2.0, -1.0, 1e-320, 5e-324, 1e-300, 1e-45, 1e-40, 1e-8, 1e38,
          3.5e38, 1e39, 1e300, 1.7e308, NAN, INF, -INF, 2**1100, -(2**1100), np.float32(NAN),
          np.float16(1), np.float64(1e-310)]
JUNK = [None, "1", b"1", [1.0], (1,), {"a": 1}, 1 + 2j, object(), np.array([1.0]), Ellipsis]

V, H = 6, 5             # the fuzzed models: small, so thousands of calls take seconds


class RngChooser:
    """The chooser of the driver: a seeded NumPy generator."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def integer(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))


def hostile_scalar(c, kind):
    """A hostile value for a scalar argument of ``kind`` ("int", "float")."""
    r = c.integer(0, 9)
    if r < 5:
        return c.pick(INTS if kind == "int" else FLOATS)
    if r < 8:
        return c.pick(FLOATS if kind == "int" else INTS)
    return c.pick(JUNK)


def index_seq(c, high, T, B):
    """A valid index array (T, B) in [-1, high)."""
    return np.array([[c.integer(-1, high - 1) for _ in range(B)] for _ in range(T)], np.int64)


def hostile_indices(c, high, T, B):
    """A hostile index sequence."""
    good = index_seq(c, high, T, B)
    r = c.integer(0, 17)
    if r == 0:
        return np.zeros((0,), np.int64)
    if r == 1:
        return np.zeros((T, 0), np.int64)
    if r == 2:
        return np.array(3)
    if r == 3:
        return good.astype(np.uint64) + np.uint64(2**64 - 2)
    if r == 4:
        return good.astype(np.float64) + 0.5
    if r == 5:
        return good.astype(object)
    if r == 6:
        return [[1, 2], [3]]
    if r == 7:
        return good.reshape(T, B, 1)
    if r == 8:
        g = good.copy()
        g.flat[c.integer(0, g.size - 1)] = c.pick([high, -2, 2**40, -(2**40)])
        return g
    if r == 9:
        return np.asfortranarray(np.repeat(good, 2, axis=1))[:, ::2]     # a strided view
    if r == 10:
        return good.astype(bool)
    if r == 11:
        return [c.pick(INTS) for _ in range(T)]
    if r == 12:
        return "abc"
    if r == 13:
        return good.astype(np.int32)
    if r == 14:
        g = good.copy()
        g.setflags(write=False)
        return g
    if r == 15:
        return [None] + list(good[1:, 0])
    if r == 16:
        return good.astype(np.uint8)
    return c.pick(JUNK)


def hostile_float_array(c, shape, dtype):
    """A hostile dense array for an argument of ``shape``."""
    good = np.zeros(shape, dtype) + 0.1
    r = c.integer(0, 9)
    if r == 0:
        g = good.copy()
        g.flat[0] = c.pick([NAN, INF, -INF])
        return g
    if r == 1:
        return np.zeros(shape[:-1] + (shape[-1] + 1,), dtype)
    if r == 2:
        return np.zeros((0,) + shape[1:], dtype)
    if r == 3:
        return good.astype(np.complex128)
    if r == 4:
        return good.astype(object)
    if r == 5:
        # huge but finite; not 1e300: the compiled LSTM's saturated gate derivatives are
        # ~1e-308 where the twin's are 0, and x = 1e300 would scale that into 1e-8
        return np.full(shape, 1e30)
    if r == 6:
        return good.T
    if r == 7:
        return good.astype(np.int64)
    if r == 8:
        return good.tolist()
    return c.pick(JUNK)


def make_model(cell, dtype):
    cls = fastrnn.RNN if cell == "rnn" else fastrnn.LSTM
    return cls(V, H, dtype=dtype, seed=3, init_scale=0.5)


# --------------------------------------------------------------------- calls
KINDS = ("model", "ctor", "from_params", "optim", "clip", "charmodel", "vocab", "course")


def build_call(c, kind=None):
    """One hostile call: ``(label, fn, hostile names, dtype)`` where ``fn()`` makes fresh
    objects and calls the API (run once per backend); ``dtype`` sets the tolerance.
    ``kind`` (one of ``KINDS``) picks the entry points, default: any (models 4 times
    as often)."""
    dtype = c.pick([np.float32, np.float64])
    if kind is None:
        kind = c.pick(["model"] * 3 + list(KINDS))
    return _build_call(c, dtype, kind) + (dtype,)


def _build_call(c, dtype, kind):
    cell = c.pick(["rnn", "lstm"])
    T, B = c.integer(1, 5), c.integer(1, 3)
    if kind == "model":
        return _model_call(c, cell, dtype, T, B)
    if kind == "ctor":
        names = ["input_size", "hidden_size", "output_size", "init_scale", "seed", "dtype"]
        kw = {"input_size": V, "hidden_size": H, "output_size": V, "init_scale": 0.1, "seed": 0,
              "dtype": dtype}
        bad = _spoil(c, kw, names, {"init_scale": "float", "dtype": "dtype"})
        cls = fastrnn.RNN if cell == "rnn" else fastrnn.LSTM
        if "forget_bias" not in kw and cell == "lstm" and c.integer(0, 3) == 0:
            kw["forget_bias"] = hostile_scalar(c, "float")
            bad.append("forget_bias")
        return f"{cls.__name__}({_show(kw)})", lambda: _probe(cls(**kw)), bad
    if kind == "from_params":
        m = make_model(cell, dtype)
        params = {k: v.copy() for k, v in m.params.items()}
        name = c.pick(list(params))
        r = c.integer(0, 5)
        if r == 0:
            del params[name]
        elif r == 1:
            shape = list(params[name].shape)
            shape[c.integer(0, len(shape) - 1)] = c.pick([0, 1, 2, 7])
            params[name] = np.zeros(shape)
        else:
            params[name] = hostile_float_array(c, params[name].shape, dtype)
        cls = type(m)
        return (f"{cls.__name__}.from_params({name} spoiled)",
                lambda: _probe(cls.from_params(params)), [name, "params", "size", "shape"])
    if kind == "optim":
        return _optim_call(c, dtype)
    if kind == "clip":
        return _clip_call(c, dtype)
    if kind == "charmodel":
        return _charmodel_call(c, cell, dtype)
    if kind == "course":
        return _course_call(c, cell)
    return _vocab_call(c)


def _spoil(c, kw, names, kinds):
    """Make 1-2 of ``kw``'s entries hostile; return their names."""
    bad = []
    for _ in range(c.integer(1, 2)):
        name = c.pick(names)
        k = kinds.get(name, "int")
        if k == "dtype":
            kw[name] = c.pick([np.int32, "float16", None, "float128", object, "f4", np.complex64])
        else:
            kw[name] = hostile_scalar(c, k)
            if name == "seed" and kw[name] is None:
                kw[name] = 0               # valid, and random: the backends could not agree
                continue
        bad.append(name)
    return bad


def _show(kw):
    def s(v):
        if isinstance(v, np.ndarray):
            return f"<{v.dtype} {v.shape}>"
        r = repr(v)
        return r if len(r) < 40 else r[:37] + "..."
    return ", ".join(f"{k}={s(v)}" for k, v in kw.items())


def _model_call(c, cell, dtype, T, B):
    method = c.pick(["loss", "forward", "predict_proba", "loss_and_grads", "train_step",
                     "sample", "sample", "initial_state"])
    X = index_seq(c, V, T, B)
    Y = index_seq(c, V, T, B)
    Y[Y < 0] = 0
    kw = {}
    bad = []
    if method == "sample":
        kw = {"n": c.integer(1, 20), "seed": c.integer(0, 99), "temperature": c.pick([0.0, 0.7,
              1.0, 3.0]), "top_k": c.integer(0, V + 1), "start": c.integer(-1, V - 1),
              "stop": c.integer(-1, V - 1)}
        bad = _spoil(c, kw, list(kw), {"temperature": "float"})
        if c.integer(0, 4) == 0:
            kw["state"] = hostile_float_array(c, (1, H), dtype)
            bad.append("state")
        return (f"{cell}.sample({_show(kw)})",
                lambda: make_model(cell, dtype).sample(**kw), bad)
    if method == "initial_state":
        b = hostile_scalar(c, "int")
        return (f"{cell}.initial_state({b!r})", lambda: make_model(cell, dtype).initial_state(b),
                ["batch"])
    args = {"X": X}
    if method in ("loss", "loss_and_grads", "train_step"):
        args["Y"] = Y
    choices = list(args) + ["state"]
    if method == "train_step":
        args.update(lr=0.05, clip=5.0)
        choices += ["lr", "clip", "lr", "clip"]
    if method == "loss_and_grads":
        choices.append("dA")
    for _ in range(c.integer(1, 2)):
        name = c.pick(choices)
        bad.append(name)
        if name == "X":
            args["X"] = (hostile_indices(c, V, T, B) if c.integer(0, 3) else
                         hostile_float_array(c, (T, B, V), dtype))
        elif name == "Y":
            args["Y"] = hostile_indices(c, V, T, B)
        elif name in ("lr", "clip"):
            args[name] = hostile_scalar(c, "float")
        elif name == "dA":
            args["dA"] = hostile_float_array(c, (T, B, H), dtype)
        else:
            args["state"] = (hostile_float_array(c, (B, H), dtype) if cell == "rnn" or
                             c.integer(0, 1) else c.pick([(np.zeros((B, H)),), JUNK[0], 3]))
            bad += ["state[0]", "state[1]", "LSTM state"]
    if any(n in bad for n in ("X",)):
        bad.append("Y")        # a wrong X shape may be reported as a Y mismatch "like X"

    def fn():
        m = make_model(cell, dtype)
        out = getattr(m, method)(**args)
        if method == "train_step":
            return out, {k: v.copy() for k, v in m.params.items()}
        return out
    return f"{cell}.{method}({_show(args)})", fn, bad


def _optim_call(c, dtype):
    name = c.pick(["SGD", "Adam", "Adagrad"])
    kw = {"lr": 0.1}
    names = ["lr"] + {"SGD": [], "Adam": ["beta1", "beta2", "eps"], "Adagrad": ["eps"]}[name]
    bad = []
    if c.integer(0, 1):
        bad = _spoil(c, kw, names, {n: "float" for n in names})
    p = {"W": np.linspace(-1, 1, 6).astype(dtype).reshape(2, 3), "b": np.zeros(3, dtype)}
    g = {"dW": np.full((2, 3), 0.5, dtype), "db": np.ones(3, dtype)}
    if not bad or c.integer(0, 1):
        r = c.integer(0, 5)
        if r == 0:
            g["dW"] = hostile_float_array(c, (2, 3), dtype)
            bad += ["dW", "grads"]
        elif r == 1:
            del g["db"]
            bad += ["db", "grads"]
        elif r == 2:
            p["W"] = np.full((2, 3), c.pick([1e38, 3e38, 1e308]), dtype)
            kw["lr"] = c.pick([1e30, 1e38, 1e300])
            bad += ["lr", "overflow"]
        elif r == 3:
            g = c.pick(JUNK)
            bad += ["grads"]
        elif r == 4:
            p = c.pick(JUNK)
            bad += ["params"]
        else:
            p["W"] = p["W"].astype(np.float16)
            bad += ["W", "params"]
    cls = getattr(fastrnn, name)

    def fn():
        opt = cls(**kw)
        gg = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in g.items()} \
            if isinstance(g, dict) else g
        pp = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in p.items()} \
            if isinstance(p, dict) else p
        opt.step(pp, gg)
        opt.step(pp, gg)
        return pp
    return f"{name}({_show(kw)}).step", fn, bad


def _clip_call(c, dtype):
    which = c.pick(["clip_by_value", "clip_by_norm", "global_norm"])
    g = {"dW": np.linspace(-3, 3, 6).astype(dtype), "db": np.ones(2, dtype)}
    value = 1.0
    bad = []
    r = c.integer(0, 2)
    if r == 0 and which != "global_norm":
        value = hostile_scalar(c, "float")
        bad = ["max_value", "max_norm"]
    elif r == 1:
        g["dW"] = hostile_float_array(c, (6,), dtype)
        bad = ["dW", "grads"]
    else:
        g = c.pick(JUNK + [[np.ones(3)]])
        bad = ["grads"]
    inplace = c.pick([True, False])

    def fn():
        gg = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in g.items()} \
            if isinstance(g, dict) else g
        if which == "clip_by_value":
            return fastrnn.clip_by_value(gg, value, inplace=inplace)
        if which == "clip_by_norm":
            return fastrnn.clip_by_norm(gg, value), gg
        return fastrnn.global_norm(gg)
    return f"{which}({_show({'value': value})})", fn, bad


_CM = {}


def _trained_charmodel(cell, dtype):
    """A tiny trained CharModel (cached; copies are made from its checkpoint arrays)."""
    key = (cell, np.dtype(dtype).name, fastrnn.get_backend())
    if key not in _CM:
        cm = fastrnn.CharModel(cell=cell, hidden_size=H, dtype=dtype, seed=0)
        cm.fit("ab\nba\nabc\n", iterations=2)
        _CM[key] = cm
    return _CM[key]


def _charmodel_call(c, cell, dtype):
    which = c.pick(["sample", "sample", "ctor", "evaluate", "fit"])
    if which == "ctor":
        kw = {"cell": cell, "hidden_size": 4, "dtype": dtype, "seed": 0, "init_scale": 0.1}
        bad = _spoil(c, kw, ["hidden_size", "seed", "init_scale", "cell", "dtype"],
                     {"init_scale": "float", "dtype": "dtype"})
        return f"CharModel({_show(kw)})", lambda: repr(fastrnn.CharModel(**kw)), bad
    if which == "sample":
        kw = {"n": c.integer(1, 3), "max_length": c.integer(1, 10), "temperature": 1.0,
              "top_k": 0, "seed": 1}
        bad = _spoil(c, kw, list(kw), {"temperature": "float"})
        if c.integer(0, 3) == 0:
            kw["prime"] = c.pick(["xyz", 5, "a\u00e9", "", None])
            bad.append("prime")
        return (f"CharModel.sample({_show(kw)})",
                lambda: _trained_charmodel(cell, dtype).sample(**kw), bad)
    if which == "evaluate":
        text = c.pick(["", "zz", "a", 3, None, ["ab", 4], "ab\nba", "\n\n"])
        return (f"CharModel.evaluate({text!r})",
                lambda: _trained_charmodel(cell, dtype).evaluate(text), ["text", "line",
                                                                          "character"])
    kw = {"iterations": 1, "batch_size": 1, "lr": 0.01, "clip": 5.0}
    bad = _spoil(c, kw, ["iterations", "batch_size", "lr", "clip", "seq_length",
                         "val_fraction", "smoothing", "eval_every"],
                 {"lr": "float", "clip": "float", "val_fraction": "float", "smoothing": "float"})
    if isinstance(kw["iterations"], (int, np.integer)) and kw["iterations"] > 3:
        kw["iterations"] = 3        # valid, only long: a run of 2**63 steps is no hang

    def fit():
        cm = fastrnn.CharModel(cell=cell, hidden_size=4, dtype=dtype, seed=0)
        h = cm.fit("ab\nba\nabc\n", **kw)
        # the first loss is compared; the weights only for finiteness (a huge lr makes
        # the later steps chaotic: rounding differences grow without bound)
        return h.loss[0], all(np.isfinite(v).all() for v in cm.params.values())
    return f"CharModel.fit({_show(kw)})", fit, bad


def _vocab_call(c):
    which = c.pick(["from_text", "encode", "decode"])
    v = fastrnn.Vocab.from_text("abc\n")
    if which == "from_text":
        text = c.pick(["", None, 3, "\ud800", "a" * 3, ["a", 3], b"abc"])
        return f"Vocab.from_text({text!r})", lambda: fastrnn.Vocab.from_text(text).to_array(), \
            ["text", "chars", "vocabulary"]
    if which == "encode":
        text = c.pick(["xyz", None, 3, "abc", "", ["a"], "a\u00e9"])
        return f"Vocab.encode({text!r})", lambda: v.encode(text), ["text", "character"]
    ix = hostile_indices(c, len(v), c.integer(1, 4), 1)
    return "Vocab.decode(...)", lambda: v.decode(np.asarray(ix).reshape(-1)
                                                   if isinstance(ix, np.ndarray) else ix), \
        ["ix", "indices", "index", "decode"]


def _spoil_params(c, params):
    """Spoil one entry of a course parameter dict; return the names an error may use."""
    name = c.pick(sorted(params))
    r = c.integer(0, 3)
    if r == 0:
        del params[name]
    elif r == 1:
        params[name] = np.zeros(tuple(0 if i == 0 else d for i, d in
                                      enumerate(np.shape(params[name]))))
    else:
        params[name] = hostile_float_array(c, np.shape(params[name]), np.float64)
    return [name, "parameters", "shape", "size"]


def _course_call(c, cell):
    """The Sequence Models course functions (fastrnn.course), float64 like the course."""
    from fastrnn.course import dinosaurus as dino, step_by_step as sbs

    which = c.pick(["sample", "optimize", "clip", "rnn_forward", "sbs_rnn", "sbs_lstm"])
    n_a, n_x, m, T = 5, V, c.integer(1, 3), c.integer(1, 4)
    np.random.seed(0)
    p = dino.initialize_parameters(n_a, n_x, n_x)
    bad = []
    if which == "sample":
        chars = {ch: i for i, ch in enumerate("\nabcde")}
        seed = 0
        r = c.integer(0, 2)
        if r == 0:
            bad += _spoil_params(c, p)
        elif r == 1:
            seed = hostile_scalar(c, "int")
            bad.append("seed")
        else:
            chars = c.pick([{}, {"a": 0}, {"\n": 99}, None, {"\n": 0, "a": 2**70}])
            bad += ["char_to_ix", "newline"]
        return f"course.sample(seed={seed!r})", lambda: dino.sample(p, chars, seed), bad
    if which in ("optimize", "rnn_forward"):
        X = [None] + [c.integer(0, n_x - 1) for _ in range(T)]
        Y = X[1:] + [0]
        a0 = np.zeros((n_a, 1))
        lr = 0.01
        r = c.integer(0, 3)
        if r == 0:
            bad += _spoil_params(c, p)
        elif r == 1:
            X = hostile_indices(c, n_x, T + 1, 1)
            X = X.ravel().tolist() if isinstance(X, np.ndarray) and X.ndim == 2 else X
            bad += ["X", "Y"]
        elif r == 2:
            lr = hostile_scalar(c, "float")
            bad += ["learning_rate", "lr"]
        else:
            a0 = hostile_float_array(c, (n_a, 1), np.float64)
            bad += ["a_prev", "a0"]

        def fn():
            pp = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v
                  for k, v in p.items()}
            if which == "optimize":
                return dino.optimize(X, Y, a0, pp, lr), pp
            return dino.rnn_forward(X, Y, a0, pp, n_x)[:1]
        return f"course.{which}(X={X!r:.60}, lr={lr!r})", fn, bad
    if which == "clip":
        g = {"dWaa": np.ones((n_a, n_a)), "dWax": np.ones((n_a, n_x)),
             "dWya": np.ones((n_x, n_a)), "db": np.ones((n_a, 1)), "dby": np.ones((n_x, 1))}
        mv = 5.0
        if c.integer(0, 1):
            mv = hostile_scalar(c, "float")
            bad.append("maxValue")
        else:
            bad += _spoil_params(c, g)[:1] + ["gradients"]
        return f"course.clip(maxValue={mv!r})", lambda: dino.clip(g, mv), bad
    x = np.full((n_x, m, T), 0.1)
    a0 = np.zeros((n_a, m))
    if which == "sbs_rnn":
        params = {"Waa": p["Waa"], "Wax": p["Wax"], "Wya": p["Wya"], "ba": p["b"],
                  "by": p["by"]}
        fn_ = sbs.rnn_forward
    else:
        rng = np.random.default_rng(0)
        params = {k: rng.standard_normal((n_a, n_a + n_x)) for k in ("Wf", "Wi", "Wc", "Wo")}
        params.update({k: np.zeros((n_a, 1)) for k in ("bf", "bi", "bc", "bo")})
        params.update(Wy=rng.standard_normal((n_x, n_a)), by=np.zeros((n_x, 1)))
        fn_ = sbs.lstm_forward
    r = c.integer(0, 2)
    if r == 0:
        bad += _spoil_params(c, params)
    elif r == 1:
        x = hostile_float_array(c, (n_x, m, T), np.float64)
        bad += ["x"]
    else:
        a0 = hostile_float_array(c, (n_a, m), np.float64)
        bad += ["a0"]
    return f"course.{which}", lambda: fn_(x, a0, params)[0], bad


def _probe(model):
    """A model just built: its parameters (to compare the backends' constructions)."""
    return {k: v.copy() for k, v in model.params.items()}


# ------------------------------------------------------------------- running
# whole calls, several kernels deep (a fit of a few steps): looser than one kernel's
_TOL = {np.dtype(np.float64): (1e-9, 1e-10), np.dtype(np.float32): (1e-4, 1e-5)}


def _agree(a, b, tol):
    """Results of the two backends agree (exact for ints and strings, ``tol`` = (rtol,
    atol) for floats)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_agree(a[k], b[k], tol) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_agree(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind == "f":
            # rounding errors scale with the terms summed, not with each result: an
            # entry that cancels to 5e12 in an array of 8e18 carries the error of 8e18
            # (float32: ~1e12), so the absolute tolerance scales with the array's largest
            scale = max(1.0, float(np.abs(b).max())) if b.size and np.isfinite(b).all() else 1.0
            return bool(np.allclose(a, b, rtol=tol[0], atol=tol[1] * scale, equal_nan=False))
        return bool(np.array_equal(a, b))
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=tol[0], abs_tol=tol[1])
    return a == b


def _sane(label, r):
    """False for results that are garbage whatever the arguments: non-finite floats, and
    sampled indices outside the vocabulary."""
    if isinstance(r, dict):
        return all(_sane(label, v) for v in r.values())
    if isinstance(r, (tuple, list)):
        return all(_sane(label, v) for v in r)
    if isinstance(r, np.ndarray):
        if r.dtype.kind == "f":
            return bool(np.isfinite(r).all())
        if ".sample(" in label and r.dtype.kind == "i":
            return bool(r.size and r.min() >= 0 and r.max() < V)
        return True
    if isinstance(r, float):
        return math.isfinite(r)
    return True


def _outcome(fn):
    try:
        return "ret", fn()
    except (ValueError, TypeError) as exc:
        return "err", exc
    except Exception as exc:  # noqa: BLE001 - classified by the caller
        return "other", exc


def run_call(label, fn, bad, dtype=np.float64):
    """Run ``fn`` on both backends; return ``(status, detail)`` (module docstring)."""
    import warnings

    res = {}
    for backend in ("cython", "numpy"):
        with fastrnn.use_backend(backend), warnings.catch_warnings(), \
                np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            res[backend] = _outcome(fn)
    (ka, a), (kb, b) = res["cython"], res["numpy"]
    for k, e in ((ka, a), (kb, b)):
        if k == "other":
            return "other", f"{type(e).__name__}: {e}"
    if ka != kb:
        return "disagree", f"cython {ka} {a!r:.200}, numpy {kb} {b!r:.200}"
    if ka == "err":
        if type(a) is not type(b):
            return "disagree", f"cython {type(a).__name__}, numpy {type(b).__name__}"
        msg = str(a)
        if bad and not any(re.search(r"\b" + re.escape(n) + r"\b", msg) for n in bad):
            return "unnamed", f"{type(a).__name__}: {msg} (hostile: {bad})"
        return "rejected", ""
    if not (_sane(label, a) and _sane(label, b)):
        return "garbage", f"{a!r:.300}"
    if not _agree(a, b, _TOL[np.dtype(dtype)]):
        return "disagree", f"cython {a!r:.200} numpy {b!r:.200}"
    return "ok", ""
