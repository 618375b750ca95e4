"""CharModel on fastrnn.nn's layers: ``cell="gru"``, ``num_layers``, ``dropout``.

Training, sampling, checkpoints (new and old format), exact resume, the CLI and the
NumPy backend for the layered cells; the single-layer rnn / lstm models keep their own
networks (checked here) and their own tests (test_charmodel.py, test_checkpoint.py).
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastrnn
from fastrnn import CharModel, checkpoint as ckpt
from fastrnn._charnet import CharNet
from fastrnn.models import LSTM, RNN
from fastrnn.reference._ops import sample_pick

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("anna\nbob\ncarla\ndavid\nemma\nfrank\ngrace\nhenry\nirene\njack\nkate\nliam\n"
         "mona\nnora\noscar\npaul\nquinn\nrosa\nsam\ntina\n")
STREAM = "the quick brown fox jumps over the lazy dog. " * 6

LAYERED = [pytest.param(dict(cell="gru"), id="gru"),
           pytest.param(dict(cell="gru", num_layers=2, dropout=0.1), id="gru-2-drop"),
           pytest.param(dict(cell="lstm", num_layers=2, dropout=0.1), id="lstm-2-drop"),
           pytest.param(dict(cell="rnn", num_layers=3), id="rnn-3")]


def test_single_layer_rnn_lstm_keep_their_networks():
    assert type(CharModel("ab\n", cell="rnn", hidden_size=4).net) is RNN
    assert type(CharModel("ab\n", cell="lstm", hidden_size=4).net) is LSTM
    for kw in ({"cell": "gru"}, {"cell": "lstm", "num_layers": 2}):
        assert type(CharModel("ab\n", hidden_size=4, **kw).net) is CharNet


@pytest.mark.parametrize("kw", LAYERED)
def test_layered_net_shapes_and_repr(kw):
    m = CharModel("abc\n", hidden_size=6, seed=0, **kw)
    L = kw.get("num_layers", 1)
    N = {"rnn": 1, "lstm": 4, "gru": 3}[kw["cell"]]
    p = m.params
    assert p["weight_ih_l0"].shape == (N * 6, 4) and p["Wy"].shape == (4, 6)
    assert p[f"weight_ih_l{L - 1}"].shape == (N * 6, 6 if L > 1 else 4)
    assert f"weight_ih_l{L}" not in p
    assert p["Wy"].dtype == np.float32
    for k, v in m.net.layer.params.items():
        assert p[k] is v                       # the optimizer updates the layer's arrays
    assert f"cell={kw['cell']!r}" in repr(m)
    assert (f"num_layers={L}" in repr(m)) == (L > 1)
    if kw["cell"] == "lstm":                  # the forget block: b_ih = forget_bias, b_hh 0
        assert np.all(p["bias_ih_l1"][6:12] == 1.0) and np.all(p["bias_hh_l1"][6:12] == 0)


@pytest.mark.parametrize("kw, exc, word", [
    (dict(num_layers=0), ValueError, "num_layers"),
    (dict(num_layers=1.5), TypeError, "num_layers"),
    (dict(dropout=1.0, num_layers=2), ValueError, "dropout"),
    (dict(dropout=-0.1, num_layers=2), ValueError, "dropout"),
    (dict(dropout=float("nan"), num_layers=2), ValueError, "dropout"),
    (dict(dropout=0.2), ValueError, "num_layers >= 2"),
    (dict(cell="transformer"), ValueError, "cell"),
])
def test_bad_layer_arguments(kw, exc, word):
    with pytest.raises(exc, match=word):
        CharModel(**kw)


@pytest.mark.parametrize("kw", LAYERED)
@pytest.mark.parametrize("mode", ["lines", "stream"])
def test_training_reduces_the_loss(kw, mode):
    m = CharModel(hidden_size=24, seed=0, **kw)
    text = NAMES if mode == "lines" else STREAM
    h = m.fit(text, mode=mode, iterations=150, batch_size=4, seq_length=10, val_fraction=0)
    start = math.log(len(m.vocab))
    assert abs(h.loss[0] - start) < 0.05       # untrained: about uniform
    assert np.mean(h.loss[-20:]) < start - 0.8, (h.loss[0], np.mean(h.loss[-20:]))


@pytest.mark.parametrize("opt", ["sgd", "adam", "adagrad"])
def test_every_optimizer_trains_the_layers(opt):
    m = CharModel(NAMES, cell="gru", num_layers=2, hidden_size=16, seed=0)
    before = {k: v.copy() for k, v in m.params.items()}
    h = m.fit(NAMES, iterations=40, batch_size=4, optimizer=opt,
              lr={"sgd": 0.5, "adam": 0.01, "adagrad": 0.1}[opt])
    assert np.mean(h.loss[-5:]) < h.loss[0]
    for k, v in m.params.items():              # every weight moved (the head and all layers)
        assert np.isfinite(v).all() and not np.array_equal(v, before[k]), k


def test_dropout_changes_training_only_and_is_seeded():
    runs = []
    for dropout in (0.0, 0.3, 0.3):
        m = CharModel(cell="lstm", num_layers=2, dropout=dropout, hidden_size=12,
                      dtype="float64", seed=5)
        runs.append((m, m.fit(NAMES, iterations=5, batch_size=4)))
    (m0, h0), (m1, h1), (m2, h2) = runs
    assert h1.loss == h2.loss                  # the same seed, the same masks
    assert h1.loss[0] != h0.loss[0]            # dropout is on during training
    x, y = [-1, 1, 2, 3], [1, 2, 3, 0]
    a = m1.net.loss(x, y)                      # evaluation: no dropout, deterministic
    assert a == m1.net.loss(x, y)
    m0.net.load_params(m1.params)
    assert m0.net.loss(x, y) == a


@pytest.mark.parametrize("kw", LAYERED)
def test_sampling_prime_temperature_top_k(kw):
    m = CharModel(hidden_size=24, seed=0, **kw)
    m.fit(NAMES, iterations=100, batch_size=4)
    out = m.sample(4, prime="ca", temperature=0.5, top_k=3, seed=2, max_length=12)
    assert len(out) == 4 and all(s.startswith("ca") for s in out)
    assert all("\n" not in s and len(s) <= 14 for s in out)
    assert out == m.sample(4, prime="ca", temperature=0.5, top_k=3, seed=2, max_length=12)
    g = m.sample(2, greedy=True, max_length=10)
    assert g[0] == g[1] == m.sample(1, temperature=0, max_length=10, seed=9)[0]
    assert m.sample(1, top_k=1, seed=3, max_length=10) == g[:1]
    with pytest.raises(ValueError, match="prime"):
        m.sample(1, prime="Z")


def test_sampler_follows_the_forward_and_the_pick_rule():
    """Each sampled index is the pick of the softmax of the forward pass over the prefix."""
    m = CharModel(cell="gru", num_layers=2, hidden_size=10, dtype="float64", seed=1)
    m.fit(NAMES, iterations=30, batch_size=4)
    net = m.net
    rng_u = np.random.default_rng(7).random(8)
    out = net.sample(8, rng=np.random.default_rng(7), temperature=0.8, top_k=5, start=-1)
    prefix = [-1]
    for i, k in enumerate(out):
        y, _ = net.forward(prefix)
        logits = net.params["Wy"] @ y[-1, 0] + net.params["by"]
        assert k == sample_pick(logits, 0.8, 5, rng_u[i])
        prefix.append(int(k))


@pytest.mark.parametrize("kw", LAYERED)
@pytest.mark.parametrize("fit", [
    pytest.param(dict(mode="lines", batch_size=3, optimizer="adam"), id="lines-adam"),
    pytest.param(dict(mode="stream", batch_size=2, seq_length=7, optimizer="sgd", lr=0.1),
                 id="stream-sgd"),
])
def test_exact_resume(tmp_path, kw, fit):
    """N steps, save, load, M steps == N + M steps in one go, bit for bit (float64)."""
    text = STREAM if fit["mode"] == "stream" else NAMES
    N, M = 13, 17
    one = CharModel(hidden_size=9, dtype="float64", seed=21, **kw)
    h_one = one.fit(text, iterations=N + M, **fit)
    first = CharModel(hidden_size=9, dtype="float64", seed=21, **kw)
    h1 = first.fit(text, iterations=N, **fit)
    first.save(tmp_path / "m.npz")
    second = CharModel.load(tmp_path / "m.npz")
    assert (second.cell, second.num_layers, second.dropout) == \
        (kw["cell"], kw.get("num_layers", 1), kw.get("dropout", 0.0))
    h2 = second.fit(text, iterations=M, **fit)
    assert second.iteration == N + M
    assert set(second.params) == set(one.params)
    for k in one.params:
        assert np.array_equal(second.params[k], one.params[k]), k
    assert h1.loss + h2.loss == h_one.loss
    assert second.sample(3, seed=0, prime="a") == one.sample(3, seed=0, prime="a")


def test_interrupted_run_with_keep_best_resumes_exactly(tmp_path):
    text = fastrnn.default_corpus()[:4000]
    kw = dict(cell="gru", num_layers=2, dropout=0.2, hidden_size=8, dtype="float64", seed=3)
    fit = dict(iterations=40, batch_size=8, eval_every=10, val_fraction=0.1)
    one = CharModel(**kw)
    one.fit(text, **fit)
    m = CharModel(**kw)
    m.fit(text, callback=lambda info: info.step < 15, **fit)
    assert m.iteration == 15
    m.save(tmp_path / "m.npz")
    r = CharModel.load(tmp_path / "m.npz")
    r.fit(text)                                # finishes the run
    assert r.iteration == one.iteration == 40
    assert r.best == one.best and one.best is not None
    for k in one.params:
        assert np.array_equal(r.params[k], one.params[k]), k
    for k, v in one.history.items():
        if k != "elapsed":
            assert np.array_equal(r.history[k], v, equal_nan=True), k


def test_checkpoint_fields_and_mismatched_weights(tmp_path):
    m = CharModel(NAMES, cell="lstm", num_layers=2, dropout=0.25, hidden_size=5, seed=0)
    p = tmp_path / "m.npz"
    m.save(p)
    arrays, meta = ckpt.load_npz(p)
    assert meta["model"]["num_layers"] == 2 and meta["model"]["dropout"] == 0.25
    assert meta["dropout_rng"] == m.net.layer.rng.bit_generator.state
    assert "param/weight_hh_l1" in arrays and "param/Wy" in arrays
    arrays.pop("param/weight_hh_l1")
    ckpt.save_npz_atomic(p, arrays, meta)
    with pytest.raises(ValueError, match="weight_hh_l1"):
        CharModel.load(p)
    arrays["param/weight_hh_l1"] = np.zeros((20, 4), np.float32)   # wrong shape
    ckpt.save_npz_atomic(p, arrays, meta)
    with pytest.raises(ValueError, match="weight_hh_l1"):
        CharModel.load(p)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_old_format_checkpoint_loads(tmp_path, cell):
    """A checkpoint of the single-layer models as written before num_layers existed (the
    same file without the new fields) loads, samples and resumes like the new one."""
    m = CharModel(cell=cell, hidden_size=8, dtype="float64", seed=0)
    m.fit(STREAM, mode="stream", iterations=7, seq_length=9)
    new = tmp_path / "new.npz"
    m.save(new)
    arrays, meta = ckpt.load_npz(new)
    for key in ("num_layers", "dropout"):
        meta["model"].pop(key)
    meta.pop("dropout_rng")
    old = tmp_path / "old.npz"
    ckpt.save_npz_atomic(old, arrays, meta)
    a, b = CharModel.load(new), CharModel.load(old)
    assert (b.num_layers, b.dropout) == (1, 0.0) and type(b.net) is type(m.net)
    assert b.sample(2, seed=1) == m.sample(2, seed=1)
    a.fit(STREAM)
    b.fit(STREAM)
    a.fit(STREAM, iterations=5)
    b.fit(STREAM, iterations=5)
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k]), k


@pytest.mark.parametrize("kw", LAYERED)
def test_numpy_backend_gives_the_same_numbers(kw):
    def train():
        m = CharModel(hidden_size=7, dtype="float64", seed=4, **kw)
        h = m.fit(NAMES, iterations=6, batch_size=3, optimizer="adam")
        return m, h, m.sample(2, seed=0, prime="b"), m.evaluate(NAMES)

    c = train()
    with fastrnn.use_backend("numpy"):
        n = train()
    np.testing.assert_allclose(c[1].loss, n[1].loss, rtol=1e-12)
    for k in c[0].params:
        np.testing.assert_allclose(c[0].params[k], n[0].params[k], rtol=1e-12, atol=1e-15,
                                   err_msg=k)
    assert c[2] == n[2]
    assert c[3] == pytest.approx(n[3], rel=1e-12)


def test_cli_end_to_end(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "fastrnn", *map(str, args)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)

    corpus = tmp_path / "names.txt"
    corpus.write_text(NAMES)
    out = tmp_path / "m.npz"
    r = run("train", corpus, "--cell", "gru", "--layers", 2, "--dropout", 0.1, "--hidden", 16,
            "--iterations", 120, "--batch-size", 4, "--seed", 0, "--out", out, "-n", 2)
    assert r.returncode == 0, r.stderr
    assert "training gru (hidden 16, 2 layers, dropout 0.1, float32)" in r.stderr
    m = fastrnn.load(out)
    assert (m.cell, m.num_layers, m.dropout, m.iteration) == ("gru", 2, 0.1, 120)
    assert m.evaluate(NAMES) < math.log(len(m.vocab)) - 0.8        # it learned
    r = run("sample", out, "-n", 3, "--prime", "a", "--temperature", 0.7, "--top-k", 4,
            "--seed", 1)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert len(lines) == 3 and all(s.startswith("a") for s in lines)
    r = run("info", out)
    assert r.returncode == 0 and "hidden 16, 2 layers, dropout 0.1" in r.stdout, r.stderr
    r = run("train", corpus, "--resume", out, "--iterations", 10, "--layers", 3)
    assert r.returncode == 2 and "--layers 3 does not match" in r.stderr
    r = run("train", corpus, "--resume", out, "--iterations", 10, "--quiet")
    assert r.returncode == 0, r.stderr
    assert fastrnn.load(out).iteration == 130
    r = run("train", corpus, "--dropout", 0.5, "--iterations", 1)
    assert r.returncode == 2 and "num_layers >= 2" in r.stderr, r.stderr
    r = run("train", corpus, "--layers", 2, "--dropout", 1.0, "--iterations", 1)
    assert r.returncode == 2 and "--dropout" in r.stderr, r.stderr
