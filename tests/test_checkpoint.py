"""Checkpoints: the .npz format, atomic writes, round trips and the exact-resume property."""

import json
import os
import zipfile

import numpy as np
import pytest

import fastrnn
import fastrnn._ext as _ext
from fastrnn import CharModel, Vocab
from fastrnn import checkpoint as ckpt

NAMES = "anna\nbob\ncarla\ndavid\nemma\nfrank\ngrace\nhenry\nirene\njack\n"
STREAM = "the quick brown fox jumps over the lazy dog.\n" * 4

HAS_LSTM_STEP = hasattr(_ext.kernels("cython"), "lstm_train_step_ix") \
    if _ext.compiled_available() else False
needs_lstm = pytest.mark.skipif(not HAS_LSTM_STEP,
                                reason="fastrnn._lstm kernels (lstm_train_step_ix) not built")


# ------------------------------------------------------------------ npz layer
def test_npz_roundtrip(tmp_path):
    p = tmp_path / "a.npz"
    arrays = {"x": np.arange(6.0).reshape(2, 3), "i": np.int64(7), "v": np.array([1, 2], np.int32)}
    meta = ckpt.new_meta(big=2 ** 100, f=0.5, s="é", nested={"a": [1, 2]})
    ckpt.save_npz_atomic(p, arrays, meta)
    got, m = ckpt.load_npz(p)
    assert got.keys() == arrays.keys()
    for k in arrays:
        assert np.array_equal(got[k], arrays[k]) and got[k].dtype == np.asarray(arrays[k]).dtype
    assert m["big"] == 2 ** 100 and m["s"] == "é" and m["nested"] == {"a": [1, 2]}
    assert m["format"] == ckpt.FORMAT and m["fastrnn_version"] == fastrnn.__version__


def test_npz_has_no_pickles(tmp_path):
    p = tmp_path / "a.npz"
    ckpt.save_npz_atomic(p, {"x": np.zeros(3)}, ckpt.new_meta())
    with np.load(p, allow_pickle=False) as z:
        assert z["meta"].dtype.kind == "U"
        json.loads(str(z["meta"]))
    with zipfile.ZipFile(p) as z:
        assert sorted(z.namelist()) == ["meta.npy", "x.npy"]


def test_object_arrays_refused(tmp_path):
    with pytest.raises(TypeError, match="object"):
        ckpt.save_npz_atomic(tmp_path / "a.npz", {"x": np.array([{}], object)}, {})


def test_path_written_exactly(tmp_path):
    p = tmp_path / "model.ckpt"
    ckpt.save_npz_atomic(p, {}, ckpt.new_meta())
    assert p.exists() and not (tmp_path / "model.ckpt.npz").exists()


def _crash(*args, **kwargs):
    raise RuntimeError("simulated crash")


def test_crash_mid_save_keeps_previous_file(tmp_path, monkeypatch):
    p = tmp_path / "m.npz"
    ckpt.save_npz_atomic(p, {"x": np.ones(4)}, ckpt.new_meta(n=1))
    before = p.read_bytes()

    def partial_savez(f, **kw):
        f.write(b"PK\x03\x04 half a file")
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(ckpt.np, "savez", partial_savez)
    with pytest.raises(RuntimeError, match="simulated"):
        ckpt.save_npz_atomic(p, {"x": np.zeros(4)}, ckpt.new_meta(n=2))
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]  # the temporary file is gone
    _, meta = ckpt.load_npz(p)
    assert meta["n"] == 1


def test_crash_before_rename_keeps_previous_file(tmp_path, monkeypatch):
    p = tmp_path / "m.npz"
    ckpt.save_npz_atomic(p, {"x": np.ones(4)}, ckpt.new_meta(n=1))
    monkeypatch.setattr(ckpt.os, "replace", _crash)
    with pytest.raises(RuntimeError):
        ckpt.save_npz_atomic(p, {"x": np.zeros(4)}, ckpt.new_meta(n=2))
    assert ckpt.load_npz(p)[1]["n"] == 1
    assert os.listdir(tmp_path) == ["m.npz"]


