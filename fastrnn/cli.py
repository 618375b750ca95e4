"""The ``fastrnn`` command line: ``train``, ``sample``, ``info``, ``plot``, ``bench``, ``tune``.

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
import shutil
import signal
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import __version__, _ext
from .charmodel import CELLS, DEFAULT_LR, DEFAULTS, MODES, CharModel, default_corpus
from ._config import get_num_threads
from .optim import OPTIMIZERS
from .plot import plot_history, write_history

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
DECAY = _number(float, 0.0, strict=True, below=math.nextafter(1.0, 2.0), what="a number in (0, 1]")


def _lr_help():
    return ", ".join(f"{k} {v:g}" for k, v in sorted(DEFAULT_LR.items()))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastrnn`` command."""
    D = DEFAULTS
    p = _Parser(prog=PROG, description="Character-level RNN/LSTM/GRU language models: train on "
                "any text, generate, checkpoint and resume.")
    p.add_argument("--version", action="version", version=f"fastrnn {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{train,sample,info,plot,bench,tune}")
    sub.required = True

    t = sub.add_parser("train", help="train a model (default: on the embedded names corpus)",
                       description="Train a character model on FILE (default: the embedded "
                       "corpus of 5,163 US first names) and write a checkpoint. With "
                       "--resume and no --iterations/--epochs, an interrupted run is "
                       "finished (same budget, same result as without the interruption).")
    t.add_argument("file", nargs="?", metavar="FILE",
                   help="UTF-8 text: one example per line (--mode lines) or a stream "
                   "(default: the embedded names corpus)")
    t.add_argument("--cell", choices=sorted(CELLS), default=None,
                   help=f"recurrent cell (default {D['cell']})")
    t.add_argument("--hidden", type=POS_INT, default=None, metavar="N",
                   help=f"hidden size (default {D['hidden_size']})")
    t.add_argument("--layers", type=POS_INT, default=None, metavar="N",
                   help="stacked recurrent layers (default 1)")
    t.add_argument("--dropout", type=FRACTION, default=None, metavar="P",
                   help="dropout between layers during training, in [0, 1) (default 0; "
                   "needs --layers 2 or more)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--iterations", type=POS_INT, metavar="N",
                   help="training steps (default: --epochs)")
    g.add_argument("--epochs", type=POS_INT, metavar="N",
                   help=f"passes over the data (default {D['epochs']}; with --resume, the "
                   "rest of an interrupted run)")
    t.add_argument("--lr", type=POS_FLOAT, metavar="X",
                   help=f"learning rate (default: {_lr_help()}; with --resume, the "
                   "checkpoint's)")
    t.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=None,
                   help=f"optimizer (default {D['optimizer']})")
    t.add_argument("--clip", type=NONNEG_FLOAT, metavar="X",
                   help=f"clip each gradient to [-X, X] (default {D['clip']:g} unless "
                   "--clip-norm, then 0; 0 = off)")
    t.add_argument("--clip-norm", type=POS_FLOAT, metavar="X",
                   help="rescale gradients to a global L2 norm <= X (default: off)")
    t.add_argument("--batch-size", type=POS_INT, metavar="N",
                   help=f"lines or streams per step (default {D['batch_size']})")
    t.add_argument("--seq-length", type=POS_INT, metavar="N",
                   help=f"stream mode: characters per window (default {D['seq_length']})")
    t.add_argument("--mode", choices=MODES, default=None,
                   help=f"one example per line, or a continuous stream (default {D['mode']})")
    t.add_argument("--lower", action="store_true",
                   help="lower-case the text first, as the course does for dinos.txt "
                   "(default: off)")
    t.add_argument("--val-fraction", type=FRACTION, metavar="X",
                   help="held-out fraction: random lines, or 10 blocks spread over a "
                   "stream (default 0.05 for 100+ lines or 2,000+ characters, else 0)")
    t.add_argument("--eval-every", type=POS_INT, metavar="N",
                   help=f"steps between evaluations (default: {D['evaluations']} per run, "
                   "at least one every 1,000 steps)")
    t.add_argument("--keep-best", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the weights of the lowest validation loss and save those at "
                   "the end of the run (default: on when there is a validation split)")
    t.add_argument("--patience", type=NONNEG_INT, metavar="N",
                   help=f"stop after N evaluations without a better validation loss "
                   f"(default {D['patience']}; 0 = never)")
    t.add_argument("--lr-decay", type=DECAY, metavar="X",
                   help=f"multiply the learning rate by X after --lr-patience evaluations "
                   f"without a better validation loss (default {D['lr_decay']:g}; 1 = never)")
    t.add_argument("--lr-patience", type=POS_INT, metavar="N",
                   help=f"evaluations before the learning rate decays (default "
                   f"{D['lr_patience']})")
    t.add_argument("--seed", type=NONNEG_INT, metavar="N",
                   help="random seed (default: drawn at random and recorded)")
    t.add_argument("--dtype", choices=("float32", "float64"), default=None,
                   help=f"parameter dtype (default {D['dtype']})")
    t.add_argument("--out", metavar="PATH", help="checkpoint to write (default: the --resume "
                   "file, else model.npz)")
    t.add_argument("--resume", metavar="PATH",
                   help="continue training this checkpoint (default: a new model)")
    t.add_argument("--log", nargs="?", const="", default=None, metavar="PATH",
                   help="write the learning curve (every evaluation) as CSV, or JSON for a "
                   ".json PATH (default: off; without PATH, the checkpoint's name with .csv)")
    t.add_argument("--sample-every", type=NONNEG_INT, default=0, metavar="N",
                   help="print samples every N iterations (default 0 = never)")
    t.add_argument("-n", "--n-samples", type=NONNEG_INT, default=10, metavar="N",
                   help="samples printed at the end (default 10)")
    t.add_argument("--quiet", action="store_true", help="print nothing but errors "
                   "(default: off)")

    s = sub.add_parser("sample", help="generate text from a checkpoint",
                       description="Generate text from a trained checkpoint.")
    s.add_argument("model", metavar="MODEL", help="a checkpoint written by fastrnn train")
    s.add_argument("-n", type=POS_INT, default=10, metavar="N",
                   help="number of samples (default 10)")
    s.add_argument("--temperature", type=NONNEG_FLOAT, default=1.0, metavar="X",
                   help="< 1 conservative, > 1 varied, 0 greedy (default 1)")
    s.add_argument("--top-k", type=NONNEG_INT, default=0, metavar="K",
                   help="sample among the K most likely characters (default 0 = all)")
    s.add_argument("--prime", default="", metavar="TEXT",
                   help="text that starts each sample (default: none)")
    s.add_argument("--max-length", type=POS_INT, default=None, metavar="N",
                   help="characters generated per sample at most (default 50 in lines mode, "
                   "200 in stream mode)")
    s.add_argument("--seed", type=NONNEG_INT, default=None, metavar="N",
                   help="random seed (default: random)")

    i = sub.add_parser("info", help="describe a checkpoint",
                       description="Print a checkpoint's configuration, vocabulary, training "
                       "settings, progress, best validation loss and learning-curve summary.")
    i.add_argument("model", metavar="MODEL", help="a checkpoint written by fastrnn train")

    pl = sub.add_parser("plot", help="draw a checkpoint's learning curve (needs matplotlib)",
                        description="Draw the training and validation loss of a checkpoint "
                        "against iterations and time. Needs matplotlib: "
                        'pip install "fastrnn[plot]".')
    pl.add_argument("model", metavar="MODEL", help="a checkpoint written by fastrnn train")
    pl.add_argument("-o", "--output", metavar="PATH", default=None,
                    help="image to write; .png, .svg or .pdf (default: the checkpoint's "
                    "name with .png)")

    b = sub.add_parser("bench", help="compare the Cython and NumPy backends on this machine",
                       description="Time training steps and sampling with each backend "
                       "(about 10 seconds).")
    b.add_argument("--hidden", type=POS_INT, default=100, metavar="N",
                   help="hidden size (default 100)")
    b.add_argument("--budget", type=POS_FLOAT, default=0.4, metavar="SECONDS",
                   help="time spent per measurement (default 0.4)")
    _add_tune_parser(sub)
    return p


