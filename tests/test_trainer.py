"""The trainer's guards and records: history, keep-best, early stopping, learning-rate decay,
divergence, resuming a run, stream validation blocks, warnings, umask, the learning-curve files."""

import csv
import json
import math
import os
import sys
import warnings

import numpy as np
import pytest

import fastrnn
from fastrnn import CharModel, Vocab
from fastrnn.charmodel import DEFAULTS, _Data

# 200 names: enough to overfit with a high learning rate in a few hundred steps
TEXT = "\n".join(fastrnn.default_corpus().split("\n")[:200]) + "\n"
OVERFIT = dict(iterations=300, lr=0.05, eval_every=10, val_fraction=0.1)


def val_split(m, text=TEXT, val_fraction=0.1):
    c = m.train_config
    return _Data(m.vocab, text, c["mode"], c["batch_size"], c["seq_length"], val_fraction,
                 m.seed).val


# ------------------------------------------------------------------------- defaults
def test_fit_defaults_are_the_cli_defaults():
    m = CharModel(hidden_size=8, seed=0)
    m.fit(TEXT, iterations=2)
    c = m.train_config
    assert (c["optimizer"], c["batch_size"], c["mode"], c["clip"], c["val_fraction"]) == \
        (DEFAULTS["optimizer"], DEFAULTS["batch_size"], DEFAULTS["mode"], DEFAULTS["clip"], 0.05)
    assert (c["keep_best"], c["patience"], c["lr_decay"], c["lr_patience"]) == \
        (True, DEFAULTS["patience"], DEFAULTS["lr_decay"], DEFAULTS["lr_patience"])
    assert m.optimizer.lr == fastrnn.charmodel.DEFAULT_LR["adam"]
    # without a budget: DEFAULTS["epochs"] epochs
    m = CharModel(hidden_size=4, seed=0)
    m.fit("anna\nbob\ncarla\n")
    assert m.iteration == DEFAULTS["epochs"]  # 3 lines, batch 16: one step an epoch
    assert m.train_config["val_fraction"] == 0.0 and m.train_config["keep_best"] is False


def test_auto_val_fraction():
    assert fastrnn.auto_val_fraction("a\n" * 99) == 0.0
    assert fastrnn.auto_val_fraction("a\n" * 100) == 0.05
    assert fastrnn.auto_val_fraction("a" * 1999, mode="stream") == 0.0
    assert fastrnn.auto_val_fraction("a" * 2000, mode="stream") == 0.05


# -------------------------------------------------------------------------- history
def test_history_records_every_evaluation():
    m = CharModel(hidden_size=8, seed=0)
    h = m.fit(TEXT, iterations=25, eval_every=10)
    hist = m.history
    assert hist["iteration"].tolist() == [10, 20, 25]  # every 10 steps and the end
    assert hist["val_loss"].tolist() == h.val_loss
    assert np.all(np.diff(hist["elapsed"]) >= 0) and hist["elapsed"][0] > 0
    assert hist["train_loss"].tolist() == [h.smooth_loss[i - 1] for i in (10, 20, 25)]
    assert np.all(hist["lr"] == 0.005)
    m.fit(TEXT, iterations=5, eval_every=5)  # a second run appends
    assert m.history["iteration"].tolist() == [10, 20, 25, 30]
    n = CharModel(hidden_size=8, seed=0)
    n.fit("anna\nbob\n", iterations=4, eval_every=2)  # no validation split: NaN
    assert np.isnan(n.history["val_loss"]).all() and len(n.history["val_loss"]) == 2


def test_history_round_trip_through_save_load(tmp_path):
    m = CharModel(hidden_size=16, dtype="float64", seed=1)
    m.fit(TEXT, **OVERFIT)
    p = tmp_path / "m.npz"
    m.save(p)
    r = fastrnn.load(p)
    for k, v in m.history.items():
        np.testing.assert_array_equal(r.history[k], v)
        assert r.history[k].dtype == v.dtype
    assert r.best == m.best and r._run == m._run and r.train_time == m.train_time
    for k in m.params:
        np.testing.assert_array_equal(r._best_params[k], m._best_params[k])


