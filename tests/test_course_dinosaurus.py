"""fastrnn.course.dinosaurus (W1A2) against a literal course-style NumPy oracle.

The oracle below (``c_*``) is the assignment written out from COURSE_SPEC.md
section 4: utils.py helpers, one ``rnn_step_forward`` per character, one-hot
columns, dicts keyed by t, ``np.random.choice`` for sampling and the 2021 ``model``
with its prints. Each fastrnn function runs on the kernels of the active backend
(``backend`` fixture: cython and numpy) and must agree with it: values to rtol
1e-12, sampled indices and printed output exactly, the legacy global RNG left in
the same state.
"""

import copy
import time

import numpy as np
import pytest

import fastrnn._ext as _ext
from fastrnn.course import dinosaurus as dino

RTOL, ATOL = 1e-12, 1e-13
VOCAB = "\nabcdefghijklmnopqrstuvwxyz"
CHAR_TO_IX = {ch: i for i, ch in enumerate(sorted(VOCAB))}
IX_TO_CHAR = {i: ch for ch, i in CHAR_TO_IX.items()}


# ----------------------------------------------------------------- the course oracle


def c_softmax(x):
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum(axis=0)


def c_smooth(loss, cur_loss):
    return loss * 0.999 + cur_loss * 0.001


def c_print_sample(sample_ix, ix_to_char):
    txt = "".join(ix_to_char[ix] for ix in sample_ix)
    txt = txt[0].upper() + txt[1:]
    print("%s" % (txt,), end="")


def c_get_sample(sample_ix, ix_to_char):
    txt = "".join(ix_to_char[ix] for ix in sample_ix)
    txt = txt[0].upper() + txt[1:]
    return txt


def c_get_initial_loss(vocab_size, seq_length):
    return -np.log(1.0 / vocab_size) * seq_length


def c_initialize_parameters(n_a, n_x, n_y):
    np.random.seed(1)
    Wax = np.random.randn(n_a, n_x) * 0.01
    Waa = np.random.randn(n_a, n_a) * 0.01
    Wya = np.random.randn(n_y, n_a) * 0.01
    b = np.zeros((n_a, 1))
    by = np.zeros((n_y, 1))
    return {"Wax": Wax, "Waa": Waa, "Wya": Wya, "b": b, "by": by}


def c_rnn_step_forward(parameters, a_prev, x):
    Waa, Wax, Wya, by, b = (parameters["Waa"], parameters["Wax"], parameters["Wya"],
                            parameters["by"], parameters["b"])
    a_next = np.tanh(np.dot(Wax, x) + np.dot(Waa, a_prev) + b)
    p_t = c_softmax(np.dot(Wya, a_next) + by)
    return a_next, p_t


def c_rnn_step_backward(dy, gradients, parameters, x, a, a_prev):
    gradients["dWya"] += np.dot(dy, a.T)
    gradients["dby"] += dy
    da = np.dot(parameters["Wya"].T, dy) + gradients["da_next"]
    daraw = (1 - a * a) * da
    gradients["db"] += daraw
    gradients["dWax"] += np.dot(daraw, x.T)
    gradients["dWaa"] += np.dot(daraw, a_prev.T)
    gradients["da_next"] = np.dot(parameters["Waa"].T, daraw)
    return gradients


def c_rnn_forward(X, Y, a0, parameters, vocab_size=27):
    x, a, y_hat = {}, {}, {}
    a[-1] = np.copy(a0)
    loss = 0
    for t in range(len(X)):
        x[t] = np.zeros((vocab_size, 1))
        if X[t] is not None:
            x[t][X[t]] = 1
        a[t], y_hat[t] = c_rnn_step_forward(parameters, a[t - 1], x[t])
        loss -= np.log(y_hat[t][Y[t], 0])
    cache = (y_hat, a, x)
    return loss, cache


def c_rnn_backward(X, Y, parameters, cache):
    gradients = {}
    (y_hat, a, x) = cache
    Waa, Wax, Wya, by, b = (parameters["Waa"], parameters["Wax"], parameters["Wya"],
                            parameters["by"], parameters["b"])
    gradients["dWax"], gradients["dWaa"], gradients["dWya"] = (
        np.zeros_like(Wax), np.zeros_like(Waa), np.zeros_like(Wya))
    gradients["db"], gradients["dby"] = np.zeros_like(b), np.zeros_like(by)
    gradients["da_next"] = np.zeros_like(a[0])
    for t in reversed(range(len(X))):
        dy = np.copy(y_hat[t])
        dy[Y[t]] -= 1
        gradients = c_rnn_step_backward(dy, gradients, parameters, x[t], a[t], a[t - 1])
    return gradients, a