def test_temporary_file_in_same_directory(tmp_path, monkeypatch):
    seen = {}
    real = os.replace

    def spy(src, dst):
        seen["src"], seen["dst"] = src, dst
        return real(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", spy)
    ckpt.save_npz_atomic(tmp_path / "m.npz", {}, ckpt.new_meta())
    assert os.path.dirname(seen["src"]) == str(tmp_path)


def test_save_into_missing_directory(tmp_path):
    with pytest.raises(OSError):
        ckpt.save_npz_atomic(tmp_path / "nope" / "m.npz", {}, ckpt.new_meta())


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        ckpt.load_npz(tmp_path / "missing.npz")


def test_load_directory(tmp_path):
    with pytest.raises(IsADirectoryError):
        ckpt.load_npz(tmp_path)


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("maker, word", [
    (lambda p: _write(p, b""), "empty"),
    (lambda p: _write(p, b"hello, I am text\n"), "not an .npz"),
    (lambda p: np.save(open(p, "wb"), np.zeros(3)), "not an .npz"),
    (lambda p: _write(p, b"PK\x03\x04garbage"), "not a fastrnn checkpoint"),
    (lambda p: np.savez(open(p, "wb"), x=np.zeros(2)), "no 'meta'"),
    (lambda p: np.savez(open(p, "wb"), meta=np.zeros(2)), "not a JSON string"),
    (lambda p: np.savez(open(p, "wb"), meta=np.array("{nope")), "bad JSON"),
    (lambda p: np.savez(open(p, "wb"), meta=np.array('{"format": "other"}')), "format"),
    (lambda p: np.savez(open(p, "wb"), meta=np.array([{}], object)), "not a fastrnn checkpoint"),
])
def test_load_not_a_checkpoint(tmp_path, maker, word):
    p = tmp_path / "bad.npz"
    maker(p)
    with pytest.raises(ValueError, match=word):
        ckpt.load_npz(p)


def test_load_newer_format(tmp_path):
    p = tmp_path / "m.npz"
    meta = ckpt.new_meta()
    meta["format_version"] = ckpt.FORMAT_VERSION + 1
    ckpt.save_npz_atomic(p, {}, meta)
    with pytest.raises(ValueError, match="newer fastrnn"):
        ckpt.load_npz(p)


# ------------------------------------------------------------- model round trip
@pytest.mark.parametrize("cell", ["rnn", pytest.param("lstm", marks=needs_lstm)])
def test_model_roundtrip(tmp_path, cell):
    m = CharModel(cell=cell, hidden_size=12, dtype="float64", seed=11)
    m.fit(NAMES, iterations=23, optimizer="adam", batch_size=3, val_fraction=0.2)
    p = tmp_path / "m.npz"
    m.save(p)
    r = fastrnn.load(p)
    assert isinstance(r, CharModel)
    assert (r.cell, r.hidden_size, r.dtype, r.seed, r.iteration, r.mode) == \
        (m.cell, m.hidden_size, m.dtype, m.seed, 23, "lines")
    assert r.vocab == m.vocab
    for k in m.params:
        assert np.array_equal(r.params[k], m.params[k]) and r.params[k].dtype == np.float64
    assert r.train_config == m.train_config
    assert r.smooth_loss == m.smooth_loss
    assert isinstance(r.optimizer, fastrnn.Adam) and r.optimizer.t == m.optimizer.t == 23
    assert r.optimizer.lr == m.optimizer.lr
    for k in m.optimizer.m:
        assert np.array_equal(r.optimizer.m[k], m.optimizer.m[k])
        assert np.array_equal(r.optimizer.v[k], m.optimizer.v[k])
    assert r._rng.bit_generator.state == m._rng.bit_generator.state
    assert r.sample(5, seed=3) == m.sample(5, seed=3)


def test_checkpoint_contents(tmp_path):
    m = CharModel(hidden_size=5, seed=1)
    m.fit(NAMES, iterations=3, optimizer="sgd")
    p = tmp_path / "m.npz"
    m.save(p)
    arrays, meta = ckpt.load_npz(p)
    assert {"vocab", "param/Wax", "param/Waa", "param/ba", "param/Wya", "param/by"} <= set(arrays)
    assert meta["fastrnn_version"] == fastrnn.__version__
    assert meta["iteration"] == 3
    assert meta["model"]["cell"] == "rnn" and meta["model"]["hidden_size"] == 5
    assert meta["optimizer"]["name"] == "sgd"
    assert "state" in meta["rng"]


def test_untrained_model_with_vocab_roundtrip(tmp_path):
    m = CharModel("xyz", hidden_size=4, seed=2)
    m.save(tmp_path / "m.npz")
    r = CharModel.load(tmp_path / "m.npz")
    assert r.iteration == 0 and r.optimizer is None and r.vocab == m.vocab
    assert np.array_equal(r.params["Waa"], m.params["Waa"])


def test_save_without_vocabulary():
    with pytest.raises(ValueError, match="fit"):
        CharModel().save("never.npz")
    assert not os.path.exists("never.npz")


def test_load_refuses_mismatched_vocabulary(tmp_path):
    m = CharModel("abc", hidden_size=4, seed=0)
    m.save(tmp_path / "m.npz")
    CharModel.load(tmp_path / "m.npz", vocab=Vocab("abc"))
    with pytest.raises(ValueError, match="vocabulary"):
        CharModel.load(tmp_path / "m.npz", vocab=Vocab("abd"))


def test_load_inconsistent_checkpoint(tmp_path):
    m = CharModel("abc", hidden_size=4, seed=0)
    p = tmp_path / "m.npz"
    m.save(p)
    arrays, meta = ckpt.load_npz(p)
    arrays["param/Waa"] = np.zeros((3, 3))
    ckpt.save_npz_atomic(p, arrays, meta)
    with pytest.raises(ValueError, match="not a valid fastrnn checkpoint"):
        CharModel.load(p)
    arrays, meta = ckpt.load_npz(p)
    del meta["model"]
    ckpt.save_npz_atomic(p, arrays, meta)
    with pytest.raises(ValueError, match="not a valid fastrnn checkpoint"):
        CharModel.load(p)


def test_resumed_model_refuses_unknown_characters(tmp_path):
    m = CharModel(hidden_size=4, seed=0)
    m.fit("abc\n", iterations=2)
    m.save(tmp_path / "m.npz")
    r = CharModel.load(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="'q'"):
        r.fit("abq\n", iterations=1)


# --------------------------------------------------------------- exact resume
RESUME_CASES = [
    pytest.param("rnn", dict(mode="lines"), id="rnn-lines-sgd-B1-fused"),
    pytest.param("rnn", dict(mode="lines", batch_size=3, optimizer="adam", clip_norm=1.0,
                             val_fraction=0.2), id="rnn-lines-adam-B3-clipnorm"),
    pytest.param("rnn", dict(mode="stream", batch_size=2, seq_length=7, optimizer="adagrad"),
                 id="rnn-stream-adagrad-B2"),
    pytest.param("rnn", dict(mode="stream", seq_length=5, optimizer="sgd", lr=0.05),
                 id="rnn-stream-sgd-B1-fused"),
    pytest.param("lstm", dict(mode="lines", batch_size=2, optimizer="adam"),
                 id="lstm-lines-adam-B2", marks=needs_lstm),
    pytest.param("lstm", dict(mode="stream", seq_length=6, optimizer="sgd"),
                 id="lstm-stream-sgd-fused", marks=needs_lstm),
]


@pytest.mark.parametrize("cell, kw", RESUME_CASES)
def test_exact_resume(tmp_path, cell, kw):
    """N steps, save, load, M steps == N + M steps in one go (bit-identical float64)."""
    text = STREAM if kw["mode"] == "stream" else NAMES
    N, M = 13, 17  # not multiples of the epoch length: resume mid-epoch
    one = CharModel(cell=cell, hidden_size=9, dtype="float64", seed=21)
    h_one = one.fit(text, iterations=N + M, **kw)

    first = CharModel(cell=cell, hidden_size=9, dtype="float64", seed=21)
    h1 = first.fit(text, iterations=N, **kw)
    p = tmp_path / "resume.npz"
    first.save(p)
    del first
    second = CharModel.load(p)
    h2 = second.fit(text, iterations=M, **kw)

    assert second.iteration == one.iteration == N + M
    for k in one.params:
        assert np.array_equal(second.params[k], one.params[k]), k
    assert h1.loss + h2.loss == h_one.loss
    assert second.smooth_loss == one.smooth_loss
    assert second.sample(3, seed=0) == one.sample(3, seed=0)


def test_resume_twice_through_files(tmp_path):
    one = CharModel(hidden_size=7, dtype="float64", seed=1)
    one.fit(NAMES, iterations=30, batch_size=4, optimizer="adam")
    m = CharModel(hidden_size=7, dtype="float64", seed=1)
    for i in range(3):
        m.fit(NAMES, iterations=10, batch_size=4, optimizer="adam")
        m.save(tmp_path / "m.npz")
        m = CharModel.load(tmp_path / "m.npz")
    for k in one.params:
        assert np.array_equal(m.params[k], one.params[k])


def test_resume_on_other_text_restarts_the_data_position(tmp_path):
    m = CharModel(hidden_size=6, dtype="float64", seed=0)
    m.fit(NAMES, iterations=3, batch_size=1)
    m.save(tmp_path / "m.npz")
    r = CharModel.load(tmp_path / "m.npz")
    r.fit("anna\nbob\n", iterations=2)
    assert r.iteration == 5
    assert r._cursor["epoch"] == 1 and r._cursor["pos"] == 0


def test_fit_after_load_reuses_the_run_settings(tmp_path):
    """``fit(text, iterations=M)`` on a loaded model continues with the saved settings."""
    kw = dict(batch_size=3, optimizer="adam", lr=0.004, clip_norm=2.0, val_fraction=0.2)
    one = CharModel(hidden_size=7, dtype="float64", seed=2)
    one.fit(NAMES, iterations=20, **kw)
    m = CharModel(hidden_size=7, dtype="float64", seed=2)
    m.fit(NAMES, iterations=8, **kw)
    m.save(tmp_path / "m.npz")
    r = CharModel.load(tmp_path / "m.npz")
    r.fit(NAMES, iterations=12)
    assert r.train_config == one.train_config
    for k in one.params:
        assert np.array_equal(r.params[k], one.params[k])