def test_old_checkpoint_without_history_loads(tmp_path):
    from fastrnn import checkpoint as ckpt
    m = CharModel(hidden_size=8, seed=0)
    m.fit(TEXT, iterations=5)
    p = tmp_path / "m.npz"
    m.save(p)
    arrays, meta = ckpt.load_npz(p)
    arrays = {k: v for k, v in arrays.items() if not k.startswith(("history/", "best/"))}
    for key in ("best", "run", "train_time"):
        meta.pop(key)
    ckpt.save_npz_atomic(p, arrays, meta)
    r = fastrnn.load(p)
    assert len(r.history["iteration"]) == 0 and r.best is None and r._run is None
    r.fit(TEXT, iterations=3)
    assert r.iteration == 8


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_write_history(tmp_path, suffix):
    m = CharModel(hidden_size=8, seed=0)
    m.fit(TEXT, iterations=20, eval_every=10)
    m.fit("anna\nbob\n", iterations=10, eval_every=10, val_fraction=0)  # a missing value
    p = tmp_path / ("log" + suffix)
    assert fastrnn.write_history(m, p) == suffix[1:]
    hist = m.history
    if suffix == ".csv":
        with open(p, newline="") as f:
            rows = list(csv.DictReader(f))
        get = lambda r, k: float(r[k]) if r[k] != "" else None  # noqa: E731
    else:
        rows = json.loads(p.read_text())
        get = lambda r, k: r[k]  # noqa: E731
    assert len(rows) == 3
    for i, r in enumerate(rows):
        assert int(r["iteration"]) == hist["iteration"][i]
        for k in ("elapsed", "train_loss", "lr"):
            assert get(r, k) == hist[k][i]  # written with every digit
    assert get(rows[0], "val_loss") == hist["val_loss"][0]
    assert get(rows[2], "val_loss") is None


def test_write_history_bad_source(tmp_path):
    with pytest.raises(TypeError, match="CharModel"):
        fastrnn.write_history(42, tmp_path / "x.csv")
    with pytest.raises(ValueError, match="lr"):
        fastrnn.write_history({"iteration": [1]}, tmp_path / "x.csv")


def test_plot_history(tmp_path):
    pytest.importorskip("matplotlib")
    m = CharModel(hidden_size=16, dtype="float64", seed=1)
    m.fit(TEXT, **OVERFIT)
    p = tmp_path / "curve.png"
    fastrnn.plot_history(m, p, title="test")
    data = p.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    with pytest.raises(ValueError, match="empty"):
        fastrnn.plot_history(CharModel(TEXT, hidden_size=4), tmp_path / "e.png")