def c_update_parameters(parameters, gradients, lr):
    parameters["Wax"] += -lr * gradients["dWax"]
    parameters["Waa"] += -lr * gradients["dWaa"]
    parameters["Wya"] += -lr * gradients["dWya"]
    parameters["b"] += -lr * gradients["db"]
    parameters["by"] += -lr * gradients["dby"]
    return parameters


def c_clip(gradients, maxValue):
    gradients = copy.deepcopy(gradients)
    dWaa, dWax, dWya, db, dby = (gradients["dWaa"], gradients["dWax"], gradients["dWya"],
                                 gradients["db"], gradients["dby"])
    for gradient in [dWax, dWaa, dWya, db, dby]:
        np.clip(gradient, -maxValue, maxValue, out=gradient)
    return {"dWaa": dWaa, "dWax": dWax, "dWya": dWya, "db": db, "dby": dby}


def c_sample(parameters, char_to_ix, seed):
    Waa, Wax, Wya, by, b = (parameters["Waa"], parameters["Wax"], parameters["Wya"],
                            parameters["by"], parameters["b"])
    vocab_size = by.shape[0]
    n_a = Waa.shape[1]
    x = np.zeros((vocab_size, 1))
    a_prev = np.zeros((n_a, 1))
    indices = []
    idx = -1
    counter = 0
    newline_character = char_to_ix["\n"]
    while idx != newline_character and counter != 50:
        a = np.tanh(np.dot(Wax, x) + np.dot(Waa, a_prev) + b)
        z = np.dot(Wya, a) + by
        y = c_softmax(z)
        np.random.seed(counter + seed)
        idx = np.random.choice(range(len(y)), p=y.ravel())
        indices.append(idx)
        x = np.zeros((vocab_size, 1))
        x[idx] = 1
        a_prev = a
        seed += 1
        counter += 1
    if counter == 50:
        indices.append(char_to_ix["\n"])
    return indices


def c_optimize(X, Y, a_prev, parameters, learning_rate=0.01):
    # the course calls rnn_forward with its default vocab_size=27; passing the real size
    # is the same for the course's data and lets the small-vocabulary tests use the oracle
    loss, cache = c_rnn_forward(X, Y, a_prev, parameters, parameters["Wax"].shape[1])
    gradients, a = c_rnn_backward(X, Y, parameters, cache)
    gradients = c_clip(gradients, 5)
    parameters = c_update_parameters(parameters, gradients, learning_rate)
    return loss, gradients, a[len(X) - 1]


def c_model(data_x, ix_to_char, char_to_ix, num_iterations=35000, n_a=50, dino_names=7,
            vocab_size=27, verbose=False):
    n_x, n_y = vocab_size, vocab_size
    parameters = c_initialize_parameters(n_a, n_x, n_y)
    loss = c_get_initial_loss(vocab_size, dino_names)
    examples = [x.strip() for x in data_x]
    np.random.seed(0)
    np.random.shuffle(examples)
    a_prev = np.zeros((n_a, 1))
    last_dino_name = "abc"
    for j in range(num_iterations):
        idx = j % len(examples)
        single_example = examples[idx]
        single_example_chars = [c for c in single_example]
        single_example_ix = [char_to_ix[c] for c in single_example_chars]
        X = [None] + single_example_ix
        ix_newline = char_to_ix["\n"]
        Y = X[1:] + [ix_newline]
        curr_loss, gradients, a_prev = c_optimize(X, Y, a_prev, parameters, learning_rate=0.01)
        if verbose and j in [0, len(examples) - 1, len(examples)]:
            print("j = ", j, "idx = ", idx,)
        if verbose and j in [0]:
            print("single_example =", single_example)
            print("single_example_chars", single_example_chars)
            print("single_example_ix", single_example_ix)
            print(" X = ", X, "\n", "Y =       ", Y, "\n")
        loss = c_smooth(loss, curr_loss)
        if j % 2000 == 0:
            print("Iteration: %d, Loss: %f" % (j, loss) + "\n")
            seed = 0
            for name in range(dino_names):
                sampled_indices = c_sample(parameters, char_to_ix, seed)
                last_dino_name = c_get_sample(sampled_indices, ix_to_char)
                print(last_dino_name.replace("\n", ""))
                seed += 1
            print("\n")
    return parameters, last_dino_name


# ------------------------------------------------------------------------- helpers


def close(a, b, msg=""):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=msg)


def rng_state():
    s = np.random.get_state()
    return (s[0], s[1].copy(), s[2], s[3], s[4])


