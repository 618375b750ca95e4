"""``fastrnn.tune`` / ``fastrnn tune``: the space, the missing extra, and real studies on
Dask LocalClusters of 2 workers with SQLite storages in tmp_path (skipped without the
[tune] extra). Trials are tiny (300 names, hidden <= 32, 100-200 steps); the whole file
takes ~40 s on a quiet 2-core machine, most of it starting worker processes."""

import inspect
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import fastrnn
from fastrnn import charmodel, cli
from fastrnn.tune import default_space, load_space, space_keys, suggest

ROOT = Path(__file__).resolve().parent.parent
TEXT = "\n".join(fastrnn.default_corpus().split()[:300]) + "\n"
SMALL = {"iterations": 120, "eval_every": 10, "hidden_size": {"low": 8, "high": 24},
         "batch_size": [8, 16]}


def _have(*names):
    try:
        for n in names:
            __import__(n)
    except ImportError:
        return False
    return True


needs_extra = pytest.mark.skipif(not _have("optuna", "distributed"),
                                 reason='needs the [tune] extra: pip install "fastrnn[tune]"')


# ------------------------------------------------------------------ the space (no extra)
class _Wider(charmodel.CharModel):
    """A CharModel that takes the settings being wired in on another branch."""

    def __init__(self, vocab=None, *, cell="rnn", hidden_size=100, num_layers=1, dropout=0.0,
                 dtype="float32", seed=None, init_scale=0.01, forget_bias=1.0):
        raise NotImplementedError  # only the signature is read


def test_default_space_follows_the_model(monkeypatch):
    params = inspect.signature(charmodel.CharModel).parameters
    space = default_space()
    assert space["cell"] == list(charmodel.CELLS)
    assert ("num_layers" in space) == ("num_layers" in params)
    assert ("dropout" in space) == ("dropout" in params)
    assert "seq_length" not in space and "mode" not in space      # lines mode
    monkeypatch.setitem(charmodel.CELLS, "gru", object)
    wide = default_space(model=_Wider)
    assert wide["cell"] == ["rnn", "lstm", "gru"]
    assert wide["num_layers"] == {"low": 1, "high": 3}
    assert wide["dropout"] == {"low": 0.0, "high": 0.5}
    stream = default_space("x" * (charmodel.LONG_LINE + 1))
    assert stream["mode"] == "stream" and stream["seq_length"]["log"]


def test_space_keys_are_the_model_arguments():
    keys = space_keys()
    for k in ("cell", "hidden_size", "dtype", "lr", "optimizer", "batch_size", "seq_length",
              "iterations", "epochs", "patience", "val_fraction", "mode"):
        assert k in keys, k
    for k in ("text", "callback", "seed", "vocab", "self"):
        assert k not in keys, k
    assert {"num_layers", "dropout"} <= set(space_keys(_Wider))


def test_toml_space(tmp_path, monkeypatch):
    p = tmp_path / "space.toml"
    p.write_text('mode = "stream"\nepochs = 2\ncell = ["rnn", "lstm"]\n'
                 'hidden_size = {low = 16, high = 64, step = 16}\n'
                 'lr = {low = 1e-3, high = 1e-2, log = true}\n'
                 'num_layers = {low = 1, high = 2}\ndropout = {low = 0.0, high = 0.3}\n')
    monkeypatch.setitem(charmodel.CELLS, "gru", object)
    s = load_space(p, model=_Wider)
    assert s["mode"] == ("fixed", "stream") and s["epochs"] == ("fixed", 2)
    assert s["cell"] == ("choice", ["rnn", "lstm"])
    assert s["hidden_size"] == ("int", 16, 64, False, 16)
    assert s["lr"] == ("float", 1e-3, 1e-2, True, None)
    assert s["num_layers"] == ("int", 1, 2, False, None)
    assert s["dropout"] == ("float", 0.0, 0.3, False, None)
    assert s["batch_size"] == ("choice", [8, 16, 32, 64])          # from the default space
    if "num_layers" not in inspect.signature(charmodel.CharModel).parameters:
        with pytest.raises(ValueError, match=r"unknown setting\(s\) \['dropout', 'num_layers'\]"):
            load_space(p)


@pytest.mark.parametrize("space, match", [
    ({"hiden_size": 3}, r"unknown setting\(s\) \['hiden_size'\]"),
    ({"lr": {"low": 0.1, "high": 0.01}}, "low 0.1 > high 0.01"),
    ({"lr": {"low": 0.0, "high": 0.01, "log": True}}, "log range needs low > 0"),
    ({"lr": {"low": 1e-3}}, "a range is a table with low, high"),
    ({"lr": {"low": "a", "high": 1}}, "must be numbers"),
    ({"cell": []}, "empty list"),
    ({"cell": ["rnn", "transformer"]}, r"unknown cell\(s\) \['transformer'\]"),
])
def test_bad_space(space, match):
    with pytest.raises(ValueError, match=match):
        load_space(space)