def test_plot_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    m = CharModel(hidden_size=8, seed=0)
    m.fit(TEXT, iterations=10, eval_every=5)
    with pytest.raises(RuntimeError, match=r"fastrnn\[plot\]"):
        fastrnn.plot_history(m, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


# ------------------------------------------------------------------------ keep-best
def test_keep_best_keeps_the_lowest_validation_loss(tmp_path):
    m = CharModel(hidden_size=64, dtype="float64", seed=0)
    h = m.fit(TEXT, patience=0, lr_decay=1.0, **OVERFIT)
    vals = h.val_loss
    best = int(np.argmin(vals))
    assert best < len(vals) - 1 and vals[-1] > vals[best]  # the run went past its best
    assert h.best_iteration == h.val_iteration[best] and h.best_val_loss == vals[best]
    assert h.restored_best and m.iteration == 300
    val = val_split(m)
    assert m._eval(val, "lines") == vals[best]  # the weights are the best ones
    m.save(tmp_path / "m.npz")
    r = fastrnn.load(tmp_path / "m.npz")
    assert r._eval(val, "lines") == vals[best]
    # the same run without keep-best ends with the last weights
    n = CharModel(hidden_size=64, dtype="float64", seed=0)
    hn = n.fit(TEXT, patience=0, lr_decay=1.0, keep_best=False, **OVERFIT)
    assert hn.val_loss == vals and not hn.restored_best and n._best_params is None
    assert n._eval(val, "lines") == vals[-1]
    with pytest.raises(ValueError, match="no best weights"):
        n.restore_best()


# ----------------------------------------------------------- early stopping, lr decay
def test_early_stopping_stops():
    m = CharModel(hidden_size=64, dtype="float64", seed=0)
    h = m.fit(TEXT, patience=3, lr_decay=1.0, **OVERFIT)
    assert h.early_stopped and m.iteration < 300 and m._run["done"]
    vals = h.val_loss
    # stopped at the 3rd evaluation in a row without a new best, not before
    best_so_far = np.minimum.accumulate(vals)
    since = 0
    for i in range(1, len(vals)):
        since = 0 if vals[i] < best_so_far[i - 1] else since + 1
        assert since < 3 or i == len(vals) - 1
    assert since == 3
    assert m.iteration == h.val_iteration[-1]
    # a finished run: fit without a budget starts a new one
    m.fit(TEXT, iterations=1)
    assert m.iteration == h.val_iteration[-1] + 1


def test_lr_decays_on_plateau():
    m = CharModel(hidden_size=64, dtype="float64", seed=0)
    h = m.fit(TEXT, patience=0, lr_decay=0.5, lr_patience=2, **OVERFIT)
    hist = m.history
    lr, best, since, want = OVERFIT["lr"], math.inf, 0, []
    for v in h.val_loss:  # the rule, replayed
        want.append(lr)  # a row is written before its evaluation's decision
        if v < best:
            best, since = v, 0
        else:
            since += 1
            if since >= 2:
                lr, since = lr * 0.5, 0
    np.testing.assert_allclose(hist["lr"], want, rtol=0, atol=0)
    assert hist["lr"][-1] < OVERFIT["lr"]
    assert m.train_config["lr"] == m.optimizer.lr == lr


def test_guards_are_off_without_validation():
    m = CharModel(hidden_size=16, seed=0)
    h = m.fit("anna\nbob\ncarla\n", iterations=50, lr=0.05, eval_every=5)
    assert m.best is None and not h.early_stopped and m.optimizer.lr == 0.05


# -------------------------------------------------------------------- divergence
def test_finite_divergence_stops_with_a_clear_error():
    m = CharModel(hidden_size=16, seed=0)
    with pytest.raises(ValueError, match=r"diverged at iteration \d+.*learning rate"):
        m.fit(TEXT, iterations=50, lr=1e9)
    assert m.iteration < 50 and m._run["stop"] == "diverged"


# ------------------------------------------------------------------ resuming a run
@pytest.mark.parametrize("mode", ["lines", "stream"])
def test_resume_after_an_interrupt_ends_at_the_original_budget(tmp_path, mode):
    """Interrupted at step 37 of 120, saved, loaded, fit(text): the uninterrupted run."""
    kw = dict(mode=mode, iterations=120, eval_every=10, lr=0.02, patience=3, lr_patience=2,
              val_fraction=0.1, batch_size=4)
    one = CharModel(hidden_size=24, dtype="float64", seed=5)
    h_one = one.fit(TEXT, **kw)
    steps = []

    def stop_at_37(info):
        steps.append((info.step, info.steps))
        return info.step != 37

    first = CharModel(hidden_size=24, dtype="float64", seed=5)
    h1 = first.fit(TEXT, callback=stop_at_37, **kw)
    assert h1.stopped and first.iteration == 37
    first.save(tmp_path / "m.npz")
    second = fastrnn.load(tmp_path / "m.npz")
    h2 = second.fit(TEXT, callback=lambda i: steps.append((i.step, i.steps)))
    assert second.iteration == one.iteration  # the original budget, not 37 + a new one
    assert steps == [(s, one.iteration) for s in range(1, one.iteration + 1)]
    assert h1.loss + h2.loss == h_one.loss
    for k in one.params:
        np.testing.assert_array_equal(second.params[k], one.params[k])
    for k, v in one.history.items():
        if k != "elapsed":
            np.testing.assert_array_equal(second.history[k], v)
    assert second.best == one.best and h2.early_stopped == h_one.early_stopped


# ------------------------------------------------------------- data and messages
def test_stream_validation_is_spread_over_the_text():
    text = "".join(chr(97 + (i // 1000) % 26) for i in range(20000))  # 'a'*1000 'b'*1000 ...
    v = Vocab.from_text(text)
    d = _Data(v, text, "stream", 1, 25, 0.1, 0)
    assert len(d.val) == 10 and sum(len(b) for b in d.val) == 2000
    assert sum(len(b) for b in d.val) + d.L == len(text)
    firsts = [v.decode(b[:1]) for b in d.val]
    # block k: 200 characters centred at 1,000 + 2,000 k, so it starts at 900 + 2,000 k
    assert firsts == [chr(97 + (900 + 2000 * k) // 1000) for k in range(10)]
    small = _Data(v, text[:3000], "stream", 1, 25, 0.1, 0)  # 300 characters: one block
    assert len(small.val) == 1 and v.decode(small.val[0]) == "b" * 150 + "b" * 150


def test_lines_mode_warns_about_long_lines():
    m = CharModel(hidden_size=4, seed=0)
    with pytest.warns(UserWarning, match=r"1,500 characters.*stream"):
        m.fit("ab" * 750 + "\nabc\n", iterations=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CharModel(hidden_size=4, seed=0).fit("ab" * 500 + "\n", iterations=1)


def test_unknown_character_errors_list_a_few():
    v = Vocab.from_text("".join(chr(0x4E00 + i) for i in range(3000)))
    with pytest.raises(ValueError) as exc:
        v.check("".join(chr(0x3040 + i) for i in range(50)) + "abc")
    msg = str(exc.value)
    assert "53 character(s)" in msg and "and 45 more" in msg and "'a'" in msg
    assert len(msg) < 300


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_checkpoint_gets_the_umask_permissions(tmp_path, umask, mode):
    m = CharModel("ab\n", hidden_size=4, seed=0)
    old = os.umask(umask)
    try:
        m.save(tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "m.npz").st_mode & 0o777 == mode