def assert_same_rng_state(s1, s2):
    assert s1[0] == s2[0] and s1[2:] == s2[2:]
    np.testing.assert_array_equal(s1[1], s2[1])


def random_params(seed, n_a=12, V=27, scale=0.5):
    r = np.random.RandomState(seed)
    return {
        "Wax": r.randn(n_a, V) * scale,
        "Waa": r.randn(n_a, n_a) * scale,
        "Wya": r.randn(V, n_a) * scale,
        "b": r.randn(n_a, 1) * 0.2,
        "by": r.randn(V, 1) * 0.2,
    }


def random_name(r, T, V=27):
    ix = [int(v) for v in r.randint(1, V, size=T - 1)]
    X = [None] + ix
    Y = ix + [0]
    return X, Y


def data_setup(text):
    data = text.lower()
    chars = sorted(set(data))
    char_to_ix = {ch: i for i, ch in enumerate(chars)}
    ix_to_char = {i: ch for i, ch in enumerate(chars)}
    return data.split("\n"), ix_to_char, char_to_ix


# ---------------------------------------------------------------- utils.py helpers


def test_get_initial_loss():
    assert dino.get_initial_loss(27, 7) == 23.070858062030304
    assert dino.get_initial_loss(27, 7) == c_get_initial_loss(27, 7)


def test_initialize_parameters_numbers_and_rng():
    p = dino.initialize_parameters(50, 27, 27)
    s1 = rng_state()
    e = c_initialize_parameters(50, 27, 27)
    s2 = rng_state()
    assert list(p) == ["Wax", "Waa", "Wya", "b", "by"]
    for k in e:
        assert p[k].shape == e[k].shape and p[k].dtype == np.float64
        np.testing.assert_array_equal(p[k], e[k])
    assert_same_rng_state(s1, s2)
    np.random.seed(1)
    np.testing.assert_array_equal(p["Wax"], np.random.randn(50, 27) * 0.01)
    assert not p["b"].any() and not p["by"].any()


def test_smooth_softmax_print_get_sample(capsys):
    assert dino.smooth(23.5, 10.25) == c_smooth(23.5, 10.25)
    z = np.array([[1.0, 3.0], [2.0, -1.0], [0.5, 0.0]])
    np.testing.assert_array_equal(dino.softmax(z), c_softmax(z))
    ix = [CHAR_TO_IX[c] for c in "trex\n"]
    dino.print_sample(ix, IX_TO_CHAR)
    c_print_sample(ix, IX_TO_CHAR)
    out = capsys.readouterr().out
    assert out == "Trex\nTrex\n"
    assert dino.get_sample(ix, IX_TO_CHAR) == c_get_sample(ix, IX_TO_CHAR) == "Trex\n"
    with pytest.raises(ValueError, match="empty"):
        dino.get_sample([], IX_TO_CHAR)


# ------------------------------------------------------------ forward and backward


def test_rnn_step_forward_and_backward(backend):
    p = random_params(3)
    r = np.random.RandomState(4)
    a_prev = r.randn(12, 1) * 0.5
    x = np.zeros((27, 1))
    x[5] = 1
    a, pt = dino.rnn_step_forward(p, a_prev, x)
    ea, ept = c_rnn_step_forward(p, a_prev, x)
    assert a.shape == (12, 1) and pt.shape == (27, 1)
    close(a, ea)
    close(pt, ept)
    dy = ept.copy()
    dy[7] -= 1
    keys = ("dWax", "dWaa", "dWya", "db", "dby")
    g = {"d" + k: r.randn(*v.shape) for k, v in p.items()}
    g["da_next"] = r.randn(12, 1)
    e = {k: v.copy() for k, v in g.items()}
    held = {k: g[k] for k in keys}
    out = dino.rnn_step_backward(dy, g, p, x, ea, a_prev)
    c_rnn_step_backward(dy, e, p, x, ea, a_prev)
    assert out is g
    for k in e:
        close(g[k], e[k], k)
    for k in keys:                       # the caller's arrays were updated in place
        assert g[k] is held[k]


@pytest.mark.parametrize("T", [1, 2, 9])
def test_rnn_forward_matches_oracle(backend, T):
    p = random_params(T)
    r = np.random.RandomState(10 + T)
    X, Y = random_name(r, T)
    a0 = r.randn(12, 1) * 0.3
    loss, cache = dino.rnn_forward(X, Y, a0, p)
    eloss, ecache = c_rnn_forward(X, Y, a0, p)
    close(loss, eloss)
    assert isinstance(cache, tuple) and len(cache) == 3
    for got, want, name in zip(cache, ecache, ("y_hat", "a", "x")):
        assert isinstance(got, dict)
        assert list(got) == list(want), name
        for t in want:
            assert got[t].shape == want[t].shape, (name, t)
            close(got[t], want[t], f"{name}[{t}]")
    assert cache[1][-1] is not a0
    np.testing.assert_array_equal(cache[1][-1], a0)


