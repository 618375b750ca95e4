"""Issue 15's reproducers: hostile arguments, divergence, checkpoints, the CLI.

Each test is one item of the issue: the call must raise ValueError/TypeError naming the
argument (before any kernel runs), or behave the same on both backends.
"""

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import fastrnn
from fastrnn import checkpoint

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["cython", "numpy"]


def rnn(dtype=np.float64, V=5, H=4, seed=0, scale=0.5):
    return fastrnn.RNN(V, H, dtype=dtype, seed=seed, init_scale=scale)


def lstm(dtype=np.float64, V=5, H=4, seed=0, scale=0.5):
    return fastrnn.LSTM(V, H, dtype=dtype, seed=seed, init_scale=scale)


# ------------------------------------------------------------------ 1. sizes
@pytest.mark.parametrize("cls", [fastrnn.RNN, fastrnn.LSTM])
def test_from_params_rejects_zero_size_dimensions(cls):
    m = rnn() if cls is fastrnn.RNN else lstm()
    for name, p in m.params.items():
        for axis in range(p.ndim):
            bad = dict(m.params)
            shape = list(p.shape)
            shape[axis] = 0
            bad[name] = np.zeros(shape)
            with pytest.raises(ValueError, match="size|shape"):
                cls.from_params(bad)


def test_from_params_zero_output_issue_reproducer():
    with pytest.raises(ValueError, match="input size of 0"):
        fastrnn.RNN.from_params({"Wax": np.zeros((3, 0)), "Waa": np.zeros((3, 3)),
                                 "ba": np.zeros(3), "Wya": np.zeros((0, 3)), "by": np.zeros(0)})


@pytest.mark.parametrize("cls", [fastrnn.RNN, fastrnn.LSTM])
@pytest.mark.parametrize("sizes", [(27, 10**7), (10**10, 5), (5, 5, 10**12), (10**6, 10**5)])
def test_absurd_sizes_are_refused_before_allocating(cls, sizes):
    with pytest.raises(ValueError, match="kernels take at most|GiB"):
        cls(*sizes)


def test_absurd_sequence_and_sample_lengths():
    m = rnn()
    with pytest.raises(ValueError, match="n"):
        m.sample(2**40, seed=0)
    with pytest.raises(ValueError, match="kernels take at most|GiB"):
        m._workspace(2**20, 2**14)


