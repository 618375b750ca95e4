"""The ``fastrnn`` command: end to end in a subprocess, and every bad input in process."""

import importlib.metadata
import io
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


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGINT to a child process on Windows")
def test_ctrl_c_saves_checkpoint(corpus, tmp_path):
    out = tmp_path / "m.npz"
    p = subprocess.Popen([sys.executable, "-m", "fastrnn", "train", str(corpus), "--iterations",
                          "100000000", "--hidden", "16", "--out", str(out)],
                         cwd=ELSEWHERE, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        header = p.stderr.readline()  # written once training has started
        assert header.startswith("training"), header
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
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
    (["sample", "{model}", "-n", "0"], "-n"),
    (["sample", "{model}", "--temperature", "-1"], "--temperature"),
    (["sample", "{model}", "--top-k", "-1"], "--top-k"),
    (["sample", "{model}", "--max-length", "0"], "--max-length"),
    (["bench", "--budget", "0"], "--budget"),
    # usage
    ([], "required"),
    (["fly"], "invalid choice"),
    (["train", "--cell", "gru"], "invalid choice"),
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


def _info(step, steps, val=None):
    return TrainInfo(iteration=step, loss=2.0, smooth_loss=2.5, epoch=0.1, step=step,
                     steps=steps, val_loss=val, samples=None, elapsed=0.01 * step, model=None)


def test_progress_bar_on_a_terminal():
    s = FakeTTY()
    p = cli.Progress(50, s, tty=True)
    for i in range(1, 51):
        p.last_draw = 0.0  # do not throttle in the test
        p.update(_info(i, 50, val=1.9 if i == 25 else None))
    p.close()
    text = s.getvalue()
    assert text.count("\r") >= 50 and text.endswith("\n")
    assert "[########################] 100%" in text
    assert "iter 50" in text and "loss 2.500" in text and "it/s" in text and "ETA 0:00" in text
    assert "val 1.900" in text


def test_progress_plain_lines_when_not_a_terminal():
    s = io.StringIO()
    p = cli.Progress(100, s, tty=False)
    for i in range(1, 101):
        p.update(_info(i, 100))
    p.close()
    lines = s.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in s.getvalue()
    assert lines[-1].startswith("100/100")


def test_progress_disabled():
    s = FakeTTY()
    p = cli.Progress(10, s, tty=True, enabled=False)
    p.update(_info(1, 10))
    p.close()
    assert s.getvalue() == ""


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