def test_bad_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("lr = {low = \n")
    with pytest.raises(ValueError, match="bad.toml"):
        load_space(p)
    with pytest.raises(TypeError, match="space must be"):
        load_space(3)


def test_conditional_settings():
    optuna = pytest.importorskip("optuna")
    space = load_space({"num_layers": [1, 2], "dropout": {"low": 0.0, "high": 0.5},
                        "seq_length": [16, 32]}, model=_Wider)
    one = suggest(optuna.trial.FixedTrial({"num_layers": 1, "cell": "rnn", "hidden_size": 32,
                                           "optimizer": "adam", "lr": 0.01,
                                           "batch_size": 8}), space)
    assert one["num_layers"] == 1 and "dropout" not in one and "seq_length" not in one
    space["mode"] = ("fixed", "stream")
    two = suggest(optuna.trial.FixedTrial({"num_layers": 2, "dropout": 0.25, "cell": "rnn",
                                           "hidden_size": 32, "optimizer": "adam", "lr": 0.01,
                                           "batch_size": 8, "seq_length": 32}), space)
    assert two["dropout"] == 0.25 and two["seq_length"] == 32 and two["mode"] == "stream"


def test_pruner_names():
    optuna = pytest.importorskip("optuna")
    from fastrnn.tune import _pruner
    assert isinstance(_pruner(optuna, "median"), optuna.pruners.MedianPruner)
    assert isinstance(_pruner(optuna, "Hyperband"), optuna.pruners.HyperbandPruner)
    assert isinstance(_pruner(optuna, "none"), optuna.pruners.NopPruner)
    mine = optuna.pruners.PercentilePruner(25.0)
    assert _pruner(optuna, mine) is mine
    with pytest.raises(ValueError, match="pruner must be one of"):
        _pruner(optuna, "mean")