def _add_tune_parser(sub):
    tu = sub.add_parser("tune", help="search hyperparameters: Optuna trials on Dask workers",
                        description="Train many models on FILE with settings drawn by Optuna "
                        "(the default space, or --space merged over it) as Dask tasks of one "
                        "thread each; write the best checkpoint, a trials table and pictures "
                        "to --out. Running it again with the same storage and study adds "
                        'trials. Needs the [tune] extra: pip install "fastrnn[tune]".')
    tu.add_argument("file", metavar="FILE", help="UTF-8 text to train on")
    tu.add_argument("--trials", type=POS_INT, required=True, metavar="N",
                    help="trials to run in this call (required, no default)")
    tu.add_argument("--space", metavar="TOML", default=None,
                    help="search space: name = value (fixed), [a, b] (choice), "
                    "{low = , high = , log = true} (range) (default: the built-in space)")
    tu.add_argument("--storage", metavar="URL", default=None,
                    help="Optuna storage, e.g. sqlite:///study.db or postgresql://... "
                    "(default: sqlite:///OUT/study.db)")
    tu.add_argument("--study", metavar="NAME", default=None,
                    help="study name (default fastrnn)")
    g = tu.add_mutually_exclusive_group()
    g.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="a Dask scheduler, e.g. tcp://host:8786 (default: a local cluster)")
    g.add_argument("--workers", type=POS_INT, metavar="N", default=None,
                   help="local cluster: worker processes (default: the usable cores)")
    tu.add_argument("--pruner", choices=("median", "hyperband", "none"), default="median",
                    help="stop bad trials early (default median)")
    tu.add_argument("--timeout", type=POS_FLOAT, metavar="SECONDS", default=None,
                    help="start no trial after this long (default: no limit)")
    tu.add_argument("--seed", type=NONNEG_INT, metavar="N", default=None,
                    help="models' and sampler's seed (default: random; a resumed study "
                    "keeps its own)")
    tu.add_argument("--out", metavar="DIR", default="tune",
                    help="directory of best.npz, trials.csv, history.png, importances.png "
                    "(default tune)")


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
    """The progress display of ``fastrnn train``.

    On a terminal: one line redrawn with ``\r`` at most ~10 times a second, never wider
    than ``width - 1`` columns (the terminal's width by default): percentage,
    iteration, smoothed loss, validation loss, it/s, ETA and a bar, the less important
    parts dropped first when the terminal is narrow. Otherwise (a file, a pipe): a
    plain line at every evaluation, at the end, and at least every 30 s.

    ``info.step`` and ``info.steps`` count the whole run, so a resumed run shows its
    true position.
    """

    def __init__(self, total: int, stream, *, tty: bool, enabled: bool = True,
                 width: int | None = None):
        self.total, self.stream, self.tty, self.enabled = total, stream, tty, enabled
        if width is None:
            width = shutil.get_terminal_size((80, 24)).columns
        self.width = max(1, int(width))
        self.last_draw = 0.0
        self.last_line = time.perf_counter()
        self.drawn = False
        self.val = None

    @staticmethod
    def _rate_eta(info, total):
        rate = info.step / info.elapsed if info.elapsed > 0 else float("nan")
        eta = (total - info.step) / rate if rate and math.isfinite(rate) else float("nan")
        return rate, eta

    def line(self, info) -> str:
        """The terminal line for ``info``: at most ``width - 1`` characters."""
        W = self.width - 1
        frac = min(1.0, info.step / max(1, self.total))
        rate, eta = self._rate_eta(info, self.total)
        parts = {"pct": f"{100 * frac:3.0f}%",
                 "iter": f"iter {info.iteration}",
                 "loss": f"loss {info.smooth_loss:.3f}",
                 "val": f"val {self.val:.3f}" if self.val is not None else "",
                 "rate": f"{rate:,.0f} it/s" if math.isfinite(rate) else "",
                 "eta": f"ETA {_fmt_time(eta)}"}
        order = ("pct", "iter", "loss", "val", "rate", "eta")  # display order
        keep: list[str] = []
        for key in ("pct", "loss", "val", "eta", "iter", "rate"):  # importance
            if parts[key] and len("  ".join(parts[k] for k in order
                                            if k in keep + [key])) <= W:
                keep.append(key)
        text = "  ".join(parts[k] for k in order if k in keep)
        room = W - len(text) - 3  # "[" "]" " "
        if room >= 10:
            n = min(30, room)
            full = int(frac * n)
            text = f"[{'#' * full}{'.' * (n - full)}] " + text
        return text[:W]

    def _plain(self, info) -> str:
        rate, eta = self._rate_eta(info, self.total)
        val = f"  val {info.val_loss:.3f}" if info.val_loss is not None else ""
        lr = f"  lr {info.lr:.3g}" if info.lr is not None else ""
        return (f"{info.step}/{self.total}  iter {info.iteration}  loss {info.smooth_loss:.3f}"
                f"{val}{lr}  {rate:,.0f} it/s  elapsed {_fmt_time(info.elapsed)}  "
                f"ETA {_fmt_time(eta)}")

    def update(self, info) -> None:
        if info.val_loss is not None:
            self.val = info.val_loss
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            if now - self.last_draw >= 0.1 or info.step == self.total:
                self.stream.write("\r" + self.line(info) + "\x1b[K")
                self.stream.flush()
                self.last_draw, self.drawn = now, True
        elif info.evaluated or info.step == self.total or now - self.last_line >= 30:
            self.stream.write(self._plain(info) + "\n")
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
def _log_path(args, out_path):
    if args.log is None:
        return None
    return args.log or os.path.splitext(out_path)[0] + ".csv"