# ----------------------------------------------------------------- 4. sampling
@pytest.mark.parametrize("make", [rnn, lstm])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiny_temperature_is_greedy_on_both_backends(make, dtype):
    # a logit over 1e-320 overflows float64: the limit (greedy) is taken; 1e-300 does
    # not overflow and samples uniformly among exact ties (the first step's logits are
    # all 0 here), the same on both backends
    outs = {}
    for b in BACKENDS:
        with fastrnn.use_backend(b):
            m = make(dtype, scale=2.0)
            greedy = m.sample(30, seed=1, temperature=0)
            for t in (1e-320, 5e-324):
                np.testing.assert_array_equal(m.sample(30, seed=1, temperature=t), greedy)
            outs[b] = greedy, m.sample(30, seed=1, temperature=1e-300)
    for a, b in zip(outs["cython"], outs["numpy"]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("temperature", [1e300, 1e30, 1e-30])
def test_extreme_temperatures_agree(temperature):
    outs = [fastrnn.use_backend(b).__enter__() or rnn().sample(40, seed=3,
            temperature=temperature) for b in BACKENDS]
    fastrnn.set_backend("cython")
    np.testing.assert_array_equal(*outs)


def test_sampling_integer_arguments():
    m = rnn(V=5)
    full = m.sample(20, seed=0, top_k=0)
    np.testing.assert_array_equal(m.sample(20, seed=0, top_k=2**32 + 1), full)
    np.testing.assert_array_equal(m.sample(20, seed=0, top_k=2**200), full)
    for kw, name in [({"stop": 2**63}, "stop"), ({"stop": 5}, "stop"), ({"start": 2**64}, "start"),
                     ({"start": -2}, "start"), ({"top_k": -1}, "top_k"), ({"n": 0}, "n")]:
        with pytest.raises(ValueError, match=name):
            m.sample(**{"n": 3, **kw})
    for kw, name in [({"start": 2.0}, "start"), ({"stop": "1"}, "stop"),
                     ({"top_k": 1.5}, "top_k"), ({"temperature": "hot"}, "temperature"),
                     ({"seed": "x"}, "seed")]:
        with pytest.raises(TypeError, match=name):
            m.sample(3, **kw)
    for t in (float("nan"), float("inf"), -1.0, 2**1100):
        with pytest.raises(ValueError, match="temperature"):
            m.sample(3, temperature=t)


# ----------------------------------------------------------------- 5. indices
@pytest.mark.parametrize("X", [np.array([2**64 - 1, 1], np.uint64), [2**64 - 1, 1],
                               [2**63, 1], [2**100, 1], np.array([255, 1], np.uint8)])
def test_huge_unsigned_indices_do_not_wrap(X):
    with pytest.raises(ValueError, match="X holds index"):
        rnn().loss(X, [1, 2])


# ---------------------------------------------------------- 6. float32 scalars
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_float32_scalars_that_round_away_are_errors(backend_name):
    with fastrnn.use_backend(backend_name):
        m = rnn(np.float32)
        X, Y = [-1, 1, 2], [1, 2, 3]
        with pytest.raises(ValueError, match="clip.*rounds to 0"):
            m.train_step(X, Y, clip=1e-300)
        with pytest.raises(ValueError, match="lr.*overflows float32"):
            m.train_step(X, Y, lr=1e39)
        with pytest.raises(ValueError, match="lr \\* clip"):
            m.train_step(X, Y, lr=1e38, clip=10.0)
        with pytest.raises(ValueError, match="max_value.*rounds to 0"):
            fastrnn.clip_by_value({"dW": np.ones(3, np.float32)}, 1e-300)
        with pytest.raises(ValueError, match="lr.*overflows"):
            fastrnn.SGD(1e300).step({"W": np.ones(3, np.float32)}, {"dW": np.ones(3, np.float32)})


# -------------------------------------------------------- 7. exception types
def test_other_exception_types_become_value_or_type_errors():
    m = rnn()
    del m.params["Waa"]
    with pytest.raises(ValueError, match="Waa"):
        m.loss([-1, 1], [1, 2])
    m = rnn()
    m.params["Wax"] = m.params["Wax"].T.copy()
    with pytest.raises(ValueError, match="Wax"):
        m.sample(3)
    with pytest.raises(TypeError, match="grads"):
        fastrnn.clip_by_value([np.ones(3)], 1.0, inplace=False)
    for v in (2**1100, -(2**1100)):
        with pytest.raises(ValueError, match="lr"):
            rnn().train_step([-1, 1], [1, 2], lr=v)
        with pytest.raises(ValueError, match="clip"):
            rnn().train_step([-1, 1], [1, 2], clip=v)
        with pytest.raises(ValueError, match="temperature"):
            rnn().sample(2, temperature=v)


# ---------------------------------------------------------------- 3. divergence
@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("make", [rnn, lstm])
def test_step_that_would_overflow_raises_and_leaves_parameters(backend_name, make):
    with fastrnn.use_backend(backend_name):
        m = make(np.float32, scale=0.5)
        X, Y = [-1] + [1] * 19, [1] * 20              # dby[1] = sum (p - 1), about -16
        m.train_step(X, Y, lr=0.1)
        before = {k: v.copy() for k, v in m.params.items()}
        with pytest.raises(ValueError, match="left as they were"):
            m.train_step(X, Y, lr=3e38, clip=0.0)       # lr * grad overflows float32
        for k, v in m.params.items():
            np.testing.assert_array_equal(v, before[k])
        m.train_step(X, Y, lr=0.1)                       # still usable
        assert all(np.isfinite(v).all() for v in m.params.values())


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_step_whose_update_overflows_a_large_parameter(backend_name):
    with fastrnn.use_backend(backend_name):
        m = rnn(np.float32)
        m.params["by"][:] = 3e38                  # finite; the target's bias grows past max
        before = {k: v.copy() for k, v in m.params.items()}
        with pytest.raises(ValueError, match="left as they were"):
            m.train_step([-1, 1, 2], [1, 1, 1], lr=1e38, clip=1.0)
        for k, v in m.params.items():
            np.testing.assert_array_equal(v, before[k])


def test_exploding_loss_warns_once():
    m = rnn(np.float64, V=5, H=8, scale=0.1)
    rng = np.random.default_rng(0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for _ in range(200):
            X = rng.integers(0, 5, 20)
            try:
                m.train_step(X, np.roll(X, -1), lr=1e6, clip=0.0)
            except ValueError:
                break
    hits = [x for x in w if issubclass(x.category, RuntimeWarning) and "lower the learning"
            in str(x.message)]
    assert len(hits) == 1


def test_no_warning_for_normal_training():
    m = rnn(np.float64, V=5, H=8, scale=0.1)
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(200):
            X = rng.integers(0, 5, 20)
            m.train_step(X, np.roll(X, -1), lr=0.05)


@pytest.mark.parametrize("opt", [fastrnn.SGD(0.1), fastrnn.Adam(0.1), fastrnn.Adagrad(0.1)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_optimizers_reject_non_finite_gradients(opt, bad):
    p = {"W": np.ones(4)}
    g = {"dW": np.array([0.1, bad, 0.2, 0.3])}
    with pytest.raises(ValueError, match="NaN or infinity"):
        opt.step(p, g)
    np.testing.assert_array_equal(p["W"], 1.0)


@pytest.mark.parametrize("opt", [fastrnn.SGD(1e300), fastrnn.Adam(1e308), fastrnn.Adagrad(1e308)])
def test_optimizers_reject_overflowing_updates(opt):
    p = {"W": np.full(4, 1e308)}
    with pytest.raises(ValueError, match="overflow"):
        opt.step(p, {"dW": np.full(4, 10.0)})
    np.testing.assert_array_equal(p["W"], 1e308)


def test_adam_rejects_state_of_the_wrong_shape():
    o = fastrnn.Adam()
    o.load_state_dict({"t": np.int64(3), "m.W": np.zeros(2), "v.W": np.zeros(2)})
    with pytest.raises(ValueError, match="does not match"):
        o.step({"W": np.ones(4)}, {"dW": np.ones(4)})


@pytest.mark.parametrize("make", [rnn, lstm])
def test_sampling_and_probabilities_on_non_finite_parameters_raise(make):
    m = make()
    m.params["by"][0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.sample(5, seed=0)
    with pytest.raises(ValueError, match="NaN"):
        m.predict_proba([-1, 1])


# ---------------------------------------------------------------- 8. checkpoints
def _trained(tmp_path, mode="lines"):
    cm = fastrnn.CharModel(hidden_size=8, seed=0)
    text = "anna\nbob\ncarla\ndave\neve\n"
    cm.fit(text, iterations=1, mode=mode, optimizer="adam", batch_size=2, seq_length=4)
    p = tmp_path / "m.npz"
    cm.save(p)
    return cm, text, p


def _rewrite(p, **changes):
    arrays, meta = checkpoint.load_npz(p)
    for k, v in changes.items():
        if k.startswith("meta:"):
            path = k[5:].split(".")
            d = meta
            for key in path[:-1]:
                d = d[key]
            d[path[-1]] = v
        else:
            arrays[k] = v
    checkpoint.save_npz_atomic(p, arrays, meta)


@pytest.mark.parametrize("change", [
    {"meta:cursor.pos": 10**6}, {"meta:cursor.pos": -3},
    {"cursor/perm": np.array([0, 0, 1, 2], np.int64)},
    {"cursor/perm": np.array([0, 1, 2, 3, 4, 99], np.int64)},
    {"meta:iteration": -1}, {"meta:iteration": "x"}, {"meta:smooth_loss": float("nan")},
    {"optim/m.Waa": np.zeros((2, 2), np.float32)}, {"optim/t": np.float64(1.5)},
    {"meta:train.batch_size": 0}, {"meta:train.lr": -1.0}, {"meta:cursor.epoch": "one"},
])
def test_checkpoints_load_only_what_fit_can_use(tmp_path, change):
    cm, text, p = _trained(tmp_path)
    _rewrite(p, **change)
    try:
        m = fastrnn.load(p)
    except ValueError:
        return
    with pytest.raises(ValueError, match="data position"):
        m.fit(text, iterations=2)


def test_checkpoint_member_that_is_not_an_array(tmp_path):
    import zipfile
    p = tmp_path / "x.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("meta", b"not an array")
    with pytest.raises(ValueError, match="not an array"):
        fastrnn.load(p)


def test_stream_cursor_state_is_checked(tmp_path):
    cm, text, p = _trained(tmp_path, mode="stream")
    _rewrite(p, **{"cursor/state/0": np.zeros((2, 3), np.float32)})
    with pytest.raises(ValueError):
        fastrnn.load(p)


def test_killed_save_leaves_no_temporary_behind(tmp_path):
    cm, text, p = _trained(tmp_path)
    code = ("import sys, os, numpy as np; sys.path.insert(0, sys.argv[1]);"
            "from fastrnn import checkpoint;"
            "np.savez = lambda f, **k: (f.write(b'x' * 1000), f.flush(), os.kill(os.getpid(), 9));"
            "checkpoint.save_npz_atomic(sys.argv[2], {'a': np.zeros(3)}, {})")
    r = subprocess.run([sys.executable, "-c", code, str(ROOT), str(p)])
    assert r.returncode == -signal.SIGKILL
    stray = [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    assert len(stray) == 1
    fastrnn.load(p)                               # the old file is intact, the stray gone
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []
    r = subprocess.run([sys.executable, "-c", code, str(ROOT), str(p)])
    cm.save(p)                                    # a save cleans up too
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []


def test_live_writers_temporary_is_kept(tmp_path):
    keep = tmp_path / f".m.npz.fastrnn-{os.getpid()}-abc.tmp"
    keep.write_bytes(b"x")
    assert checkpoint.clean_stale_temporaries(tmp_path) == 0
    assert keep.exists()


# ------------------------------------------------------------------------ 9. CLI
@pytest.mark.parametrize("args", [
    ["train", "--hidden", "10000000", "--iterations", "1"],
    ["train", "--hidden", "100000", "--iterations", "1"],
    ["train", "--lr", "1e300", "--iterations", "2", "--dtype", "float32"],
    ["sample", "{model}", "--top-k", "1e30"],
    ["sample", "{model}", "--top-k", "1" + "0" * 30],
    ["sample", "{model}", "-n", "1" + "0" * 30],
    ["sample", "{model}", "--max-length", "1" + "0" * 12],
    ["sample", "{model}", "--temperature", "1e-320"],
])
def test_cli_never_prints_a_traceback(tmp_path, args):
    model = tmp_path / "m.npz"
    cm = fastrnn.CharModel(hidden_size=8, seed=0)
    cm.fit("anna\nbob\n", iterations=2)
    cm.save(model)
    args = [a.replace("{model}", str(model)) for a in args]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "fastrnn", *args, "--out" if args[0] == "train"
                        else "--seed", str(tmp_path / "o.npz") if args[0] == "train" else "0"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode in (0, 2), r.stderr
    if r.returncode == 2:
        assert r.stderr.startswith("fastrnn: error: ") and r.stderr.count("\n") == 1


def test_exploding_loss_warns_once_in_fit_with_adam():
    """The raw loss's explosion warns once; then fit's divergence stop (issue 17: the
    smoothed loss above 10 log V) ends the run with the same advice."""
    cm = fastrnn.CharModel(hidden_size=8, seed=0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="diverged.*lower the learning rate"):
            cm.fit("anna\nbob\ncarla\ndave\neve\n", iterations=60, optimizer="adam",
                   lr=1e3, clip=0)
    hits = [x for x in w if issubclass(x.category, RuntimeWarning)
            and "lower the learning rate" in str(x.message)]
    assert len(hits) == 1


def test_course_update_that_would_overflow_raises_before_writing():
    from fastrnn.course import dinosaurus as dino
    np.random.seed(0)
    p = dino.initialize_parameters(5, 6, 6)
    before = {k: v.copy() for k, v in p.items()}
    with pytest.raises(ValueError, match="overflow"):
        dino.optimize([None, 1, 2, 3], [1, 2, 3, 0], np.zeros((5, 1)), p, 1.7e308)
    for k in before:
        np.testing.assert_array_equal(p[k], before[k])


# ------------------------------------------- kernels called directly with zero sizes
def _z(*s):
    return np.zeros(s)


def _rnn_kernel_calls(k, H, X, V, T=2, B=1):
    Xi = np.full((T, B), -1, np.int64)
    Yi = np.full((T, B), -1, np.int64)
    return {
        "rnn_forward_ix": lambda: k.rnn_forward_ix(Xi, _z(H, X), _z(H, H), _z(H), _z(B, H),
                                                   _z(T, B, H)),
        "rnn_sample": lambda: k.rnn_sample(_z(H, X), _z(H, H), _z(H), _z(V, H), _z(V), _z(H), -1,
                                           np.full(3, 0.5), 1.0, 0, -1, np.zeros(3, np.int64)),
        "rnn_train_step_ix": lambda: k.rnn_train_step_ix(
            Xi, Yi, _z(H, X), _z(H, H), _z(H), _z(V, H), _z(V), _z(B, H), _z(T, B, H),
            _z(T, B, V), _z(T, B, H), _z(H, X), _z(H, H), _z(H), _z(V, H), _z(V), _z(B, H),
            5.0, 0.1),
        "RNNTrainer": lambda: k.RNNTrainer(_z(H, X), _z(H, H), _z(H), _z(V, H), _z(V), T, B,
                                           5.0, 0.1).step(Xi, Yi),
    }


ZERO_SIZES = [(3, 0, 0), (3, 4, 0), (0, 4, 4)]


@pytest.mark.parametrize("sizes", ZERO_SIZES, ids=["X0-V0", "V0", "H0"])
@pytest.mark.parametrize("kernel", ["rnn_forward_ix", "rnn_sample", "rnn_train_step_ix",
                                    "RNNTrainer"])
def test_compiled_rnn_kernels_reject_zero_sizes(kernel, sizes):
    """The public API refuses these before the kernels; called directly, a compiled RNN
    kernel refuses them too, as the LSTM kernels do (it once sampled picks of -1)."""
    H, X, V = sizes
    if kernel == "rnn_forward_ix" and V == 0 and X and H:
        pytest.skip("the forward has no output layer")       # Y = 0 is not its input
    with pytest.raises(ValueError):
        _rnn_kernel_calls(fastrnn._ext.kernels("cython"), H, X, V)[kernel]()


@pytest.mark.parametrize("sizes", [(3, 0), (0, 4)], ids=["V0", "H0"])
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_output_layer_kernels_reject_zero_sizes(backend_name, sizes):
    H, V = sizes
    k = fastrnn._ext.kernels(backend_name)
    Y = np.full((2, 1), -1, np.int64)
    with pytest.raises(ValueError):
        k.softmax_xent_forward(_z(2, 1, H), _z(V, H), _z(V), Y, _z(2, 1, V))
    with pytest.raises(ValueError):
        k.softmax_xent(_z(2, 1, H), _z(V, H), _z(V), Y, _z(2, 1, V), _z(V, H), _z(V),
                       _z(2, 1, H))


def test_extra_entries_in_params_are_ignored():
    m = rnn()
    m.params["note"] = "not an array"
    m.train_step([-1, 1, 2], [1, 2, 3], lr=0.1)
    m.sample(3, seed=0)
    assert "dnote" not in m.loss_and_grads([-1, 1, 2], [1, 2, 3])[1]
