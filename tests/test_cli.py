"""The ``fastrnn`` command: end to end in a subprocess, and every bad input in process."""

import argparse
import contextlib
import importlib.metadata
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from conftest import subprocess_env

import fastrnn
import fastrnn._ext as _ext
from fastrnn import cli
from fastrnn.charmodel import TrainInfo

# subprocesses import the fastrnn under test (PYTHONPATH) from another directory, so
# that the same tests run in a checkout and against an installed wheel
ELSEWHERE = tempfile.gettempdir()
NAMES = ("anna\nbob\ncarla\ndavid\nemma\nfrank\ngrace\nhenry\nirene\njack\nkate\nliam\n"
         "mona\nnora\noscar\npaul\nquinn\nrosa\nsam\ntina\n")


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "fastrnn", *map(str, args)], cwd=ELSEWHERE,
                          env=subprocess_env(), capture_output=True, text=True,
                          timeout=timeout)


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("fastrnn: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "names.txt"
    p.write_text(NAMES)
    return p


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "names.txt").write_text(NAMES)
    out = d / "m.npz"
    r = run("train", d / "names.txt", "--iterations", 300, "--hidden", 24, "--batch-size", 4,
            "--seed", 0, "--out", out, "-n", 3)
    assert r.returncode == 0, r.stderr
    return out


# ------------------------------------------------------------- end to end (subprocess)
def test_train_end_to_end(model_file):
    m = fastrnn.load(model_file)
    assert m.iteration == 300 and m.hidden_size == 24 and m.cell == "rnn"
    assert m.train_config["optimizer"] == "adam" and m.train_config["batch_size"] == 4


def test_train_output(corpus, tmp_path):
    out = tmp_path / "m.npz"
    r = run("train", corpus, "--iterations", 200, "--hidden", 16, "--seed", 1, "--out", out,
            "--sample-every", 100, "-n", 4)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    # progress: plain lines when stderr is not a terminal, no carriage returns
    assert "\r" not in r.stderr
    assert "200/200" in r.stderr and "it/s" in r.stderr and "ETA" in r.stderr
    assert f"saved {out}" in r.stderr and "iteration 200" in r.stderr
    # periodic samples, then 4 final samples on stdout
    assert "--- iteration 100" in r.stdout and "--- iteration 200" in r.stdout
    final = r.stdout.strip().splitlines()[-4:]
    assert len(final) == 4 and all(s and s.isalpha() for s in final)
    assert out.exists()


def test_sample_end_to_end(model_file):
    r = run("sample", model_file, "-n", 5, "--seed", 7)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 5 and all(set(s) <= set("abcdefghijklmnopqrstuvwxyz") for s in lines)
    assert run("sample", model_file, "-n", 5, "--seed", 7).stdout == r.stdout
    r = run("sample", model_file, "-n", 2, "--prime", "ro", "--temperature", "0.5",
            "--top-k", 5, "--seed", 1)
    assert r.returncode == 0 and all(s.startswith("ro") for s in r.stdout.splitlines())


def test_resume_is_exact(corpus, tmp_path):
    common = ["--hidden", 12, "--dtype", "float64", "--seed", 3, "--batch-size", 2,
              "--optimizer", "adam", "--quiet"]
    one, half, rest = tmp_path / "one.npz", tmp_path / "half.npz", tmp_path / "rest.npz"
    assert run("train", corpus, "--iterations", 60, "--out", one, *common).returncode == 0
    assert run("train", corpus, "--iterations", 25, "--out", half, *common).returncode == 0
    r = run("train", corpus, "--resume", half, "--iterations", 35, "--out", rest)
    assert r.returncode == 0, r.stderr
    assert "resuming at iteration 25" in r.stderr
    a, b = fastrnn.load(one), fastrnn.load(rest)
    assert a.iteration == b.iteration == 60
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k]), k
    assert fastrnn.load(half).iteration == 25  # the resumed checkpoint was not overwritten


def test_resume_writes_back_by_default(corpus, tmp_path):
    p = tmp_path / "m.npz"
    assert run("train", corpus, "--iterations", 20, "--out", p, "--quiet").returncode == 0
    r = run("train", corpus, "--resume", p, "--iterations", 10, "--quiet")
    assert r.returncode == 0 and r.stdout == r.stderr == ""
    assert fastrnn.load(p).iteration == 30


@pytest.mark.skipif(not (_ext.compiled_available()
                         and hasattr(_ext.kernels("cython"), "lstm_train_step_ix")),
                    reason="fastrnn._lstm kernels (lstm_train_step_ix) not built")