@pytest.mark.parametrize("T", [1, 3, 11])
def test_rnn_backward_matches_oracle(backend, T):
    p = random_params(20 + T)
    r = np.random.RandomState(T)
    X, Y = random_name(r, T)
    a0 = r.randn(12, 1) * 0.3
    _, cache = dino.rnn_forward(X, Y, a0, p)
    g, a = dino.rnn_backward(X, Y, p, cache)
    _, ecache = c_rnn_forward(X, Y, a0, p)
    e, ea = c_rnn_backward(X, Y, p, ecache)
    assert list(g) == list(e) == ["dWax", "dWaa", "dWya", "db", "dby", "da_next"]
    assert a is cache[1]
    for k in e:
        assert g[k].shape == e[k].shape, k
        close(g[k], e[k], k)
    # rnn_backward on the oracle's cache gives the same gradients
    g2, _ = dino.rnn_backward(X, Y, p, ecache)
    for k in e:
        close(g2[k], e[k], k)


def test_optimize_course_setup(backend):
    np.random.seed(1)
    vocab_size, n_a = 27, 100
    a_prev = np.random.randn(n_a, 1)
    Wax = np.random.randn(n_a, vocab_size)
    Waa = np.random.randn(n_a, n_a)
    Wya = np.random.randn(vocab_size, n_a)
    b, by = np.random.randn(n_a, 1), np.random.randn(vocab_size, 1)
    parameters = {"Wax": Wax, "Waa": Waa, "Wya": Wya, "b": b, "by": by}
    eparams = copy.deepcopy(parameters)
    X = [12, 3, 5, 11, 22, 3]
    Y = [4, 14, 11, 22, 25, 26]
    loss, gradients, a_last = dino.optimize(X, Y, a_prev, parameters, learning_rate=0.01)
    eloss, egrads, ea_last = c_optimize(X, Y, a_prev, eparams, learning_rate=0.01)
    close(loss, eloss)
    assert list(gradients) == ["dWaa", "dWax", "dWya", "db", "dby"]
    # unscaled randn weights saturate tanh (a_last[4] = -1.0): 1 - a**2 loses digits to
    # cancellation, so the gradients agree to ~1e-12 absolute, not relative
    for k in egrads:
        np.testing.assert_allclose(gradients[k], egrads[k], rtol=1e-10, atol=1e-11, err_msg=k)
    close(a_last, ea_last)
    assert a_last.shape == (n_a, 1)
    for k in eparams:
        assert parameters[k] is {"Wax": Wax, "Waa": Waa, "Wya": Wya, "b": b, "by": by}[k]
        close(parameters[k], eparams[k], k)
    # the course's printed numbers
    np.testing.assert_allclose(loss, 126.50397572165389, rtol=1e-12)
    np.testing.assert_allclose(gradients["dWaa"][1][2], 0.19470931534713587, rtol=1e-10)
    assert np.argmax(gradients["dWax"]) == 93
    np.testing.assert_allclose(gradients["dWya"][1][2], -0.007773876032002162, rtol=1e-10)
    np.testing.assert_allclose(gradients["db"][4], [-0.06809825], atol=1e-8)
    np.testing.assert_allclose(gradients["dby"][1], [0.01538192], atol=1e-8)
    np.testing.assert_allclose(a_last[4], [-1.0], atol=1e-8)


