"""The ``fastrnn`` command line: ``train``, ``sample`` and ``bench``.

Public entry point :func:`main` (the ``fastrnn`` console script and ``python -m
fastrnn``). A thin layer over :class:`fastrnn.CharModel`.

Bad input (a missing, empty or undecodable file, a file that is not a checkpoint,
characters outside the vocabulary, nonsense numbers) prints one line
``fastrnn: error: <message>`` to stderr and exits with status 2, never a traceback.
Ctrl-C during training finishes the current step, writes the checkpoint and exits
with status 130.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import __version__, _ext
from .charmodel import CELLS, DEFAULT_LR, MODES, CharModel, default_corpus
from .optim import OPTIMIZERS

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
PROG = "fastrnn"


class CLIError(Exception):
    """An expected failure: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``fastrnn: error: ...``) and exit status 2."""

    def error(self, message):  # noqa: D401 - argparse API
        raise CLIError(message)


# ------------------------------------------------------------------ number types
def _number(kind, low=None, strict=False, below=None, what=None):
    def parse(s):
        try:
            v = int(s) if kind is int else float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {s!r}") from None
        if kind is float and not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be {what}, got {s!r}")
        if low is not None and (v <= low if strict else v < low):
            raise argparse.ArgumentTypeError(f"must be {what}, got {s!r}")
        if below is not None and v >= below:
            raise argparse.ArgumentTypeError(f"must be {what}, got {s!r}")
        return v
    parse.__name__ = what or kind.__name__
    return parse


POS_INT = _number(int, 1, what="a positive integer")
NONNEG_INT = _number(int, 0, what="an integer >= 0")
POS_FLOAT = _number(float, 0.0, strict=True, what="a number > 0")
NONNEG_FLOAT = _number(float, 0.0, what="a number >= 0")
FRACTION = _number(float, 0.0, below=1.0, what="a number in [0, 1)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastrnn`` command."""
    p = _Parser(prog=PROG, description="Character-level RNN/LSTM language models: train on "
                "any text, generate, checkpoint and resume.")
    p.add_argument("--version", action="version", version=f"fastrnn {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{train,sample,bench}")
    sub.required = True

    t = sub.add_parser("train", help="train a model (default: on the embedded names corpus)",
                       description="Train a character model on FILE (default: the embedded "
                       "corpus of 5,163 US first names) and write a checkpoint.")
    t.add_argument("file", nargs="?", metavar="FILE",
                   help="UTF-8 text: one example per line (--mode lines) or a stream")
    t.add_argument("--cell", choices=sorted(CELLS), default=None, help="recurrent cell "
                   "(default rnn)")
    t.add_argument("--hidden", type=POS_INT, default=None, metavar="N",
                   help="hidden size (default 100)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--iterations", type=POS_INT, metavar="N", help="training steps")
    g.add_argument("--epochs", type=POS_INT, metavar="N",
                   help="passes over the data (default 20 when --iterations is not given)")
    t.add_argument("--lr", type=POS_FLOAT, metavar="X",
                   help=f"learning rate (default: {DEFAULT_LR})")
    t.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=None,
                   help="default adam")
    t.add_argument("--clip", type=NONNEG_FLOAT, metavar="X",
                   help="clip each gradient to [-X, X] (default 5 unless --clip-norm; 0 = off)")
    t.add_argument("--clip-norm", type=POS_FLOAT, metavar="X",
                   help="rescale gradients to a global L2 norm <= X")
    t.add_argument("--batch-size", type=POS_INT, metavar="N", help="lines or streams per "
                   "step (default 16)")
    t.add_argument("--seq-length", type=POS_INT, metavar="N",
                   help="stream mode: characters per window (default 25)")
    t.add_argument("--mode", choices=MODES, default=None,
                   help="one example per line (default) or a continuous stream")
    t.add_argument("--lower", action="store_true",
                   help="lower-case the text first (the course does this for dinos.txt)")
    t.add_argument("--val-fraction", type=FRACTION, metavar="X", help="held-out fraction "
                   "(default 0.05 for 100+ lines or 2000+ characters, else 0)")
    t.add_argument("--seed", type=NONNEG_INT, metavar="N", help="random seed (default: random)")
    t.add_argument("--dtype", choices=("float32", "float64"), default=None,
                   help="default float32")
    t.add_argument("--out", metavar="PATH", help="checkpoint to write (default: the --resume "
                   "file, else model.npz)")
    t.add_argument("--resume", metavar="PATH", help="continue training this checkpoint")
    t.add_argument("--sample-every", type=NONNEG_INT, default=0, metavar="N",
                   help="print samples every N iterations")
    t.add_argument("-n", "--n-samples", type=NONNEG_INT, default=10, metavar="N",
                   help="samples printed at the end (default 10)")
    t.add_argument("--quiet", action="store_true", help="print nothing but errors")

    s = sub.add_parser("sample", help="generate text from a checkpoint",
                       description="Generate text from a trained checkpoint.")
    s.add_argument("model", metavar="MODEL", help="a checkpoint written by fastrnn train")
    s.add_argument("-n", type=POS_INT, default=10, metavar="N", help="number of samples")
    s.add_argument("--temperature", type=NONNEG_FLOAT, default=1.0, metavar="X",
                   help="< 1 conservative, > 1 varied, 0 greedy (default 1)")
    s.add_argument("--top-k", type=NONNEG_INT, default=0, metavar="K",
                   help="sample among the K most likely characters (0 = all)")
    s.add_argument("--prime", default="", metavar="TEXT", help="text that starts each sample")
    s.add_argument("--max-length", type=POS_INT, default=None, metavar="N",
                   help="characters generated per sample at most")
    s.add_argument("--seed", type=NONNEG_INT, default=None, metavar="N")

    b = sub.add_parser("bench", help="compare the Cython and NumPy backends on this machine",
                       description="Time training steps and sampling with each backend "
                       "(about 10 seconds).")
    b.add_argument("--hidden", type=POS_INT, default=100, metavar="N")
    b.add_argument("--budget", type=POS_FLOAT, default=0.4, metavar="SECONDS",
                   help="time spent per measurement (default 0.4)")
    return p


