"""fastrnn.CharModel: data modes, masking, optimizers, clipping, validation, sampling."""

import math
from importlib import resources

import numpy as np
import pytest

import fastrnn
import fastrnn._ext as _ext
from fastrnn import CharModel, Vocab
from fastrnn.charmodel import _Data, _pad

NAMES = "anna\nbob\ncarla\ndavid\nemma\nfrank\ngrace\nhenry\nirene\njack\n"
STREAM = "the quick brown fox jumps over the lazy dog.\n" * 6

HAS_LSTM_STEP = hasattr(_ext.kernels("cython"), "lstm_train_step_ix") \
    if _ext.compiled_available() else False
needs_lstm = pytest.mark.skipif(not HAS_LSTM_STEP,
                                reason="fastrnn._lstm kernels (lstm_train_step_ix) not built")
CELLS = ["rnn", pytest.param("lstm", marks=needs_lstm)]


def weights(m):
    return {k: v.copy() for k, v in m.params.items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


# ------------------------------------------------------------------ embedded corpus
def test_default_corpus():
    text = fastrnn.default_corpus()
    lines = text.split("\n")
    assert lines[-1] == ""
    names = lines[:-1]
    assert len(names) > 5000
    assert len(names) == len(set(names))
    assert set("".join(names)) <= set("abcdefghijklmnopqrstuvwxyz")
    assert all(names)
    assert len(text.encode()) < 300_000
    assert "mary" in names and "james" in names


def test_corpus_provenance_recorded():
    prov = resources.files("fastrnn").joinpath("data", "PROVENANCE.md").read_text("utf-8")
    for needle in ("names", "0.3.0", "Census", "public domain", "sha256"):
        assert needle.lower() in prov.lower(), needle


# ------------------------------------------------------------------- construction
def test_construction_and_repr():
    m = CharModel(hidden_size=8, seed=3)
    assert m.net is None and m.vocab is None
    assert "hidden_size=8" in repr(m)
    m2 = CharModel("abc", hidden_size=8, seed=3)
    assert m2.vocab == Vocab.from_text("abc")
    assert m2.params["Wax"].shape == (8, 4)
    assert m2.params["Wax"].dtype == np.float32


def test_seed_is_drawn_and_recorded():
    a, b = CharModel(), CharModel()
    assert isinstance(a.seed, int) and a.seed != b.seed


def test_same_seed_same_weights_and_training():
    runs = []
    for _ in range(2):
        m = CharModel(hidden_size=12, dtype="float64", seed=5)
        m.fit(NAMES, iterations=30, optimizer="adam", batch_size=3)
        runs.append(weights(m))
    assert_same_weights(*runs)
    other = CharModel(hidden_size=12, dtype="float64", seed=6)
    other.fit(NAMES, iterations=30, optimizer="adam", batch_size=3)
    assert not np.array_equal(other.params["Waa"], runs[0]["Waa"])


@pytest.mark.parametrize("kw, exc, word", [
    ({"cell": "transformer"}, ValueError, "cell"),
    ({"hidden_size": 0}, ValueError, "hidden_size"),
    ({"hidden_size": -3}, ValueError, "hidden_size"),
    ({"hidden_size": 2.5}, TypeError, "hidden_size"),
    ({"dtype": "int32"}, TypeError, "dtype"),
    ({"seed": -1}, ValueError, "seed"),
    ({"init_scale": float("nan")}, ValueError, "init_scale"),
    ({"vocab": 12}, TypeError, "vocab"),
])
def test_bad_construction(kw, exc, word):
    with pytest.raises(exc, match=word):
        CharModel(**kw)


# ------------------------------------------------------------------ line mode data
def test_line_examples_and_padding():
    v = Vocab.from_text("ab\nbca\n")
    X, Y = _pad([v.encode("ab"), v.encode("bca")], v.newline)
    a, b, c, nl = (v.char_to_ix[ch] for ch in "abc\n")
    # X = [-1] + ix(line), Y = ix(line) + [ix('\n')], padded with -1 at the end
    assert X[:, 0].tolist() == [-1, a, b, -1]
    assert Y[:, 0].tolist() == [a, b, nl, -1]
    assert X[:, 1].tolist() == [-1, b, c, a]
    assert Y[:, 1].tolist() == [b, c, a, nl]


@pytest.mark.parametrize("cell", CELLS)
def test_padding_changes_nothing(cell):
    """A padded batch has the loss and gradients of its lines taken one by one."""
    text = "a\nbcdefg\nhij\n"
    m = CharModel(text, cell=cell, hidden_size=10, dtype="float64", seed=1, init_scale=0.3)
    lines = [m.vocab.encode(s) for s in ("a", "bcdefg", "hij")]
    X, Y = _pad(lines, m.vocab.newline)
    # extra padding rows at the end must not matter either
    Xp = np.vstack([X, np.full((3, 3), -1)])
    Yp = np.vstack([Y, np.full((3, 3), -1)])
    loss_b, g_b, _ = m.net.loss_and_grads(X, Y)
    loss_p, g_p, _ = m.net.loss_and_grads(Xp, Yp)
    total, g_sum = 0.0, None
    for s in lines:
        x1, y1 = _pad([s], m.vocab.newline)
        loss1, g1, _ = m.net.loss_and_grads(x1, y1)
        total += loss1
        g1 = {k: v for k, v in g1.items() if not k.startswith("da") and not k.startswith("dc")}
        g_sum = g1 if g_sum is None else {k: g_sum[k] + g1[k] for k in g_sum}
    for loss in (loss_b, loss_p):
        assert loss == pytest.approx(total, rel=1e-12)
    for k in g_sum:
        np.testing.assert_allclose(g_b[k], g_sum[k], rtol=1e-10, atol=1e-14, err_msg=k)
        np.testing.assert_allclose(g_p[k], g_sum[k], rtol=1e-10, atol=1e-14, err_msg=k)


def test_padded_minibatch_training_equals_average_of_lines():
    """One SGD step on a padded batch of B lines = the step on the mean of their gradients."""
    text = "ab\ncdefgh\nij\n"
    m = CharModel(text, hidden_size=6, dtype="float64", seed=2, init_scale=0.3)
    ref = CharModel(text, hidden_size=6, dtype="float64", seed=2, init_scale=0.3)
    m.fit(text, iterations=1, batch_size=3, optimizer="sgd", lr=0.1, clip=0, shuffle=False)
    g_mean = None
    for s in ("ab", "cdefgh", "ij"):
        x, y = _pad([ref.vocab.encode(s)], ref.vocab.newline)
        _, g, _ = ref.net.loss_and_grads(x, y)
        g_mean = {k: g[k] / 3 for k in g if k[1:] in ref.params} if g_mean is None else \
            {k: g_mean[k] + g[k] / 3 for k in g_mean}
    for k, p in ref.params.items():
        np.testing.assert_allclose(m.params[k], p - 0.1 * g_mean["d" + k], rtol=1e-10,
                                   atol=1e-14, err_msg=k)


def test_empty_lines_are_skipped_and_epochs_count_steps():
    m = CharModel(hidden_size=8, seed=0)
    h = m.fit("ab\n\ncd\nef\n\ngh\nij\n", epochs=2, batch_size=2)
    assert len(h.loss) == 2 * 3  # 5 lines, batches of 2 -> 3 steps per epoch
    assert m.iteration == 6
    assert h.iteration == list(range(1, 7))


def test_list_of_lines_is_accepted():
    m = CharModel(hidden_size=8, seed=0)
    h = m.fit(["anna", "bob"], iterations=3)
    assert len(h.loss) == 3


# -------------------------------------------------------------------- losses
@pytest.mark.parametrize("mode", ["lines", "stream"])
def test_untrained_loss_is_log_v(mode):
    m = CharModel(NAMES, hidden_size=16, dtype="float64", seed=0)
    m.mode = mode
    assert m.evaluate(NAMES) == pytest.approx(math.log(len(m.vocab)), rel=0.01)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("mode, opt, B", [("lines", "sgd", 1), ("lines", "adam", 4),
                                          ("stream", "adagrad", 1), ("stream", "adam", 3)])
def test_loss_falls(cell, mode, opt, B):
    text = NAMES if mode == "lines" else STREAM
    m = CharModel(cell=cell, hidden_size=24, seed=0)
    before = CharModel(text, cell=cell, hidden_size=24, seed=0)
    before.mode = mode
    lr = {"sgd": 0.1 if cell == "rnn" else 0.5, "adam": 0.02, "adagrad": 0.1}[opt]
    m.fit(text, mode=mode, iterations=300, optimizer=opt, lr=lr, batch_size=B, seq_length=10)
    assert m.evaluate(text) < 0.8 * before.evaluate(text)


def test_smoothed_loss():
    m = CharModel(NAMES, hidden_size=8, seed=0)
    h = m.fit(NAMES, iterations=5, smoothing=0.9)
    s = math.log(len(m.vocab))
    for loss, smooth in zip(h.loss, h.smooth_loss):
        s = 0.9 * s + 0.1 * loss
        assert smooth == pytest.approx(s)
    assert m.smooth_loss == pytest.approx(s)


def test_reported_loss_is_per_character():
    m = CharModel(NAMES, hidden_size=8, dtype="float64", seed=0)
    x, y = _pad([m.vocab.encode("anna")], m.vocab.newline)
    expected = m.net.loss(x, y) / 5  # 4 letters + the newline
    h = m.fit("anna\n", iterations=1, optimizer="adam")
    assert h.loss[0] == pytest.approx(expected)


# ------------------------------------------------------------- optimizers, paths
@pytest.mark.parametrize("B", [1, 3])
def test_fused_sgd_path_equals_general_path(B):
    """SGD with clip-by-value runs the fused kernel; it matches loss_and_grads + SGD."""
    fused = CharModel(hidden_size=10, dtype="float64", seed=4, init_scale=0.2)
    fused.fit(NAMES, iterations=12, batch_size=B, lr=0.05, clip=0.05)
    general = CharModel(hidden_size=10, dtype="float64", seed=4, init_scale=0.2)
    # a huge clip_norm never clips but forces the general path
    general.fit(NAMES, iterations=12, batch_size=B, lr=0.05, clip=0.05, clip_norm=1e30)
    for k in fused.params:
        np.testing.assert_allclose(fused.params[k], general.params[k], rtol=1e-9, atol=1e-13)


def test_optimizer_instance_and_state_kept_between_fits():
    m = CharModel(hidden_size=8, seed=0)
    opt = fastrnn.Adam(lr=0.01)
    m.fit(NAMES, iterations=4, optimizer=opt)
    assert m.optimizer is opt and opt.t == 4
    m.fit(NAMES, iterations=3, optimizer="adam")
    assert m.optimizer is opt and opt.t == 7
    m.fit(NAMES, iterations=2, optimizer="adam", lr=0.003)
    assert opt.lr == 0.003 and opt.t == 9
    m.fit(NAMES, iterations=1, optimizer="adagrad")
    assert isinstance(m.optimizer, fastrnn.Adagrad)
    assert m.optimizer.lr == fastrnn.charmodel.DEFAULT_LR["adagrad"]


def test_clip_norm_bounds_the_update():
    """With SGD and clip_norm, each update has norm <= lr * clip_norm."""
    m = CharModel(hidden_size=8, dtype="float64", seed=0, init_scale=0.5)
    m.fit(NAMES, iterations=1, optimizer="sgd", batch_size=1)
    before = weights(m)
    m.fit(NAMES, iterations=1, lr=1.0, clip_norm=0.01)
    delta = math.sqrt(sum(float(((m.params[k] - before[k]) ** 2).sum()) for k in before))
    assert delta <= 0.01 * (1 + 1e-9)
    assert delta > 0.001


def test_clip_by_value_bounds_the_update():
    m = CharModel(hidden_size=8, dtype="float64", seed=0, init_scale=0.5)
    m.fit(NAMES, iterations=1, optimizer="sgd", batch_size=1)
    before = weights(m)
    m.fit(NAMES, iterations=1, lr=1.0, clip=0.001)
    for k in before:
        assert np.abs(m.params[k] - before[k]).max() <= 0.001 * (1 + 1e-9)


def test_numpy_backend_matches():
    ms = []
    for backend in ("cython", "numpy"):
        with fastrnn.use_backend(backend):
            m = CharModel(hidden_size=8, dtype="float64", seed=0)
            m.fit(NAMES, iterations=5, optimizer="adam", batch_size=2)
            ms.append(m)
    for k in ms[0].params:
        np.testing.assert_allclose(ms[0].params[k], ms[1].params[k], rtol=1e-9, atol=1e-12)


def test_float32_training():
    m = CharModel(hidden_size=8, dtype="float32", seed=0)
    m.fit(NAMES, iterations=10, optimizer="adam")
    assert all(p.dtype == np.float32 for p in m.params.values())


# --------------------------------------------------------------------- stream mode
def test_stream_parallel_streams():
    v = Vocab.from_text("abcdefghij")
    d = _Data(v, "abcdefghij", "stream", 2, 3, 0.0, 0)
    assert d.streams.shape == (5, 2)
    assert v.decode(d.streams[:, 0]) == "abcde"
    assert v.decode(d.streams[:, 1]) == "fghij"
    assert d.per_epoch == 2  # 4 targets per stream in windows of 3
    X, Y = d.window(1)
    assert v.decode(X[:, 0]) == "d" and v.decode(Y[:, 0]) == "e"


def test_stream_mode_carries_state_like_truncated_bptt():
    """fit(mode="stream") = the min-char-rnn loop with the state carried between windows."""
    text = "hello world, hello fastrnn\n" * 2
    S = 7
    m = CharModel(hidden_size=10, dtype="float64", seed=8)
    m.fit(text, mode="stream", iterations=10, seq_length=S, optimizer="sgd", lr=0.05,
          clip=5.0, batch_size=1)
    ref = CharModel(text, hidden_size=10, dtype="float64", seed=8)
    data = ref.vocab.encode(text)
    n_windows = -(-(len(data) - 1) // S)
    state, p = None, 0
    for _ in range(10):
        e = min(p * S + S, len(data) - 1)
        x, y = data[p * S:e], data[p * S + 1:e + 1]
        _, state = ref.net.train_step(x, y, state, lr=0.05, clip=5.0)
        p += 1
        if p == n_windows:  # a new epoch starts from a zero state
            p, state = 0, None
    for k in m.params:
        np.testing.assert_array_equal(m.params[k], ref.params[k])


def test_stream_too_short():
    with pytest.raises(ValueError, match="too short"):
        CharModel(hidden_size=4).fit("abc", mode="stream", batch_size=2)


# ------------------------------------------------------------------- validation
def test_validation_split_lines():
    v = Vocab.from_text(NAMES)
    d = _Data(v, NAMES, "lines", 1, 25, 0.3, 0)
    assert len(d.val) == 3 and len(d.train) == 7
    all_lines = sorted(v.decode(s) for s in d.train + d.val)
    assert all_lines == sorted(NAMES.split())
    d2 = _Data(v, NAMES, "lines", 1, 25, 0.3, 0)
    assert [v.decode(s) for s in d2.val] == [v.decode(s) for s in d.val]


def test_validation_loss_reported():
    m = CharModel(hidden_size=8, seed=0)
    h = m.fit(NAMES, iterations=20, val_fraction=0.2, eval_every=5)
    assert h.val_iteration == [5, 10, 15, 20]
    assert len(h.val_loss) == 4 and all(np.isfinite(h.val_loss))
    m2 = CharModel(hidden_size=8, seed=0)
    h = m2.fit(STREAM, mode="stream", iterations=4, val_fraction=0.1)
    assert h.val_iteration[-1] == m2.iteration == 4


def test_validation_does_not_change_training():
    # the guards act on evaluations by design (tests/test_trainer.py); off here
    off = dict(keep_best=False, patience=0, lr_decay=1.0)
    a = CharModel(hidden_size=8, dtype="float64", seed=0)
    a.fit(NAMES, iterations=10, val_fraction=0.2, eval_every=1, **off)
    b = CharModel(hidden_size=8, dtype="float64", seed=0)
    b.fit(NAMES, iterations=10, val_fraction=0.2, eval_every=100, **off)
    assert_same_weights(weights(a), weights(b))


def test_validation_leaves_nothing():
    with pytest.raises(ValueError, match="val_fraction"):
        CharModel(hidden_size=4).fit("abc\n", val_fraction=0.5)


# ----------------------------------------------------------- callback and samples
def test_callback_and_stop():
    seen = []

    def cb(info):
        seen.append(info)
        return False if info.step == 3 else None

    m = CharModel(hidden_size=8, seed=0)
    h = m.fit(NAMES, iterations=10, callback=cb)
    assert [i.iteration for i in seen] == [1, 2, 3]
    assert h.stopped and m.iteration == 3 and len(h.loss) == 3
    info = seen[-1]
    assert isinstance(info, fastrnn.TrainInfo)
    assert info.steps == 10 and info.model is m and info.elapsed >= 0
    assert info.loss == h.loss[-1] and info.smooth_loss == h.smooth_loss[-1]


def test_periodic_samples_do_not_change_training():
    a = CharModel(hidden_size=8, dtype="float64", seed=0)
    h = a.fit(NAMES, iterations=10, sample_every=4, n_samples=2)
    assert [it for it, _ in h.samples] == [4, 8]
    assert all(len(s) == 2 and all(isinstance(x, str) for x in s) for _, s in h.samples)
    b = CharModel(hidden_size=8, dtype="float64", seed=0)
    b.fit(NAMES, iterations=10)
    assert_same_weights(weights(a), weights(b))


# ------------------------------------------------------------------- sampling
@pytest.fixture(scope="module")
def trained():
    m = CharModel(hidden_size=32, seed=0)
    m.fit(NAMES, iterations=400, optimizer="adam", lr=0.02, batch_size=2)
    return m


def test_sample_basic(trained):
    s = trained.sample(5, seed=1)
    assert len(s) == 5 and all(isinstance(x, str) for x in s)
    assert all("\n" not in x for x in s)  # line mode stops at the newline
    assert set("".join(s)) <= set(trained.vocab.chars)
    assert trained.sample(5, seed=1) == s
    assert trained.sample(5, rng=np.random.default_rng(1)) == s


def test_sample_greedy_equals_temperature_zero_and_top_k_one(trained):
    g = trained.sample(3, greedy=True, seed=0)
    assert g[0] == g[1] == g[2]
    assert trained.sample(1, temperature=0.0, seed=5) == g[:1]
    assert trained.sample(1, top_k=1, seed=7) == g[:1]


def test_sample_learned_the_names(trained):
    assert trained.sample(1, greedy=True)[0] in NAMES.split()


def test_sample_prime(trained):
    s = trained.sample(4, prime="gr", seed=0)
    assert all(x.startswith("gr") for x in s)
    assert trained.sample(1, prime="gr", greedy=True)[0] == "grace"
    assert trained.sample(1, prime="he", greedy=True)[0] == "henry"


def test_sample_max_length(trained):
    s = trained.sample(3, max_length=2, seed=0)
    assert all(len(x) <= 2 for x in s)
    long = trained.sample(2, max_length=5, stop_at_newline=False, seed=0)
    assert all(len(x) == 5 for x in long)


def test_sample_unknown_prime(trained):
    with pytest.raises(ValueError, match=r"prime.*'Z'.*'!'|prime.*'!'.*'Z'"):
        trained.sample(prime="Zoe!")


def test_sample_stream_mode():
    m = CharModel(hidden_size=16, seed=0)
    m.fit(STREAM, mode="stream", iterations=50, optimizer="adam", lr=0.02)
    s = m.sample(2, max_length=60, seed=0)
    assert all(len(x) == 60 for x in s)
    p = m.sample(1, prime="the ", max_length=10, seed=0)[0]
    assert p.startswith("the ") and len(p) == 14


@pytest.mark.parametrize("kw, exc, word", [
    ({"n": 0}, ValueError, "n"),
    ({"temperature": -1}, ValueError, "temperature"),
    ({"top_k": -1}, ValueError, "top_k"),
    ({"max_length": 0}, ValueError, "max_length"),
    ({"seed": 1, "rng": np.random.default_rng()}, ValueError, "seed or rng"),
    ({"rng": 3}, TypeError, "rng"),
    ({"prime": 5}, TypeError, "prime"),
])
def test_sample_bad_arguments(trained, kw, exc, word):
    with pytest.raises(exc, match=word):
        trained.sample(**kw)


def test_sample_before_fit():
    with pytest.raises(ValueError, match="fit"):
        CharModel().sample()


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kw, exc, word", [
    ({"mode": "words"}, ValueError, "mode"),
    ({"iterations": 0}, ValueError, "iterations"),
    ({"epochs": -1}, ValueError, "epochs"),
    ({"iterations": 2, "epochs": 2}, ValueError, "not both"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"seq_length": 0}, ValueError, "seq_length"),
    ({"lr": 0}, ValueError, "lr"),
    ({"lr": -0.1}, ValueError, "lr"),
    ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
    ({"clip": -1}, ValueError, "clip"),
    ({"clip_norm": 0}, ValueError, "clip_norm"),
    ({"val_fraction": 1.0}, ValueError, "val_fraction"),
    ({"val_fraction": -0.1}, ValueError, "val_fraction"),
    ({"smoothing": 1.0}, ValueError, "smoothing"),
    ({"callback": 3}, TypeError, "callback"),
    ({"sample_every": -1}, ValueError, "sample_every"),
    ({"patience": -1}, ValueError, "patience"),
    ({"lr_decay": 0}, ValueError, "lr_decay"),
    ({"lr_decay": 1.5}, ValueError, "lr_decay"),
    ({"lr_patience": 0}, ValueError, "lr_patience"),
    ({"keep_best": "yes"}, TypeError, "keep_best"),
])
def test_fit_bad_arguments(kw, exc, word):
    m = CharModel(hidden_size=4, seed=0)
    with pytest.raises(exc, match=word):
        m.fit(NAMES, **kw)
    assert m.iteration == 0