def test_optimize_repeated_matches_oracle(backend):
    p = random_params(5, scale=0.3)
    e = copy.deepcopy(p)
    r = np.random.RandomState(6)
    a, ea = np.zeros((12, 1)), np.zeros((12, 1))
    for _ in range(30):
        X, Y = random_name(r, int(r.randint(1, 12)))
        loss, g, a = dino.optimize(X, Y, a, p, 0.05)
        eloss, eg, ea = c_optimize(X, Y, ea, e, 0.05)
        np.testing.assert_allclose(loss, eloss, rtol=1e-11)
        for k in eg:
            np.testing.assert_allclose(g[k], eg[k], rtol=1e-10, atol=1e-12)
    for k in e:
        np.testing.assert_allclose(p[k], e[k], rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- clip and update


def test_clip_course_setup(backend):
    np.random.seed(3)
    dWax = np.random.randn(5, 3) * 10
    dWaa = np.random.randn(5, 5) * 10
    dWya = np.random.randn(2, 5) * 10
    db = np.random.randn(5, 1) * 10
    dby = np.random.randn(2, 1) * 10
    gradients = {"dWax": dWax, "dWaa": dWaa, "dWya": dWya, "db": db, "dby": dby,
                 "da_next": np.ones((5, 1))}
    keep = copy.deepcopy(gradients)
    g10 = dino.clip(gradients, 10)
    g5 = dino.clip(gradients, 5)
    for k in keep:                        # 2021+: the caller's arrays are unchanged
        np.testing.assert_array_equal(gradients[k], keep[k])
    for g, m in ((g10, 10), (g5, 5)):
        e = c_clip(keep, m)
        assert list(g) == ["dWaa", "dWax", "dWya", "db", "dby"]
        for k in e:
            assert g[k] is not gradients[k]
            assert g[k].shape == e[k].shape
            np.testing.assert_array_equal(g[k], e[k])
    assert g10["dWaa"][1][2] == 10.0 and g10["dWax"][3][1] == -10.0
    assert g10["dWya"][1][2] == 0.2971381536101662
    np.testing.assert_allclose(g10["dby"][1], [8.45833407], atol=1e-8)
    assert g5["dWaa"][1][2] == 5.0 and g5["dWax"][3][1] == -5.0 and g5["db"][4] == [5.0]


def test_clip_inf_nan_and_alias(backend):
    g = {k: np.zeros((2, 2)) for k in ("dWaa", "dWax", "dWya", "dby")}
    g["dba"] = np.array([[np.inf], [-np.inf]])
    out = dino.clip(g, 3)
    np.testing.assert_array_equal(out["db"], [[3.0], [-3.0]])
    g["dba"][0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        dino.clip(g, 3)
    with pytest.raises(ValueError, match="maxValue"):
        dino.clip(out, -1)
    with pytest.raises(ValueError, match="'dWya'"):
        dino.clip({k: v for k, v in out.items() if k != "dWya"}, 5)
    with pytest.raises(TypeError, match="gradients must be a dict"):
        dino.clip(list(out.values()), 5)


def test_update_parameters_in_place(backend):
    p = random_params(8)
    e = copy.deepcopy(p)
    held = dict(p)
    r = np.random.RandomState(9)
    g = {"d" + k: r.randn(*v.shape) for k, v in p.items()}
    out = dino.update_parameters(p, g, 0.03)
    c_update_parameters(e, g, 0.03)
    assert out is p
    for k in e:
        assert p[k] is held[k]
        np.testing.assert_array_equal(p[k], e[k])
    # a Fortran-ordered parameter is still updated in place
    pf = copy.deepcopy(e)
    pf["Waa"] = np.asfortranarray(pf["Waa"])
    fort = pf["Waa"]
    dino.update_parameters(pf, g, 0.03)
    c_update_parameters(e, g, 0.03)
    assert pf["Waa"] is fort
    np.testing.assert_array_equal(pf["Waa"], e["Waa"])
    with pytest.raises(TypeError, match="updated in place"):
        dino.update_parameters(dict(e, by=e["by"].tolist()), g, 0.1)


# ------------------------------------------------------------------------ sampling


def test_sample_course_setup(backend):
    np.random.seed(24)
    n_a = 100
    Wax, Waa, Wya = np.random.randn(n_a, 27), np.random.randn(n_a, n_a), np.random.randn(27, n_a)
    b, by = np.random.randn(n_a, 1), np.random.randn(27, 1)
    parameters = {"Wax": Wax, "Waa": Waa, "Wya": Wya, "b": b, "by": by}
    indices = dino.sample(parameters, CHAR_TO_IX, 0)
    s1 = rng_state()
    expected = c_sample(parameters, CHAR_TO_IX, 0)
    s2 = rng_state()
    assert indices == expected
    assert indices == [23, 16, 26, 26, 24, 3, 21, 1, 7, 24, 15, 3, 25, 20, 6, 13, 10, 8, 20, 12,
                       2, 0]
    assert [IX_TO_CHAR[i] for i in indices][-1] == "\n"
    assert all(type(i) is int for i in indices)
    assert_same_rng_state(s1, s2)


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 123, 2**31])
def test_sample_matches_oracle(backend, seed):
    for k in range(6):
        p = random_params(seed % 1000 + 17 * k, scale=0.8)
        np.random.seed(999)
        got = dino.sample(p, CHAR_TO_IX, seed)
        s1 = rng_state()
        want = c_sample(p, CHAR_TO_IX, seed)
        s2 = rng_state()
        assert got == [int(i) for i in want]
        assert_same_rng_state(s1, s2)