# ------------------------------------------------------------------------ helpers
def read_text(path: str) -> str:
    """Read a UTF-8 text file (a BOM is dropped, CRLF/CR become LF); CLIError when unusable."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except IsADirectoryError:
        raise CLIError(f"{path} is a directory, not a text file") from None
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CLIError(f"{path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                       f"{exc.start}); convert it to UTF-8") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise CLIError(f"{path} is empty: nothing to train on")
    return text


@contextlib.contextmanager
def _blas_single_thread():
    """Pin BLAS to one thread when threadpoolctl is installed (per-step GEMMs are tiny).

    Skipped when the user set ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``.
    """
    if os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS"):
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def _fmt_time(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class Progress:
    """A minimal progress display for training.

    On a terminal: one line redrawn with ``\\r`` (bar, iteration, loss, it/s, ETA) at
    most ~10 times a second. Otherwise: a plain line about every tenth of the run (and
    at least every 30 s).
    """

    def __init__(self, total: int, stream, *, tty: bool, enabled: bool = True):
        self.total, self.stream, self.tty, self.enabled = total, stream, tty, enabled
        self.every = max(1, total // 10)
        self.last_draw = 0.0
        self.last_line = time.perf_counter()
        self.drawn = False
        self.val = None

    def _text(self, info, width=24):
        frac = min(1.0, info.step / max(1, self.total))
        rate = info.step / info.elapsed if info.elapsed > 0 else float("nan")
        eta = (self.total - info.step) / rate if rate and math.isfinite(rate) else float("nan")
        val = f"  val {self.val:.3f}" if self.val is not None else ""
        core = (f"iter {info.iteration}  loss {info.smooth_loss:.3f}{val}  {rate:,.0f} it/s  "
                f"ETA {_fmt_time(eta)}")
        if self.tty:
            n = int(frac * width)
            return f"[{'#' * n}{'.' * (width - n)}] {100 * frac:3.0f}%  {core}"
        return f"{info.step}/{self.total}  {core}"

    def update(self, info) -> None:
        if info.val_loss is not None:
            self.val = info.val_loss
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            if now - self.last_draw >= 0.1 or info.step == self.total:
                self.stream.write("\r" + self._text(info) + "\x1b[K")
                self.stream.flush()
                self.last_draw, self.drawn = now, True
        elif info.step % self.every == 0 or info.step == self.total or \
                now - self.last_line >= 30:
            self.stream.write(self._text(info) + "\n")
            self.stream.flush()
            self.last_line = now

    def clear(self) -> None:
        """Erase the bar (terminal) before other output."""
        if self.enabled and self.tty and self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False

    def close(self) -> None:
        if self.enabled and self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def _print_samples(samples, out, mode):
    sep = "\n" if mode == "lines" else "\n\n"
    out.write(sep.join(samples) + "\n")
    out.flush()


# --------------------------------------------------------------------------- train
_TRAIN_DEFAULTS: dict[str, Any] = {"cell": "rnn", "hidden": 100, "optimizer": "adam", "batch_size": 16,
                   "seq_length": 25, "mode": "lines", "dtype": "float32"}


def cmd_train(args, out, err) -> int:
    quiet = args.quiet
    text = read_text(args.file) if args.file else default_corpus()
    if args.lower:
        text = text.lower()
    source = args.file or "the embedded names corpus"

    if args.resume:
        model = CharModel.load(args.resume)
        for opt, have in (("cell", model.cell), ("hidden", model.hidden_size),
                          ("dtype", model.dtype.name)):
            want = getattr(args, opt)
            if want is not None and want != have:
                raise CLIError(f"--{opt} {want} does not match the checkpoint {args.resume} "
                               f"({opt} {have})")
        if args.seed is not None and args.seed != model.seed:
            raise CLIError(f"--seed {args.seed} does not match the checkpoint {args.resume} "
                           f"(seed {model.seed}); a resumed run keeps its seed")
        cfg = dict(model.train_config)
    else:
        model = CharModel(cell=args.cell or _TRAIN_DEFAULTS["cell"],
                          hidden_size=args.hidden or _TRAIN_DEFAULTS["hidden"],
                          dtype=args.dtype or _TRAIN_DEFAULTS["dtype"], seed=args.seed)
        cfg = {}
    mode = args.mode or cfg.get("mode") or _TRAIN_DEFAULTS["mode"]
    optimizer = args.optimizer or cfg.get("optimizer") or _TRAIN_DEFAULTS["optimizer"]
    same_opt = optimizer == cfg.get("optimizer")
    lr = args.lr if args.lr is not None else (cfg.get("lr") if same_opt else None)
    batch_size = args.batch_size or cfg.get("batch_size") or _TRAIN_DEFAULTS["batch_size"]
    seq_length = args.seq_length or cfg.get("seq_length") or _TRAIN_DEFAULTS["seq_length"]
    if args.clip is not None or args.clip_norm is not None:
        clip, clip_norm = args.clip, args.clip_norm
    else:
        clip, clip_norm = cfg.get("clip"), cfg.get("clip_norm")
    if args.val_fraction is not None:
        val_fraction = args.val_fraction
    elif "val_fraction" in cfg:
        val_fraction = cfg["val_fraction"]
    else:
        big = (sum(1 for s in text.split("\n") if s) >= 100) if mode == "lines" \
            else len(text) >= 2000
        val_fraction = 0.05 if big else 0.0
    out_path = args.out or args.resume or "model.npz"
    out_dir = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(out_dir):
        raise CLIError(f"cannot write {out_path}: directory {out_dir} does not exist")
    if os.path.isdir(out_path):
        raise CLIError(f"cannot write {out_path}: it is a directory")

    tty = err.isatty()
    steps_kw = ({"iterations": args.iterations} if args.iterations else
                {"epochs": args.epochs or 20})
    interrupted = {"flag": False}
    progress = None

    def on_sigint(signum, frame):
        if interrupted["flag"]:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        interrupted["flag"] = True

    def callback(info):
        nonlocal progress
        if progress is None:
            if not quiet:
                err.write(header)
                err.flush()
            progress = Progress(info.steps, err, tty=tty, enabled=not quiet)
        progress.update(info)
        if info.samples and not quiet:
            progress.clear()
            out.write(f"--- iteration {info.iteration} (loss {info.smooth_loss:.3f}):\n")
            _print_samples(info.samples, out, mode)
        return not interrupted["flag"]

    header = (f"training {model.cell} (hidden {model.hidden_size}, {model.dtype.name}) on "
              f"{source}: {mode} mode, {optimizer}, batch {batch_size}"
              + (f", resuming at iteration {model.iteration}" if args.resume else "") + "\n")
    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        with _blas_single_thread():
            hist = model.fit(text, mode=mode, batch_size=batch_size, seq_length=seq_length,
                             optimizer=optimizer, lr=lr, clip=clip, clip_norm=clip_norm,
                             val_fraction=val_fraction, callback=callback,
                             sample_every=args.sample_every, smoothing=0.99, **steps_kw)
    except KeyboardInterrupt:
        interrupted["flag"] = True
        hist = None
    finally:
        signal.signal(signal.SIGINT, old)
        if progress is not None:
            progress.close()
    model.save(out_path)
    if interrupted["flag"]:
        err.write(f"fastrnn: interrupted at iteration {model.iteration}; checkpoint saved to "
                  f"{out_path} (continue with --resume {out_path})\n")
        err.flush()
        return EXIT_INTERRUPTED
    if not quiet:
        val = (f", val loss {hist.val_loss[-1]:.3f}" if hist and hist.val_loss else "")
        loss = hist.smooth_loss[-1] if hist and hist.smooth_loss else float("nan")
        err.write(f"saved {out_path} (iteration {model.iteration}, loss {loss:.3f}{val}; "
                  "nats per character)\n")
        err.flush()
        if args.n_samples:
            _print_samples(model.sample(args.n_samples, rng=np.random.default_rng(
                [model.seed, 4, model.iteration])), out, model.mode)
    return 0


# -------------------------------------------------------------------------- sample
def cmd_sample(args, out, err) -> int:
    model = CharModel.load(args.model)
    with _blas_single_thread():
        samples = model.sample(args.n, temperature=args.temperature, top_k=args.top_k,
                               prime=args.prime, max_length=args.max_length, seed=args.seed)
    _print_samples(samples, out, model.mode)
    return 0


# --------------------------------------------------------------------------- bench
def _time_it(fn, budget):
    fn(1)  # warm up (workspaces, imports)
    n, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        fn(n)
        t = time.perf_counter() - t0
        if t >= budget / 4 or n >= 1 << 20:
            break
        n *= 4
    return t / n


def cmd_bench(args, out, err) -> int:
    if not _ext.compiled_available():
        raise CLIError("the compiled kernels are not built (pip install .); nothing to compare")
    text = default_corpus()
    H, budget = args.hidden, args.budget
    k = _ext.kernels("cython")
    cells = ["rnn"] + (["lstm"] if hasattr(k, "lstm_forward_ix") else [])
    rows = []

    def fit_case(cell, **kw):
        m = CharModel(cell=cell, hidden_size=H, seed=0)
        m.fit(text, iterations=1, **kw)
        return lambda n: m.fit(text, iterations=n, **kw)

    def sample_case(cell):
        m = CharModel(text, cell=cell, hidden_size=H, seed=0)
        return lambda n: m.sample(n, seed=0)

    cases = []
    for cell in cells:
        cases.append((f"{cell} train step, 1 line, sgd", "step",
                      lambda c=cell: fit_case(c, optimizer="sgd")))
        cases.append((f"{cell} train step, 16 lines, adam", "step",
                      lambda c=cell: fit_case(c, optimizer="adam", batch_size=16)))
        cases.append((f"{cell} sample one name", "name", lambda c=cell: sample_case(c)))
    with _blas_single_thread():
        for label, unit, make in cases:
            times = {}
            for backend in ("cython", "numpy"):
                with _ext.use_backend(backend):
                    times[backend] = _time_it(make(), budget)
            rows.append((label, unit, times["cython"], times["numpy"]))
    out.write(f"fastrnn {__version__} bench: hidden {H}, vocabulary 27, float32, names corpus"
              " (times per unit; lower is better)\n")
    w = max(len(r[0]) for r in rows)
    out.write(f"{'case':<{w}}  {'cython':>10}  {'numpy':>10}  {'speed-up':>8}\n")
    for label, unit, tc, tn in rows:
        out.write(f"{label:<{w}}  {_fmt_dur(tc):>10}  {_fmt_dur(tn):>10}  {tn / tc:>7.1f}x\n")
    out.flush()
    return 0


def _fmt_dur(s):
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} us"


# ---------------------------------------------------------------------------- main
COMMANDS = {"train": cmd_train, "sample": cmd_sample, "bench": cmd_bench}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fastrnn`` command; return the exit status (0, 2 on error, 130 on Ctrl-C)."""
    out, err = sys.stdout, sys.stderr
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args, out, err)
    except CLIError as exc:
        msg = str(exc)
    except (ValueError, TypeError, RuntimeError) as exc:
        msg = str(exc)
    except BrokenPipeError:  # pragma: no cover - e.g. `fastrnn sample m | head -1`
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        msg = (f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror
               else str(exc))
    except KeyboardInterrupt:
        err.write("fastrnn: interrupted\n")
        return EXIT_INTERRUPTED
    err.write(f"{PROG}: error: {msg}\n")
    err.flush()
    return EXIT_ERROR