def cmd_train(args, out, err) -> int:
    quiet = args.quiet
    text = read_text(args.file) if args.file else default_corpus()
    if args.lower:
        text = text.lower()
    source = args.file or "the embedded names corpus"

    if args.resume:
        model = CharModel.load(args.resume)
        for opt, have in (("cell", model.cell), ("hidden", model.hidden_size),
                          ("dtype", model.dtype.name), ("layers", model.num_layers),
                          ("dropout", model.dropout)):
            want = getattr(args, opt)
            if want is not None and want != have:
                raise CLIError(f"--{opt} {want} does not match the checkpoint {args.resume} "
                               f"({opt} {have})")
        if args.seed is not None and args.seed != model.seed:
            raise CLIError(f"--seed {args.seed} does not match the checkpoint {args.resume} "
                           f"(seed {model.seed}); a resumed run keeps its seed")
    else:
        model = CharModel(cell=args.cell or DEFAULTS["cell"],
                          hidden_size=args.hidden or DEFAULTS["hidden_size"],
                          dtype=args.dtype or DEFAULTS["dtype"], seed=args.seed,
                          num_layers=args.layers or 1, dropout=args.dropout or 0.0)
    out_path = args.out or args.resume or "model.npz"
    for path in (out_path, _log_path(args, out_path)):
        if path is None:
            continue
        out_dir = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(out_dir):
            raise CLIError(f"cannot write {path}: directory {out_dir} does not exist")
        if os.path.isdir(path):
            raise CLIError(f"cannot write {path}: it is a directory")

    tty = err.isatty()
    steps_kw = ({"iterations": args.iterations} if args.iterations else
                {"epochs": args.epochs} if args.epochs else {})
    interrupted = {"flag": False}
    progress = None
    start_iteration = model.iteration

    def on_sigint(signum, frame):
        if interrupted["flag"]:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        interrupted["flag"] = True

    def callback(info):
        nonlocal progress
        if progress is None:
            if not quiet:
                err.write(header(info))
                err.flush()
            progress = Progress(info.steps, err, tty=tty, enabled=not quiet)
        progress.update(info)
        if info.samples and not quiet:
            progress.clear()
            out.write(f"--- iteration {info.iteration} (loss {info.smooth_loss:.3f}):\n")
            _print_samples(info.samples, out, model.mode)
        return not interrupted["flag"]

    def header(info):
        c = model.train_config
        run_from = info.iteration - info.step
        where = ""
        if args.resume:
            where = (f"; resuming at iteration {start_iteration}"
                     + (f" (a run of {info.steps} steps from iteration {run_from})"
                        if run_from != start_iteration else ""))
        val = (f"validation {c['val_fraction']:g}" + (", keep-best" if c["keep_best"] else "")
               if c["val_fraction"] else "no validation")
        return (f"training {model.cell} (hidden {model.hidden_size}{_layers(model)}, "
                f"{model.dtype.name}) on "
                f"{source}: {c['mode']} mode, {c['optimizer']} lr {c['lr']:g}, batch "
                f"{c['batch_size']}, {val}, {info.steps} steps, threads "
                f"{get_num_threads()}{where}\n")

    def show_warning(message, category, filename, lineno, file=None, line=None):
        if not quiet:
            err.write(f"{PROG}: warning: {message}\n")
            err.flush()

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        with _blas_single_thread(), warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = show_warning
            hist = model.fit(text, mode=args.mode, batch_size=args.batch_size,
                             seq_length=args.seq_length, optimizer=args.optimizer, lr=args.lr,
                             clip=args.clip, clip_norm=args.clip_norm,
                             val_fraction=args.val_fraction, eval_every=args.eval_every,
                             keep_best=args.keep_best, patience=args.patience,
                             lr_decay=args.lr_decay, lr_patience=args.lr_patience,
                             callback=callback, sample_every=args.sample_every, **steps_kw)
    except KeyboardInterrupt:
        interrupted["flag"] = True
        hist = None
    finally:
        signal.signal(signal.SIGINT, old)
        if progress is not None:
            progress.close()
    model.save(out_path)
    log_path = _log_path(args, out_path)
    if log_path is not None:
        write_history(model, log_path)
    if interrupted["flag"] and not (hist is not None and model._run and model._run["done"]):
        kept = ("; it also holds the weights of the best validation loss so far "
                f"(iteration {model.best['iteration']}), used when the run ends"
                if model._best_params is not None and model.best is not None else "")
        err.write(f"fastrnn: interrupted at iteration {model.iteration}; checkpoint saved to "
                  f"{out_path} (finish the run with --resume {out_path}){kept}\n")
        err.flush()
        return EXIT_INTERRUPTED
    if not quiet:
        val = (f", val loss {hist.val_loss[-1]:.3f}" if hist and hist.val_loss else "")
        loss = hist.smooth_loss[-1] if hist and hist.smooth_loss else float("nan")
        if hist is not None and hist.early_stopped:
            err.write(f"stopped early at iteration {model.iteration}: no better validation "
                      f"loss in {model.train_config['patience']} evaluations\n")
        best = ""
        if model.best is not None:
            best = (f"; best val loss {model.best['val_loss']:.3f} at iteration "
                    f"{model.best['iteration']}"
                    + (", its weights saved" if hist is not None and hist.restored_best
                       else ""))
        err.write(f"saved {out_path} (iteration {model.iteration}, loss {loss:.3f}{val}{best};"
                  " nats per character)\n")
        if log_path is not None:
            err.write(f"learning curve written to {log_path}\n")
        err.flush()
        if args.n_samples:
            _print_samples(model.sample(args.n_samples, rng=np.random.default_rng(
                [model.seed, 4, model.iteration])), out, model.mode)
    return 0