def test_sample_50_character_cap(backend):
    p = random_params(31, scale=0.8)
    p["by"][0] = -1e3                       # the newline is never picked
    got = dino.sample(p, CHAR_TO_IX, 4)
    assert len(got) == 51 and got[-1] == 0 and 0 not in got[:-1]
    assert got == [int(i) for i in c_sample(p, CHAR_TO_IX, 4)]
    # newline picked exactly at the 50th pick: the course still appends one
    p["by"][0] = 0.0
    for seed in range(200):
        want = c_sample(p, CHAR_TO_IX, seed)
        assert dino.sample(p, CHAR_TO_IX, seed) == [int(i) for i in want]


# --------------------------------------------------------------------------- model


def run_model(fn, data_x, ix_to_char, char_to_ix, capsys, **kw):
    capsys.readouterr()
    t0 = time.perf_counter()
    params, last = fn(data_x, ix_to_char, char_to_ix, **kw)
    dt = time.perf_counter() - t0
    return params, last, capsys.readouterr().out, dt


def test_model_short_run_cython_numpy_oracle(dinos_text, capsys):
    if not _ext.compiled_available():
        pytest.fail("compiled kernels are not built")
    data_x, ix_to_char, char_to_ix = data_setup(dinos_text)
    assert len(data_x) == 1536 and len(char_to_ix) == 27
    kw = dict(num_iterations=2001, verbose=True)
    runs = {}
    for be in ("cython", "numpy"):
        with _ext.use_backend(be):
            runs[be] = run_model(dino.model, data_x, ix_to_char, char_to_ix, capsys, **kw)
            runs[be] += (rng_state(),)
    runs["course"] = run_model(c_model, data_x, ix_to_char, char_to_ix, capsys, **kw)
    runs["course"] += (rng_state(),)
    with capsys.disabled():
        print("\nmodel(2001 iterations): "
              + ", ".join(f"{k} {v[3]:.3f} s" for k, v in runs.items()))
    ref = runs["course"]
    assert ref[2].startswith("j =  0 idx =  0\nsingle_example = turiasaurus\n")
    assert "Iteration: 0, Loss: 23.087336\n\nNkzxwtdmfqoeyhsqwasjkjvu\nKneb\n" in ref[2]
    assert "Iteration: 2000, Loss: 27.884160\n\nLiusskeomnolxeros\nHmdaairus\n" in ref[2]
    for be in ("cython", "numpy"):
        params, last, out, _, state = runs[be]
        assert out == ref[2], be
        assert last == ref[1] == "Tpraneronxeros\n"
        assert list(params) == ["Wax", "Waa", "Wya", "b", "by"]
        for k in ref[0]:
            np.testing.assert_allclose(params[k], ref[0][k], rtol=1e-10, atol=1e-12)
        assert_same_rng_state(state, ref[4])


def test_model_equals_loop_of_optimize(backend, dinos_text, capsys):
    data_x, ix_to_char, char_to_ix = data_setup(dinos_text)
    n = 2001                        # wraps around the 1536 names; reports at 0 and 2000
    params, last = dino.model(data_x, ix_to_char, char_to_ix, num_iterations=n, n_a=20,
                              dino_names=2)
    # the same run as a loop over this module's course-style functions
    p = dino.initialize_parameters(20, 27, 27)
    examples = [x.strip() for x in data_x]
    np.random.seed(0)
    np.random.shuffle(examples)
    a_prev = np.zeros((20, 1))
    for j in range(n):
        ix = [char_to_ix[c] for c in examples[j % len(examples)]]
        _, _, a_prev = dino.optimize([None] + ix, ix + [0], a_prev, p, 0.01)
    for k in p:
        np.testing.assert_allclose(params[k], p[k], rtol=1e-10, atol=1e-13)
    assert last == dino.get_sample(dino.sample(p, char_to_ix, 1), ix_to_char)