@pytest.mark.parametrize("text", ["", "\n\n"])
def test_fit_empty_text(text):
    with pytest.raises(ValueError, match="empty"):
        CharModel(hidden_size=4).fit(text)


def test_fit_bad_text_type():
    with pytest.raises(TypeError, match="text"):
        CharModel(hidden_size=4).fit(42)


def test_fit_unknown_characters_after_training():
    m = CharModel(hidden_size=4, seed=0)
    m.fit("abc\n", iterations=1)
    with pytest.raises(ValueError, match=r"'x'.*'y'"):
        m.fit("abx\ny\n", iterations=1)
    assert m.iteration == 1


def test_diverging_training_raises_clearly():
    m = CharModel(hidden_size=8, dtype="float32", seed=0, init_scale=1.0)
    with pytest.raises(ValueError, match="learning rate"):
        m.fit(STREAM, mode="stream", iterations=200, lr=1e38, clip=0)


def test_bad_fit_changes_nothing():
    m = CharModel(hidden_size=4, seed=0)
    with pytest.raises(ValueError, match="too short"):
        m.fit("ab", mode="stream", batch_size=4, optimizer="adam")
    assert m.vocab is None and m.net is None and m.optimizer is None
    m.fit("abc\n", iterations=1, optimizer="adam", lr=0.01)
    with pytest.raises(ValueError, match="'z'"):
        m.fit("z\n", optimizer="sgd", lr=0.5)
    assert isinstance(m.optimizer, fastrnn.Adam) and m.optimizer.lr == 0.01
    assert m.train_config["optimizer"] == "adam"


def test_fit_defaults_to_previous_settings():
    m = CharModel(hidden_size=4, seed=0)
    m.fit(STREAM, mode="stream", iterations=2, batch_size=2, seq_length=9, optimizer="adagrad",
          clip_norm=3.0)
    m.fit(STREAM, iterations=1)
    assert m.train_config == {"mode": "stream", "batch_size": 2, "seq_length": 9,
                              "optimizer": "adagrad", "lr": 0.1, "clip": 0.0,
                              "clip_norm": 3.0, "val_fraction": 0.0, "keep_best": False,
                              "patience": 10, "lr_decay": 0.5, "lr_patience": 4}
    assert m.optimizer.name == "adagrad"