# ---------------------------------------------------------------------------- info
def _fmt_loss(v):
    return "-" if v is None or not math.isfinite(v) else f"{v:.3f}"


def _layers(m):
    """``", 2 layers, dropout 0.1"`` for a stack, ``""`` for one layer."""
    return (f", {m.num_layers} layers" if m.num_layers > 1 else "") + (
        f", dropout {m.dropout:g}" if m.dropout else "")


def cmd_info(args, out, err) -> int:
    m = CharModel.load(args.model)
    c = m.train_config
    h = m.history
    n_params = sum(p.size for p in m.params.values())
    lines = [
        f"{args.model}: fastrnn {m.cell} character model",
        f"  hidden {m.hidden_size}{_layers(m)}, {m.dtype.name}, {n_params:,} parameters, "
        f"seed {m.seed}",
        f"  vocabulary: {m.vocab!r}",
        f"  iterations {m.iteration}, {_fmt_time(m.train_time)} of training",
    ]
    if c:
        clip = (f"clip-norm {c['clip_norm']:g}" if c.get("clip_norm") else
                f"clip {c.get('clip', 0):g}")
        lines.append(f"  training: {c['mode']} mode, {c['optimizer']} lr {c['lr']:.3g}, batch "
                     f"{c['batch_size']}" + (f", seq-length {c['seq_length']}"
                                            if c["mode"] == "stream" else "")
                     + f", {clip}, validation {c.get('val_fraction', 0):g}")
        if "patience" in c:
            lines.append(f"  guards: keep-best {'on' if c['keep_best'] else 'off'}, patience "
                         f"{c['patience']}, lr-decay {c['lr_decay']:g} after "
                         f"{c['lr_patience']}")
    run = m._run
    if run is not None:
        steps = run["target"] - run["start"]
        state = {"early": f"stopped early at iteration {m.iteration}",
                 "diverged": f"diverged at iteration {m.iteration}"}.get(
                     run.get("stop") or "", "complete" if run["done"] else
                     f"interrupted at iteration {m.iteration}: --resume finishes it")
        lines.append(f"  last run: {steps} steps from iteration {run['start']}, {state}")
    if m.best is not None:
        lines.append(f"  best val loss {m.best['val_loss']:.3f} at iteration "
                     f"{m.best['iteration']}"
                     + (" (weights kept)" if m._best_params is not None else ""))
    if len(h["iteration"]):
        last = len(h["iteration"]) - 1
        lines.append(f"  history: {len(h['iteration'])} evaluations, iterations "
                     f"{h['iteration'][0]}..{h['iteration'][last]}; train loss "
                     f"{_fmt_loss(h['train_loss'][0])} -> {_fmt_loss(h['train_loss'][last])}, "
                     f"val loss {_fmt_loss(h['val_loss'][0])} -> "
                     f"{_fmt_loss(h['val_loss'][last])}, lr {h['lr'][0]:.3g} -> "
                     f"{h['lr'][last]:.3g}")
    else:
        lines.append("  history: none")
    out.write("\n".join(lines) + "\n")
    return 0