def test_model_samples_match_numpy_backend_for_10000_iterations(dinos_text, capsys):
    """The requirement: model's sampled names on dinos.txt equal the NumPy backend's
    for the first 10000 iterations (reports at 0, 2000, ..., 8000)."""
    if not _ext.compiled_available():
        pytest.fail("compiled kernels are not built")
    data_x, ix_to_char, char_to_ix = data_setup(dinos_text)
    outs = {}
    for be in ("cython", "numpy"):
        with _ext.use_backend(be):
            outs[be] = run_model(dino.model, data_x, ix_to_char, char_to_ix, capsys,
                                 num_iterations=10000)
    with capsys.disabled():
        print("\nmodel(10000 iterations): "
              + ", ".join(f"{k} {v[3]:.3f} s" for k, v in outs.items()))
    assert outs["cython"][2] == outs["numpy"][2]
    assert outs["cython"][2].count("Iteration: ") == 5
    assert outs["cython"][1] == outs["numpy"][1]
    for k in outs["numpy"][0]:
        np.testing.assert_allclose(outs["cython"][0][k], outs["numpy"][0][k], rtol=1e-9, atol=1e-11)


def test_model_small_vocab_and_zero_iterations(backend, capsys):
    names = ["ab", "ba", "abba", "b"]
    c2i = {"\n": 0, "a": 1, "b": 2}
    i2c = {0: "\n", 1: "a", 2: "b"}
    got = run_model(dino.model, names, i2c, c2i, capsys, num_iterations=2001, n_a=5,
                    dino_names=3, vocab_size=3, verbose=True)
    want = run_model(c_model, names, i2c, c2i, capsys, num_iterations=2001, n_a=5,
                     dino_names=3, vocab_size=3, verbose=True)
    assert got[2] == want[2] and got[1] == want[1]
    for k in want[0]:
        np.testing.assert_allclose(got[0][k], want[0][k], rtol=1e-10, atol=1e-12)
    params, last = dino.model(names, i2c, c2i, num_iterations=0, n_a=5, vocab_size=3)
    assert last == "abc" and list(params) == ["Wax", "Waa", "Wya", "b", "by"]
    # a str is read line by line, like v3's readlines()
    p2, _ = dino.model("ab\nba\nabba\nb", i2c, c2i, num_iterations=10, n_a=5, dino_names=0,
                       vocab_size=3)
    p3, _ = dino.model(names, i2c, c2i, num_iterations=10, n_a=5, dino_names=0, vocab_size=3)
    for k in p2:
        np.testing.assert_array_equal(p2[k], p3[k])


# ---------------------------------------------------------------------- bad inputs


def test_bad_parameters(backend):
    p = random_params(1)
    X, Y = [None, 3, 4], [3, 4, 0]
    a0 = np.zeros((12, 1))
    for fn, args in ((dino.rnn_forward, (X, Y, a0)), (dino.optimize, (X, Y, a0))):
        with pytest.raises(TypeError, match="parameters must be a dict"):
            fn(*args, list(p.values()))
        for key in p:
            with pytest.raises(ValueError, match=f"'{key}'"):
                fn(*args, {k: v for k, v in p.items() if k != key})
    with pytest.raises(TypeError, match="parameters must be a dict"):
        dino.sample("params", CHAR_TO_IX, 0)
    with pytest.raises(ValueError, match="'b'"):
        dino.sample({k: v for k, v in p.items() if k != "b"}, CHAR_TO_IX, 0)
    with pytest.raises(ValueError, match="Waa"):
        dino.optimize(X, Y, a0, dict(p, Waa=np.zeros((12, 11))))
    with pytest.raises(ValueError, match="by"):
        dino.optimize(X, Y, a0, dict(p, by=np.zeros(27)))
    with pytest.raises(ValueError, match="a_prev"):
        dino.optimize(X, Y, np.zeros((11, 1)), p)
    with pytest.raises(ValueError, match="vocab_size"):
        dino.rnn_forward(X, Y, a0, p, vocab_size=26)
    nan = copy.deepcopy(p)
    nan["Waa"][2, 3] = np.nan
    for call in (lambda: dino.optimize(X, Y, a0, nan), lambda: dino.sample(nan, CHAR_TO_IX, 0),
                 lambda: dino.rnn_forward(X, Y, a0, nan),
                 lambda: dino.rnn_step_forward(nan, a0, np.zeros((27, 1)))):
        with pytest.raises(ValueError, match="NaN"):
            call()


def test_ba_alias(backend):
    p = random_params(2)
    pa = {("ba" if k == "b" else k): v.copy() for k, v in p.items()}
    X, Y = [None, 3, 4], [3, 4, 0]
    a0 = np.zeros((12, 1))
    l1, g1, a1 = dino.optimize(X, Y, a0, p)
    l2, g2, a2 = dino.optimize(X, Y, a0, pa)
    assert l1 == l2
    np.testing.assert_array_equal(p["b"], pa["ba"])
    assert dino.sample(p, CHAR_TO_IX, 3) == dino.sample(pa, CHAR_TO_IX, 3)