def test_stream_mode_and_lstm(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog.\n" * 8)
    out = tmp_path / "s.npz"
    r = run("train", text, "--mode", "stream", "--cell", "lstm", "--hidden", 16,
            "--seq-length", 16, "--batch-size", 2, "--iterations", 60, "--clip-norm", 5,
            "--optimizer", "sgd", "--lr", "0.1", "--out", out, "-n", 1)
    assert r.returncode == 0, r.stderr
    m = fastrnn.load(out)
    assert m.mode == "stream" and m.cell == "lstm" and m.train_config["clip_norm"] == 5
    r = run("sample", out, "-n", 1, "--max-length", 40, "--seed", 0, "--prime", "the")
    assert r.returncode == 0 and r.stdout.startswith("the") and len(r.stdout.rstrip("\n")) >= 40


def test_embedded_corpus_quiet(tmp_path):
    out = tmp_path / "m.npz"
    r = run("train", "--iterations", 30, "--hidden", 16, "--quiet", "--out", out)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    assert len(fastrnn.load(out).vocab) == 27


def interrupt_training(*args, wait=0.3):
    """Start ``fastrnn train *args``, send SIGINT once it trains; ``(header, status, stderr)``."""
    p = subprocess.Popen([sys.executable, "-m", "fastrnn", "train", *map(str, args)],
                         cwd=ELSEWHERE, env=subprocess_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE,
                         text=True)
    try:
        header = p.stderr.readline()  # written once training has started
        assert header.startswith("training"), header
        time.sleep(wait)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    return header, p.returncode, err


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGINT to a child process on Windows")
def test_ctrl_c_saves_checkpoint(corpus, tmp_path):
    out = tmp_path / "m.npz"
    _, status, err = interrupt_training(corpus, "--iterations", 100000000, "--hidden", 16,
                                        "--out", out)
    assert status == 130, err
    assert "Traceback" not in err
    assert "interrupted at iteration" in err and str(out) in err
    m = fastrnn.load(out)
    assert m.iteration >= 1
    assert f"iteration {m.iteration};" in err


@pytest.mark.parametrize("args, word", [
    (["train", "/no/such/file.txt"], "cannot read"),
    (["sample", "/no/such/model.npz"], "No such file"),
    (["train", "--hidden", "-5"], "--hidden"),
])
def test_errors_in_subprocess(args, word):
    r = run(*args)
    assert r.returncode == 2
    assert word in one_error_line(r.stderr)


def test_bad_checkpoint_and_prime_in_subprocess(model_file, corpus):
    r = run("sample", corpus)
    assert r.returncode == 2 and "not a fastrnn checkpoint" in one_error_line(r.stderr)
    r = run("sample", model_file, "--prime", "Zoë")
    assert r.returncode == 2
    line = one_error_line(r.stderr)
    assert "'Z'" in line and "'ë'" in line and "vocabulary" in line


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0 and fastrnn.__version__ in r.stdout
    r = run("train", "--help")
    assert r.returncode == 0 and "--clip-norm" in r.stdout and "--resume" in r.stdout


def test_bench_subprocess():
    r = run("bench", "--hidden", 16, "--budget", "0.02")
    assert r.returncode == 0, r.stderr
    assert "cython" in r.stdout and "numpy" in r.stdout and "speed-up" in r.stdout
    assert "rnn train step" in r.stdout and "sample" in r.stdout


def test_console_script_entry_point():
    """The installed distribution's `fastrnn` command is fastrnn.__main__:main, and its
    version is fastrnn.__version__."""
    from fastrnn.__main__ import main
    assert main is cli.main
    try:
        dist = importlib.metadata.distribution("fastrnn")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("fastrnn is not installed (no distribution metadata)")
    scripts = [e for e in dist.entry_points if e.group == "console_scripts"]
    assert [(e.name, e.value) for e in scripts] == [("fastrnn", "fastrnn.__main__:main")]
    assert scripts[0].load() is main
    assert dist.version == fastrnn.__version__


# --------------------------------------------------------------- bad input, in process
def call(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def files(tmp_path, model_file):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("\n \n\n")
    (tmp_path / "bad.txt").write_bytes(b"anna\nb\xffb\n")
    (tmp_path / "latin1.txt").write_bytes("jos\xe9\n".encode("latin-1"))
    (tmp_path / "new.txt").write_text("anna\nZOE\n")
    (tmp_path / "one.txt").write_text("anna\n")
    (tmp_path / "names.txt").write_text(NAMES)
    return {"dir": tmp_path, "model": model_file,
            **{p.stem: p for p in tmp_path.iterdir() if p.suffix == ".txt"}}


BAD = [
    # files
    (["train", "{dir}/missing.txt"], "cannot read"),
    (["train", "{empty}"], "empty"),
    (["train", "{blank}"], "empty"),
    (["train", "{bad}"], "not UTF-8"),
    (["train", "{latin1}"], "not UTF-8"),
    (["train", "{dir}"], "directory"),
    (["sample", "{names}"], "not a fastrnn checkpoint"),
    (["sample", "{empty}"], "not a fastrnn checkpoint"),
    (["sample", "{dir}/missing.npz"], "No such file"),
    (["sample", "{dir}"], "directory"),
    (["train", "{names}", "--resume", "{names}"], "not a fastrnn checkpoint"),
    (["train", "{names}", "--out", "{dir}/nope/m.npz"], "does not exist"),
    (["train", "{names}", "--out", "{dir}"], "directory"),
    # vocabulary
    (["sample", "{model}", "--prime", "Zed!"], "not in the model's vocabulary"),
    (["train", "{new}", "--resume", "{model}"], "'E', 'O', 'Z'"),
    (["train", "{names}", "--resume", "{model}", "--hidden", "7"], "--hidden 7 does not match"),
    (["train", "{names}", "--resume", "{model}", "--cell", "lstm"], "--cell lstm"),
    (["train", "{names}", "--resume", "{model}", "--seed", "9"], "--seed 9"),
    # data too small for the settings
    (["train", "{one}", "--val-fraction", "0.5"], "val_fraction"),
    (["train", "{one}", "--mode", "stream", "--batch-size", "100"], "too short"),
    # nonsense numbers
    (["train", "--hidden", "-5"], "--hidden: must be a positive integer, got '-5'"),
    (["train", "--hidden", "0"], "--hidden"),
    (["train", "--hidden", "ten"], "--hidden"),
    (["train", "--hidden", "2.5"], "--hidden"),
    (["train", "--lr", "0"], "--lr: must be a number > 0"),
    (["train", "--lr", "-0.1"], "--lr"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--lr", "inf"], "--lr"),
    (["train", "--iterations", "0"], "--iterations"),
    (["train", "--epochs", "-2"], "--epochs"),
    (["train", "--batch-size", "0"], "--batch-size"),
    (["train", "--seq-length", "0"], "--seq-length"),
    (["train", "--clip", "-1"], "--clip"),
    (["train", "--clip-norm", "0"], "--clip-norm"),
    (["train", "--val-fraction", "1"], "--val-fraction"),
    (["train", "--seed", "-1"], "--seed"),
    (["train", "--sample-every", "-3"], "--sample-every"),
    (["train", "--iterations", "5", "--epochs", "5"], "not allowed with"),
    (["train", "--patience", "-1"], "--patience"),
    (["train", "--lr-decay", "0"], "--lr-decay: must be a number in (0, 1]"),
    (["train", "--lr-decay", "1.5"], "--lr-decay"),
    (["train", "--lr-patience", "0"], "--lr-patience"),
    (["train", "--eval-every", "0"], "--eval-every"),
    (["train", "{names}", "--log", "{dir}/nope/log.csv"], "does not exist"),
    (["info", "{names}"], "not a fastrnn checkpoint"),
    (["plot", "{dir}/missing.npz"], "No such file"),
    (["sample", "{model}", "-n", "0"], "-n"),
    (["sample", "{model}", "--temperature", "-1"], "--temperature"),
    (["sample", "{model}", "--top-k", "-1"], "--top-k"),
    (["sample", "{model}", "--max-length", "0"], "--max-length"),
    (["bench", "--budget", "0"], "--budget"),
    # usage
    ([], "required"),
    (["fly"], "invalid choice"),
    (["train", "--cell", "transformer"], "invalid choice"),
    (["train", "--optimizer", "rmsprop"], "invalid choice"),
    (["train", "--mode", "words"], "invalid choice"),
    (["train", "--dtype", "float16"], "invalid choice"),
    (["train", "--frobnicate"], "unrecognized arguments"),
    (["sample"], "required"),
]


@pytest.mark.parametrize("argv, word", BAD, ids=[" ".join(a) or "(none)" for a, _ in BAD])
def test_bad_input(argv, word, files, capsys):
    rc, out, err = call([a.format(**files) for a in argv], capsys)
    assert rc == 2, (out, err)
    assert word in one_error_line(err)
    assert out == ""


def test_bad_input_leaves_no_checkpoint(files, capsys):
    rc, _, _ = call(["train", files["new"], "--resume", files["model"], "--out",
                     files["dir"] / "x.npz"], capsys)
    assert rc == 2 and not (files["dir"] / "x.npz").exists()


# ------------------------------------------------------------------ progress display
class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def _info(step, steps, val=None, iteration=None, evaluated=False, elapsed=None):
    return TrainInfo(iteration=step if iteration is None else iteration, loss=2.0,
                     smooth_loss=2.5, epoch=0.1, step=step, steps=steps, val_loss=val,
                     samples=None, elapsed=0.01 * step if elapsed is None else elapsed,
                     model=None, evaluated=evaluated, lr=0.005)


def test_progress_bar_on_a_terminal():
    s = FakeTTY()
    p = cli.Progress(50, s, tty=True, width=80)
    for i in range(1, 51):
        p.last_draw = 0.0  # do not throttle in the test
        p.update(_info(i, 50, val=1.9 if i == 25 else None))
    p.close()
    text = s.getvalue()
    assert text.count("\r") >= 50 and text.endswith("\n")
    last = text.split("\r")[-1]
    assert re.match(r"\[#{10,30}\] 100%", last), last
    assert "iter 50" in last and "loss 2.500" in last and "it/s" in last and "ETA 0:00" in last
    assert "val 1.900" in last
    assert all(len(seg.replace("\x1b[K", "").rstrip("\n")) <= 79 for seg in text.split("\r"))


@pytest.mark.parametrize("width", [1, 5, 12, 20, 30, 40, 50, 60, 70, 80, 100, 200])
def test_progress_line_never_exceeds_the_width(width):
    p = cli.Progress(10**9, io.StringIO(), tty=True, width=width)
    p.val = 123.456
    for step, elapsed in ((1, 0.0), (12345678, 3.0), (10**9 - 1, 1e6), (10**9, 1e-9)):
        line = p.line(_info(step, 10**9, iteration=step + 10**8, elapsed=elapsed))
        assert len(line) <= width - 1 or (width == 1 and line == "")
        if width >= 8:
            assert "%" in line  # the percentage is the last thing dropped
    # wide terminals get the whole line, narrow ones lose the bar first, then it/s, iter
    wide = cli.Progress(10, io.StringIO(), tty=True, width=120).line(_info(5, 10))
    assert wide.startswith("[") and "it/s" in wide and "iter 5" in wide and "ETA" in wide
    narrow = cli.Progress(10, io.StringIO(), tty=True, width=40).line(_info(5, 10))
    assert not narrow.startswith("[") and "loss 2.500" in narrow and "ETA" in narrow


def test_progress_plain_lines_when_not_a_terminal():
    s = io.StringIO()
    p = cli.Progress(100, s, tty=False)
    for i in range(1, 101):
        p.update(_info(i, 100, evaluated=i % 20 == 0, val=2.0 if i % 20 == 0 else None))
    p.close()
    lines = s.getvalue().splitlines()
    assert len(lines) == 5 and "\r" not in s.getvalue()  # one line per evaluation
    assert lines[-1].startswith("100/100") and "val 2.000" in lines[-1]
    assert "lr 0.005" in lines[-1] and "elapsed" in lines[-1]


def test_progress_disabled():
    s = FakeTTY()
    p = cli.Progress(10, s, tty=True, enabled=False)
    p.update(_info(1, 10))
    p.close()
    assert s.getvalue() == ""


def _options(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((name, a) for _, a in _options(sub))
        else:
            yield parser.prog, action


def test_every_option_states_its_default():
    seen = 0
    for cmd, action in _options(cli.build_parser()):
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        if not action.option_strings and action.nargs is None:
            continue  # a required positional (MODEL): no default to state
        seen += 1
        assert "default" in (action.help or ""), (cmd, action.option_strings or action.dest)
    assert seen >= 35
    lr = [a for _, a in _options(cli.build_parser()) if "--lr" in a.option_strings][0]
    assert "adam 0.005" in lr.help and "{" not in lr.help  # not a Python dict


def test_train_help_lists_the_guards(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--keep-best", "--patience", "--lr-decay", "--lr-patience", "--log",
                "--eval-every"):
        assert opt in out


# ----------------------------------------------- learning curve, info, plot, guards
@pytest.fixture(scope="module")
def val_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("val")
    (d / "names.txt").write_text(NAMES * 6)
    out = d / "v.npz"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in ("train", d / "names.txt", "--iterations", 120,
                                         "--hidden", 16, "--seed", 0, "--val-fraction",
                                         "0.2", "--eval-every", 20, "--out", out, "--log",
                                         "-n", 0)])
    assert rc == 0, err.getvalue()
    return out, subprocess.CompletedProcess([], rc, "", err.getvalue())


def test_train_log_and_keep_best_messages(val_model):
    out, r = val_model
    log = out.with_suffix(".csv")
    rows = log.read_text().splitlines()
    assert rows[0] == "iteration,elapsed,train_loss,val_loss,lr" and len(rows) == 1 + 6
    assert f"learning curve written to {log}" in r.stderr
    assert "keep-best" in r.stderr.splitlines()[0] and "threads" in r.stderr.splitlines()[0]
    m = fastrnn.load(out)
    assert "best val loss" in r.stderr and m.best is not None
    assert f"at iteration {m.best['iteration']}" in r.stderr
    assert len(m.history["iteration"]) == 6


def test_log_json(corpus, tmp_path):
    log = tmp_path / "curve.json"
    rc = cli.main(["train", str(corpus), "--iterations", "10", "--hidden", "8", "--quiet",
                   "--eval-every", "5", "--out", str(tmp_path / "m.npz"), "--log", str(log)])
    assert rc == 0
    rows = __import__("json").loads(log.read_text())
    assert [r["iteration"] for r in rows] == [5, 10] and rows[0]["val_loss"] is None


def test_info(val_model, capsys):
    out, _ = val_model
    rc, text, err = call(["info", out], capsys)
    assert rc == 0, err
    m = fastrnn.load(out)
    assert "rnn character model" in text and "hidden 16" in text
    assert f"{len(m.vocab)} chars" in text
    assert "iterations 120" in text and "complete" in text
    assert f"best val loss {m.best['val_loss']:.3f} at iteration {m.best['iteration']}" in text
    assert "history: 6 evaluations" in text


def test_plot_command(val_model, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, _ = val_model
    png = tmp_path / "curve.png"
    rc, _, err = call(["plot", out, "-o", png], capsys)
    assert rc == 0, err
    assert png.read_bytes()[:4] == b"\x89PNG" and f"wrote {png}" in err


def test_plot_command_without_matplotlib(val_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    rc, out, err = call(["plot", val_model[0], "-o", tmp_path / "c.png"], capsys)
    assert rc == 2 and 'pip install "fastrnn[plot]"' in one_error_line(err)


def test_diverging_learning_rate_does_not_exit_0(tmp_path, capsys):
    rc, _, err = call(["train", "--lr", "1e9", "--iterations", 50, "--out",
                       tmp_path / "m.npz"], capsys)
    assert rc == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith("fastrnn: error: training diverged") and "learning rate" in line
    assert not (tmp_path / "m.npz").exists()


def test_long_lines_warning(tmp_path, capsys):
    f = tmp_path / "one_line.txt"
    f.write_text("the cat sat on the mat. " * 100 + "\n")
    rc, out, err = call(["train", f, "--iterations", 1, "--hidden", 4, "-n", 0, "--out",
                         tmp_path / "m.npz"], capsys)
    assert rc == 0
    assert "fastrnn: warning: lines mode" in err and "--mode stream" in err


def test_resume_after_interrupt_ends_at_the_original_budget(corpus, tmp_path):
    out = tmp_path / "m.npz"
    budget = 20000
    header, status, err = interrupt_training(corpus, "--iterations", budget, "--hidden", 8,
                                             "--batch-size", 1, "--eval-every", 1000,
                                             "--out", out, wait=0)
    assert f"{budget} steps" in header, header
    assert status == 130, err
    done = fastrnn.load(out).iteration
    assert 1 <= done < budget
    r = run("train", corpus, "--resume", out, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"resuming at iteration {done}" in r.stderr
    assert f"{budget} steps" in r.stderr.splitlines()[0]
    lines = [s for s in r.stderr.splitlines() if s[:1].isdigit()]
    assert lines and all(s.split()[0].endswith(f"/{budget}") for s in lines)
    assert lines[-1].startswith(f"{budget}/{budget}")
    assert fastrnn.load(out).iteration == budget


def test_read_text_normalises(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes("\ufeffanna\r\nbob\rcarl\n".encode("utf-8"))
    assert cli.read_text(str(p)) == "anna\nbob\ncarl\n"


def test_lower_flag(tmp_path, capsys):
    f = tmp_path / "dinos.txt"
    f.write_text("Aachenosaurus\nAardonyx\nAbelisaurus\n")
    out = tmp_path / "d.npz"
    rc, o, e = call(["train", f, "--lower", "--iterations", 5, "--quiet", "--out", out], capsys)
    assert rc == 0 and o == e == ""
    assert fastrnn.load(out).vocab == fastrnn.Vocab.from_text("aachenosaurus\naardonyx\nabelisaurus")