# ---------------------------------------------------------------------------- plot
def cmd_plot(args, out, err) -> int:
    m = CharModel.load(args.model)
    path = args.output or os.path.splitext(args.model)[0] + ".png"
    plot_history(m, path, title=f"{os.path.basename(args.model)}: {m.cell}, hidden "
                 f"{m.hidden_size}, {m.iteration} iterations")
    err.write(f"wrote {path}\n")
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


# ---------------------------------------------------------------------------- tune
def cmd_tune(args, out, err) -> int:
    from .tune import tune

    text = read_text(args.file)

    def show(t):
        value = "" if t.value is None else f" {t.value:.4f}"
        why = f" ({t.user_attrs['error']})" if t.user_attrs.get("error") else ""
        err.write(f"trial {t.number}: {t.state.name.lower()}{value}{why}\n")
        err.flush()

    try:
        with warnings.catch_warnings():
            warnings.showwarning = lambda message, *a, **k: err.write(
                f"{PROG}: warning: {message}\n")
            r = tune(text, args.space, n_trials=args.trials, storage=args.storage,
                     study_name=args.study, pruner=args.pruner, timeout=args.timeout,
                     scheduler_address=args.scheduler, n_workers=args.workers,
                     seed=args.seed, out_dir=args.out, callback=show)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    names = sorted({k for row in r.trials for k in (row["params"] or {})})
    out.write(" ".join(["trial", "state", "value", *names]) + "\n")
    for row in r.trials:
        p = row["params"] or {}
        value = "-" if row["value"] is None else f"{row['value']:.4f}"
        out.write(" ".join([str(row["number"]), row["state"], value,
                            *(f"{p[k]:.4g}" if isinstance(p.get(k), float) else
                              str(p.get(k, "-")) for k in names)]) + "\n")
    out.write(f"best: trial {r.best_trial}, validation loss {r.best_value:.4f}\n")
    for k, v in r.best_params.items():
        out.write(f"  {k} = {v!r}\n")
    out.write(f"checkpoint: {r.checkpoint or '(not in ' + args.out + ')'}\n")
    for k, v in r.files.items():
        out.write(f"{k}: {v}\n")
    out.flush()
    return 0


# ---------------------------------------------------------------------------- main
COMMANDS = {"train": cmd_train, "sample": cmd_sample, "info": cmd_info, "plot": cmd_plot,
            "bench": cmd_bench, "tune": cmd_tune}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fastrnn`` command; return the exit status (0, 2 on error, 130 on Ctrl-C)."""
    out, err = sys.stdout, sys.stderr
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args, out, err)
    except CLIError as exc:
        msg = str(exc)
    except (ValueError, TypeError, RuntimeError, OverflowError) as exc:
        msg = str(exc)
    except MemoryError:
        msg = "not enough memory for these sizes (try a smaller --hidden or --batch-size)"
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