def test_bad_indices_leave_parameters_unchanged(backend):
    p = random_params(3)
    keep = copy.deepcopy(p)
    a0 = np.zeros((12, 1))
    cases = [
        (([None, 3, 27], [3, 27, 0]), ValueError, r"X\[2\] = 27 is outside \[0, 26\]"),
        (([None, 3, 4], [3, 4, 27]), ValueError, r"Y\[2\] = 27"),
        (([None, -1, 4], [3, 4, 0]), ValueError, "use None"),
        (([None, 3], [3, None]), ValueError, r"Y\[1\] is None"),
        (([], []), ValueError, "X is empty"),
        (([None, 3.0], [3, 0]), TypeError, "integer index"),
        (([None, 3, 4], [3, 4]), ValueError, "2 targets for 3 inputs"),
        (("abc", [1, 2, 3]), TypeError, "list of integer"),
    ]
    for (X, Y), exc, msg in cases:
        with pytest.raises(exc, match=msg):
            dino.optimize(X, Y, a0, p)
    with pytest.raises(ValueError, match="learning_rate"):
        dino.optimize([None, 1], [1, 0], a0, p, learning_rate=float("nan"))
    for k in keep:
        np.testing.assert_array_equal(p[k], keep[k])


def test_bad_cache_and_gradients(backend):
    p = random_params(4)
    X, Y = [None, 3, 4], [3, 4, 0]
    _, cache = dino.rnn_forward(X, Y, np.zeros((12, 1)), p)
    with pytest.raises(ValueError, match="no step 3"):
        dino.rnn_backward(X + [5], Y + [0], p, cache)
    with pytest.raises(TypeError, match="cache"):
        dino.rnn_backward(X, Y, p, cache[:2])
    g = {"d" + k: np.zeros(v.shape) for k, v in p.items()}
    g["da_next"] = np.zeros((12, 1))
    with pytest.raises(ValueError, match="'dWya'"):
        dino.rnn_step_backward(np.zeros((27, 1)), {k: v for k, v in g.items() if k != "dWya"},
                               p, np.zeros((27, 1)), np.zeros((12, 1)), np.zeros((12, 1)))
    with pytest.raises(ValueError, match="shape"):
        dino.rnn_step_backward(np.zeros((27, 1)), dict(g, dWaa=np.zeros((3, 3))),
                               p, np.zeros((27, 1)), np.zeros((12, 1)), np.zeros((12, 1)))


def test_sample_bad_inputs(backend):
    p = random_params(5)
    with pytest.raises(ValueError, match="'\\\\n'"):
        dino.sample(p, {"a": 1}, 0)
    with pytest.raises(TypeError, match="char_to_ix must be a dict"):
        dino.sample(p, ["\n"], 0)
    with pytest.raises(TypeError, match="seed"):
        dino.sample(p, CHAR_TO_IX, 1.5)
    with pytest.raises(ValueError, match="seed"):
        dino.sample(p, CHAR_TO_IX, -1)
    with pytest.raises(ValueError, match="vocab_size"):
        dino.sample(dict(p, Wax=p["Wax"][:, :20]), CHAR_TO_IX, 0)


def test_model_bad_inputs(backend):
    names = ["ab", "ba"]
    c2i = {"\n": 0, "a": 1, "b": 2}
    i2c = {0: "\n", 1: "a", 2: "b"}
    kw = dict(num_iterations=3, n_a=4, vocab_size=3)
    with pytest.raises(ValueError, match="character 'c'"):
        dino.model(["ab", "abc"], i2c, c2i, **kw)
    with pytest.raises(ValueError, match="no names"):
        dino.model([], i2c, c2i, **kw)
    with pytest.raises(TypeError, match=r"data_x\[1\]"):
        dino.model(["ab", 3], i2c, c2i, **kw)
    with pytest.raises(ValueError, match="'\\\\n'"):
        dino.model(names, i2c, {"a": 1, "b": 2}, **kw)
    with pytest.raises(ValueError, match="ix_to_char has no character for index 2"):
        dino.model(names, {0: "\n", 1: "a"}, c2i, **kw)
    with pytest.raises(ValueError, match=r"char_to_ix\['b'\] = 3"):
        dino.model(names, i2c, {"\n": 0, "a": 1, "b": 3}, **kw)
    with pytest.raises(ValueError, match="num_iterations"):
        dino.model(names, i2c, c2i, num_iterations=-1, n_a=4, vocab_size=3)
    with pytest.raises(TypeError, match="n_a"):
        dino.model(names, i2c, c2i, num_iterations=3, n_a=4.0, vocab_size=3)
