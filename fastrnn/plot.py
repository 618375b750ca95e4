"""The learning curve of a :class:`~fastrnn.CharModel`: written as CSV or JSON, or drawn.

Public (:func:`write_history`, :func:`plot_history`, re-exported by ``fastrnn``). Used by
``fastrnn train --log`` and ``fastrnn plot``. The curve is
:attr:`fastrnn.CharModel.history`: one row per evaluation (iteration, seconds of
training, smoothed training loss, validation loss, learning rate), kept in checkpoints.

Drawing needs matplotlib, an optional dependency: ``pip install "fastrnn[plot]"``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

COLUMNS = ("iteration", "elapsed", "train_loss", "val_loss", "lr")
"""The columns of a history, in the order they are written."""


def _history(source) -> tuple[dict[str, np.ndarray], dict[str, Any] | None]:
    """``(history, best)`` of a CharModel, or of a mapping of columns (``best`` None)."""
    if hasattr(source, "history") and hasattr(source, "best"):
        return source.history, source.best
    if isinstance(source, Mapping):
        missing = [c for c in COLUMNS if c not in source]
        if missing:
            raise ValueError(f"history lacks the column(s) {missing}; it needs {list(COLUMNS)}")
        cols = {c: np.asarray(source[c], np.int64 if c == "iteration" else np.float64)
                for c in COLUMNS}
        if len({v.shape for v in cols.values()}) != 1 or cols["iteration"].ndim != 1:
            raise ValueError("history columns must be 1-D and of one length, got shapes "
                             f"{ {c: v.shape for c, v in cols.items()} }")
        return cols, None
    raise TypeError(f"expected a CharModel or a mapping of history columns, got "
                    f"{type(source).__name__}")


def write_history(source, path) -> str:
    """Write a learning curve to ``path``: JSON when it ends in ``.json``, CSV otherwise.

    Parameters
    ----------
    source : CharModel or mapping of str -> array_like of shape (E,)
        A model (its :attr:`~fastrnn.CharModel.history`) or the columns ``iteration``,
        ``elapsed``, ``train_loss``, ``val_loss`` and ``lr``, one entry per evaluation.
    path : str or os.PathLike
        The file to write (replaced if it exists).

    Returns
    -------
    str
        The format written, ``"csv"`` or ``"json"``.

    Notes
    -----
    CSV: a header row with the column names, then one row per evaluation; a missing
    validation loss (no validation split) is an empty field. JSON: a list of objects,
    one per evaluation, with ``null`` for a missing validation loss. Losses are in nats
    per character, ``elapsed`` in seconds of training.

    Examples
    --------
    >>> import os, tempfile, fastrnn
    >>> m = fastrnn.CharModel(hidden_size=8, seed=0)
    >>> h = m.fit("anna\\nbob\\n", iterations=10, eval_every=5)
    >>> path = os.path.join(tempfile.mkdtemp(), "curve.csv")
    >>> fastrnn.write_history(m, path)
    'csv'
    >>> open(path).readline().strip()
    'iteration,elapsed,train_loss,val_loss,lr'
    """
    hist, _ = _history(source)
    path = os.fspath(path)
    rows = [{c: (int(hist[c][i]) if c == "iteration" else
                 (None if math.isnan(hist[c][i]) else float(hist[c][i]))) for c in COLUMNS}
            for i in range(len(hist["iteration"]))]
    if str(path).lower().endswith(".json"):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
            f.write("\n")
        return "json"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow(["" if r[c] is None else (r[c] if c == "iteration" else repr(r[c]))
                        for c in COLUMNS])
    return "csv"


def plot_history(source, path, *, title: str | None = None) -> None:
    """Draw the training and validation loss against iterations and against time.

    Two panels side by side: the losses against the iteration count, and against
    the seconds (minutes, from two minutes) of training; dotted lines mark where the
    learning rate was lowered, a dot the lowest validation loss when the source is a
    model that recorded it.

    Parameters
    ----------
    source : CharModel or mapping of str -> array_like of shape (E,)
        As for :func:`write_history`.
    path : str or os.PathLike
        The image file; its suffix picks the format (``.png``, ``.svg``, ``.pdf``).
    title : str or None
        A title over both panels.

    Raises
    ------
    RuntimeError
        matplotlib is not installed (``pip install "fastrnn[plot]"``).
    ValueError
        The history is empty (the model was never evaluated).

    Examples
    --------
    >>> import os, tempfile, fastrnn
    >>> m = fastrnn.CharModel(hidden_size=8, seed=0)
    >>> h = m.fit("anna\\nbob\\n", iterations=10, eval_every=5)
    >>> path = os.path.join(tempfile.mkdtemp(), "curve.png")
    >>> fastrnn.plot_history(m, path)  # doctest: +SKIP
    """
    hist, best = _history(source)
    if len(hist["iteration"]) == 0:
        raise ValueError("the history is empty: nothing to plot (train the model first)")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise RuntimeError('plotting needs matplotlib, the "plot" extra: '
                           'pip install "fastrnn[plot]" (or pip install matplotlib)') from None
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    has_val = not np.all(np.isnan(hist["val_loss"]))
    long = hist["elapsed"][-1] >= 120
    t = hist["elapsed"] / 60.0 if long else hist["elapsed"]
    decays = np.nonzero(hist["lr"][1:] < hist["lr"][:-1])[0] + 1
    for ax, x, label in ((axes[0], hist["iteration"], "iteration"),
                         (axes[1], t, "minutes of training" if long else "seconds of training")):
        for j, i in enumerate(decays):
            ax.axvline(x[i - 1], color="0.6", linestyle=":",
                       label="learning rate lowered" if j == 0 else None)
        ax.plot(x, hist["train_loss"], label="training (smoothed)", color="tab:blue")
        if has_val:
            ax.plot(x, hist["val_loss"], label="validation", color="tab:orange")
        if best is not None and has_val:
            hit = np.nonzero(hist["iteration"] == best["iteration"])[0]
            if len(hit):
                i = hit[0]
                ax.plot([x[i]], [best["val_loss"]], "o", color="tab:red",
                        label=f"best {best['val_loss']:.3f} (iteration {best['iteration']})")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("loss (nats per character)")
    axes[0].legend()
    if title:
        fig.suptitle(title)
    fig.savefig(os.fspath(path), dpi=100)