# -------------------------------------------------------------------- without the extra
def test_import_fastrnn_without_the_extra():
    code = ("import sys\nfor m in ('optuna', 'distributed', 'dask'): sys.modules[m] = None\n"
            "import fastrnn, fastrnn.cli\nprint(callable(fastrnn.tune))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr


@pytest.mark.parametrize("missing", ["optuna", "distributed"])
def test_tune_without_the_extra_names_it(missing, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(ImportError, match=r'pip install "fastrnn\[tune\]"'):
        fastrnn.tune(TEXT, n_trials=1, out_dir=tmp_path)
    f = tmp_path / "names.txt"
    f.write_text(TEXT)
    rc = cli.main(["tune", str(f), "--trials", "1", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("fastrnn: error: ") and 'pip install "fastrnn[tune]"' in err[0]
    assert ("dask[distributed]" if missing == "distributed" else "optuna") in err[0]
    assert not (tmp_path / "o").exists()


@needs_extra
@pytest.mark.parametrize("space, match", [
    ("missing.toml", "missing.toml: No such file"),
    ("bad.toml", "bad.toml: "),
    ("unknown.toml", r"unknown setting\(s\) \['hidden'\]"),
    ("none", "storage 'nonsense': ArgumentError: Could not parse"),
])
def test_tune_command_bad_input(space, match, tmp_path, capsys):
    (tmp_path / "bad.toml").write_text("lr = [\n")
    (tmp_path / "unknown.toml").write_text("hidden = 3\n")
    f = tmp_path / "names.txt"
    f.write_text(TEXT)
    opt = ["--storage", "nonsense"] if space == "none" else ["--space", str(tmp_path / space)]
    rc = cli.main(["tune", str(f), "--trials", "1", *opt, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("fastrnn: error: "), err
    assert re.search(match, err[0]), err[0]
    assert not (tmp_path / "o").exists() or space == "none"


# ------------------------------------------------------------- studies on Dask workers
@pytest.fixture(scope="module")
def client():
    if not _have("optuna", "distributed"):
        pytest.skip('needs the [tune] extra: pip install "fastrnn[tune]"')
    import distributed
    from fastrnn.tune import _dask_client
    with _dask_client(distributed, None, None, 2) as c:
        yield c


def _sqlite(path):
    return f"sqlite:///{path}"


def _states(study):
    return [t.state.name for t in study.get_trials()]


@needs_extra
def test_small_study_on_a_local_cluster(tmp_path):
    """tune() makes its own LocalCluster of 2 workers; the best checkpoint loads and samples."""
    import optuna
    seen = []
    r = fastrnn.tune(TEXT, SMALL, n_trials=6, n_workers=2, seed=0, out_dir=tmp_path,
                     callback=seen.append)
    study = optuna.load_study(study_name="fastrnn", storage=_sqlite(tmp_path / "study.db"))
    states = _states(study)
    assert len(states) == 6 and set(states) <= {"COMPLETE", "PRUNED"}, states
    assert sorted(t.number for t in seen) == list(range(6))
    assert r.best_value == study.best_value and r.best_trial == study.best_trial.number
    assert r.best_params["iterations"] == 120 and 8 <= r.best_params["hidden_size"] <= 24
    assert all(t.user_attrs["worker"].startswith("tcp://") for t in study.get_trials())
    assert r.checkpoint == str((tmp_path / "best.npz").resolve())
    m = fastrnn.load(r.checkpoint)
    assert (m.cell, m.hidden_size) == (r.best_params["cell"], r.best_params["hidden_size"])
    assert abs(m.best["val_loss"] - r.best_value) < 1e-12
    names = m.sample(3, seed=0)
    assert len(names) == 3 and all(isinstance(s, str) for s in names)
    rows = (tmp_path / "trials.csv").read_text().strip().splitlines()
    assert rows[0].startswith("number,state,value,seconds,") and len(rows) == 7
    for key in ("history", "importances"):
        assert Path(r.files[key]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_extra
def test_workers_run_one_thread(client):
    def setting():
        import fastrnn
        return (os.environ.get("FASTRNN_NUM_THREADS"), os.environ.get("OMP_NUM_THREADS"),
                os.environ.get("OPENBLAS_NUM_THREADS"), fastrnn.get_num_threads())

    got = client.run(setting)
    assert len(got) == 2 and set(got.values()) == {("1", "1", "1", 1)}
    assert set(client.nthreads().values()) == {1}


@needs_extra
def test_resume_adds_trials(client, tmp_path):
    import optuna
    storage = _sqlite(tmp_path / "s.db")
    a = fastrnn.tune(TEXT, SMALL, n_trials=3, client=client, storage=storage,
                     study_name="names", seed=5, out_dir=tmp_path)
    b = fastrnn.tune(TEXT, SMALL, n_trials=2, client=client, storage=storage,
                     study_name="names", seed=99, out_dir=tmp_path)
    study = optuna.load_study(study_name="names", storage=storage)
    assert len(study.get_trials()) == 5 and len(b.trials) == 5 and len(a.trials) == 3
    assert study.user_attrs["fastrnn:seed"] == 5            # the study keeps its first seed
    assert b.best_value <= a.best_value
    assert fastrnn.load(b.checkpoint).best["val_loss"] == pytest.approx(b.best_value, abs=1e-12)
    with pytest.raises(ValueError, match="was run on another text"):
        fastrnn.tune(TEXT.upper(), SMALL, n_trials=1, client=client, storage=storage,
                     study_name="names", out_dir=tmp_path)


@needs_extra
def test_failed_trials_are_recorded(client, tmp_path):
    import optuna
    storage = _sqlite(tmp_path / "f.db")
    with pytest.raises(ValueError, match="no trial of study 'f' has completed; first "
                                         "failure: ValueError: patience must be"):
        fastrnn.tune(TEXT, {**SMALL, "patience": -1}, n_trials=2, client=client,
                     storage=storage, study_name="f", out_dir=tmp_path)
    trials = optuna.load_study(study_name="f", storage=storage).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    assert all("patience" in t.user_attrs["error"] for t in trials)
    for vf in (0, 0.0, [0.1, 0.2]):
        with pytest.raises(ValueError, match="needs a validation split"):
            fastrnn.tune(TEXT, {"val_fraction": vf}, n_trials=1, client=client,
                         storage=storage, out_dir=tmp_path)


@needs_extra
def test_timeout_starts_no_new_trial(client, tmp_path):
    r = fastrnn.tune(TEXT, SMALL, n_trials=10, client=client, timeout=1e-3,
                     storage=_sqlite(tmp_path / "t.db"), out_dir=tmp_path)
    assert len(r.trials) == 2          # the 2 slots filled at the start, none after


@needs_extra
def test_interrupt_fails_the_running_trials(client, tmp_path):
    import optuna

    def stop(trial):
        raise KeyboardInterrupt

    storage = _sqlite(tmp_path / "i.db")
    with pytest.raises(KeyboardInterrupt):
        fastrnn.tune(TEXT, SMALL, n_trials=4, client=client, storage=storage,
                     study_name="i", out_dir=tmp_path, callback=stop)
    trials = optuna.load_study(study_name="i", storage=storage).get_trials()
    assert sorted(t.state.name for t in trials) == ["COMPLETE", "FAIL"]
    assert [t.user_attrs["error"] for t in trials if t.state.name == "FAIL"] == ["interrupted"]


@needs_extra
def test_pruning(client, tmp_path):
    """Three good trials, then two whose learning rate is too small to learn anything:
    with 2 slots, each bad trial starts after 2 trials completed, and the median pruner
    stops it after its warm-up."""
    import optuna
    storage = _sqlite(tmp_path / "p.db")
    study = optuna.create_study(study_name="p", storage=storage)
    fixed = {"cell": "rnn", "hidden_size": 16, "batch_size": 8, "optimizer": "adam",
             "num_layers": 1}                  # the default space draws 1-3 layers
    for lr in (0.03, 0.03, 0.03, 1e-7, 1e-7):
        study.enqueue_trial({**fixed, "lr": lr})
    space = {"iterations": 200, "eval_every": 10, "hidden_size": {"low": 8, "high": 32},
             "lr": {"low": 1e-7, "high": 0.1, "log": True}}
    r = fastrnn.tune(TEXT, space, n_trials=5, client=client, storage=storage,
                     study_name="p", seed=0, out_dir=tmp_path,
                     pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2))
    trials = optuna.load_study(study_name="p", storage=storage).get_trials()
    assert [t.params["lr"] for t in trials] == [0.03, 0.03, 0.03, 1e-7, 1e-7]
    assert _states(optuna.load_study(study_name="p", storage=storage)) == \
        ["COMPLETE"] * 3 + ["PRUNED"] * 2
    full = len(trials[0].intermediate_values)
    assert full == 20
    for t in trials[3:]:
        assert 2 <= len(t.intermediate_values) < full   # pruned from its 2nd evaluation
    assert r.best_params["lr"] == 0.03


@needs_extra
def test_a_killed_worker_does_not_stop_the_study(tmp_path):
    """Kill the worker process of a running trial (one that has reported a validation
    loss): Dask re-runs the trial on another worker (or it fails); the study finishes."""
    import distributed
    import optuna
    from fastrnn.tune import _dask_client
    storage = _sqlite(tmp_path / "k.db")
    # trials of ~1-3 s each, so that one is caught while it runs
    space = {"iterations": 1500, "eval_every": 25, "cell": "lstm", "hidden_size": 48,
             "batch_size": 16, "optimizer": "adam", "lr": 0.01}
    optuna.create_study(study_name="k", storage=storage)  # before two processes race to make it
    result, killed = {}, {}
    with _dask_client(distributed, None, None, 2) as c:
        def run():
            try:
                result["r"] = fastrnn.tune(TEXT, space, n_trials=3, client=c, storage=storage,
                                           study_name="k", seed=0, out_dir=tmp_path,
                                           pruner="none")
            except BaseException as exc:  # reported by the assertion below
                result["error"] = exc

        th = threading.Thread(target=run)
        th.start()
        deadline = time.monotonic() + 300
        while th.is_alive() and not killed and time.monotonic() < deadline:
            time.sleep(0.02)
            study = optuna.load_study(study_name="k", storage=storage)
            for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
                addr = t.user_attrs.get("worker")
                if addr and 0 < len(t.intermediate_values) <= 10:   # early in its 60
                    pid = c.run(os.getpid, workers=[addr]).get(addr)
                    if pid:
                        os.kill(pid, signal.SIGKILL)
                        killed.update(trial=t.number, worker=addr, pid=pid)
                    break
        th.join(timeout=300)
        assert not th.is_alive(), "tune did not finish"
    assert "error" not in result, result.get("error")
    assert killed, "no trial was caught running"
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)
    study = optuna.load_study(study_name="k", storage=storage)
    states = _states(study)
    assert len(states) == 3 and set(states) <= {"COMPLETE", "FAIL"}, states
    assert "COMPLETE" in states
    t = study.get_trials()[killed["trial"]]
    print("killed", killed, "states", states, "that trial:", t.state.name, t.user_attrs)
    if t.state.name == "COMPLETE":      # re-run by Dask after the kill
        assert t.user_attrs["worker"] != killed["worker"]
    else:
        assert t.user_attrs["error"]
    assert fastrnn.load(result["r"].checkpoint).sample(1, seed=0)


@needs_extra
def test_tune_command(tmp_path):
    f = tmp_path / "names.txt"
    f.write_text(TEXT)
    sp = tmp_path / "space.toml"
    sp.write_text("iterations = 100\neval_every = 10\nhidden_size = {low = 8, high = 16}\n"
                  "batch_size = [8, 16]\n")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "fastrnn", "tune", str(f), "--trials", "3",
                        "--workers", "2", "--space", str(sp), "--out", str(out), "--seed", "1"],
                       cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(int(x.split(":")[0].split()[1]) for x in r.stderr.splitlines()
                  if x.startswith("trial ")) == [0, 1, 2]
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["trial", "state", "value"]
    assert "best: trial " in r.stdout and "  hidden_size = " in r.stdout
    assert f"checkpoint: {(out / 'best.npz').resolve()}" in r.stdout
    assert fastrnn.load(out / "best.npz").sample(2, seed=0)
    assert (out / "study.db").exists() and (out / "history.png").exists()
