"""Hyperparameter search for :class:`~fastrnn.CharModel`: Optuna for the search, Dask for the workers.

Public: :func:`tune` (re-exported as ``fastrnn.tune``; the function shadows this
module's name in the package, so import helpers with ``from fastrnn.tune import
default_space``), :func:`default_space`, :func:`load_space`, :class:`TuneResult`.
Used by ``fastrnn tune``. Needs the optional ``[tune]`` extra (optuna,
dask[distributed], matplotlib), imported only when a search runs: ``import fastrnn``
works without it.

How a search runs. The *driver* (the process calling :func:`tune`) owns the study:
it asks Optuna for a trial, draws its parameters from the space (so the sampler sees
every finished trial), submits the training as a Dask task and tells Optuna the
result. The *task* trains a :class:`CharModel` on one thread (kernels and BLAS), and
at each evaluation of :meth:`CharModel.fit` reports the validation loss to the trial
in the storage and asks the pruner; a pruned trial's callback stops ``fit``. The text
is scattered to every worker once. A worker that dies mid-trial has its task re-run
by Dask on another worker (its training is deterministic, so the values it reports
again are the same and Optuna ignores the repeats); a task that still cannot finish,
or raises, becomes a FAIL trial with the reason in its ``error`` attribute. The study
lives in the storage (SQLite by default), so calling :func:`tune` again with the same
storage and study name adds trials to it.

The space. A dict (or a TOML file) of settings: a value fixes the setting, a list is a
categorical choice, a table ``{low, high, log, step}`` a range (integers when ``low``
and ``high`` are). The keys are the arguments of :class:`CharModel` and of
:meth:`CharModel.fit` (read from their signatures, so a new argument such as
``num_layers`` is accepted as soon as ``CharModel`` takes it); a user space is merged
over :func:`default_space`. ``dropout`` is drawn only for ``num_layers > 1`` and
``seq_length`` only in stream mode.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import charmodel
from ._config import set_num_threads
from .checkpoint import _umask
from ._validation import finite_float, positive_int

EXTRA = 'pip install "fastrnn[tune]"'
"""What to run when the search's dependencies are missing."""
PRUNERS = ("median", "hyperband", "none")
_CTOR_SKIP = {"self", "vocab", "seed"}
_FIT_SKIP = {"self", "text", "callback", "sample_every", "n_samples", "smoothing", "shuffle"}
_CONDITIONS = {
    "dropout": lambda p: p.get("num_layers", 1) > 1,     # dropout acts between layers
    "seq_length": lambda p: p.get("mode", charmodel.DEFAULTS["mode"]) == "stream",
}
_WORKER_ENV = {"FASTRNN_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_ATTR = "fastrnn:"  # prefix of the study's user attributes


def _require():
    """``(optuna, distributed)``, or an ImportError that names the extra to install."""
    missing = []
    mods = []
    for name in ("optuna", "distributed"):
        try:
            mods.append(__import__(name))
        except ImportError:
            missing.append("dask[distributed]" if name == "distributed" else name)
    if missing:
        raise ImportError(f"hyperparameter search needs the [tune] extra: {EXTRA} "
                          f"(missing: {', '.join(missing)})")
    return tuple(mods)


# --------------------------------------------------------------------------- the space
def space_keys(model: Any = charmodel.CharModel) -> tuple[str, ...]:
    """The settings a space may hold: ``model``'s constructor and ``fit`` arguments."""
    ctor = [k for k in inspect.signature(model).parameters if k not in _CTOR_SKIP]
    fit = [k for k in inspect.signature(model.fit).parameters if k not in _FIT_SKIP]
    return tuple(ctor + [k for k in fit if k not in ctor])


def default_space(text: str | None = None, model: type = charmodel.CharModel) -> dict:
    """The default search space for character models.

    Cell (every cell :class:`CharModel` has), hidden size 32-512 (log), learning rate
    1e-3-0.1 (log), optimizer, batch size 8-64; ``num_layers`` 1-3 and ``dropout``
    0-0.5 when ``model`` takes them; ``seq_length`` 16-128 (log) and ``mode="stream"``
    when ``text`` has a line over ``charmodel.LONG_LINE`` characters (running text),
    else lines mode. Everything else takes :data:`fastrnn.DEFAULTS` (20 epochs with
    early stopping).

    Parameters
    ----------
    text : str or None
        The training text (only its longest line is looked at); None: lines mode.
    model : type, default CharModel
        The model class whose arguments decide the optional dimensions.

    Returns
    -------
    dict
        ``name -> value | list | {"low", "high", "log"}`` (the TOML form).

    Examples
    --------
    >>> from fastrnn.tune import default_space
    >>> space = default_space()
    >>> space["hidden_size"], "lstm" in space["cell"]
    ({'low': 32, 'high': 512, 'log': True}, True)
    """
    keys = space_keys(model)
    space: dict[str, Any] = {"cell": list(charmodel.CELLS),
                             "hidden_size": {"low": 32, "high": 512, "log": True}}
    if "num_layers" in keys:
        space["num_layers"] = {"low": 1, "high": 3}
    if "dropout" in keys:
        space["dropout"] = {"low": 0.0, "high": 0.5}
    space["optimizer"] = ["adam", "adagrad", "sgd"]
    space["lr"] = {"low": 1e-3, "high": 0.1, "log": True}
    space["batch_size"] = [8, 16, 32, 64]
    if text is not None and max(map(len, text.split("\n"))) > charmodel.LONG_LINE:
        space["mode"] = "stream"
        space["seq_length"] = {"low": 16, "high": 128, "log": True}
    return space


def _check_dim(name, v):
    """One entry of a space, normalised: ``("fixed", v)``, ``("choice", list)``,
    ``("int" | "float", low, high, log, step)``."""
    if isinstance(v, (list, tuple)):
        if not v:
            raise ValueError(f"space[{name!r}]: an empty list of choices")
        return ("choice", list(v))
    if isinstance(v, Mapping):
        extra = set(v) - {"low", "high", "log", "step"}
        if extra or "low" not in v or "high" not in v:
            raise ValueError(f"space[{name!r}]: a range is a table with low, high and "
                             f"optionally log, step; got keys {sorted(v)}")
        low, high, log, step = v["low"], v["high"], bool(v.get("log", False)), v.get("step")
        nums = [x for x in (low, high, step) if x is not None]
        if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in nums) or \
                not all(math.isfinite(x) for x in nums):
            raise ValueError(f"space[{name!r}]: low, high and step must be numbers, got {v!r}")
        if low > high:
            raise ValueError(f"space[{name!r}]: low {low} > high {high}")
        if log and low <= 0:
            raise ValueError(f"space[{name!r}]: a log range needs low > 0, got {low}")
        if log and step is not None:
            raise ValueError(f"space[{name!r}]: give log or step, not both")
        kind = "int" if isinstance(low, int) and isinstance(high, int) and \
            (step is None or isinstance(step, int)) else "float"
        return (kind, low, high, log, step)
    return ("fixed", v)


def load_space(space: str | os.PathLike | Mapping | None = None, text: str | None = None,
               model: type = charmodel.CharModel) -> dict:
    """A search space: ``space`` (a dict or a TOML file) merged over :func:`default_space`.

    Parameters
    ----------
    space : dict, str or os.PathLike, or None
        The user's entries (``name = value`` fixes, ``name = [a, b]`` chooses,
        ``name = {low = 1, high = 8}`` ranges); None: the default space.
    text : str or None
        The training text, for :func:`default_space`.
    model : type, default CharModel

    Returns
    -------
    dict
        ``name -> ("fixed", value) | ("choice", list) | (kind, low, high, log, step)``.

    Raises
    ------
    ValueError
        An unknown setting (the known ones are listed), a bad range or list, an
        unknown cell, a TOML syntax error.

    Examples
    --------
    >>> from fastrnn.tune import load_space
    >>> s = load_space({"cell": "lstm", "lr": {"low": 1e-3, "high": 1e-2, "log": True}})
    >>> s["cell"], s["lr"]
    (('fixed', 'lstm'), ('float', 0.001, 0.01, True, None))
    """
    user: Mapping = {}
    if isinstance(space, (str, os.PathLike)):
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        with open(space, "rb") as f:
            try:
                user = tomllib.load(f)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{os.fspath(space)}: {exc}") from None
    elif isinstance(space, Mapping):
        user = space
    elif space is not None:
        raise TypeError(f"space must be a dict, a TOML file's path or None, got "
                        f"{type(space).__name__}")
    keys = space_keys(model)
    unknown = sorted(set(user) - set(keys))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} in the space; {model.__name__} "
                         f"takes {sorted(keys)}")
    merged = dict(default_space(text, model))
    merged.update(user)
    out = {name: _check_dim(name, v) for name, v in merged.items()}
    if "cell" in out:
        cells = out["cell"][1] if out["cell"][0] == "choice" else [out["cell"][1]]
        bad = [c for c in cells if c not in charmodel.CELLS]
        if bad:
            raise ValueError(f"space['cell']: unknown cell(s) {bad}; this fastrnn has "
                             f"{list(charmodel.CELLS)}")
    return out


def suggest(trial, space: dict) -> dict:
    """Draw one trial's settings from a :func:`load_space` space (fixed ones included)."""
    params = {name: dim[1] for name, dim in space.items() if dim[0] == "fixed"}
    # the conditional settings last: their conditions read the others
    for name in sorted((n for n in space if space[n][0] != "fixed"),
                       key=lambda n: n in _CONDITIONS):
        dim = space[name]
        if name in _CONDITIONS and not _CONDITIONS[name](params):
            continue
        if dim[0] == "choice":
            params[name] = trial.suggest_categorical(name, dim[1])
        elif dim[0] == "int":
            params[name] = trial.suggest_int(name, dim[1], dim[2], log=dim[3], step=dim[4] or 1)
        else:
            params[name] = trial.suggest_float(name, dim[1], dim[2], log=dim[3], step=dim[4])
    return params


# --------------------------------------------------------------------------- the task
def _storage(optuna, url):
    """An RDBStorage for ``url`` (SQLite: waits up to 60 s for a lock held by another process)."""
    if not isinstance(url, str):
        return url
    kw = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=kw)


def _run_trial(text, storage, study_name, trial_id, params, seed, pruner):
    """The Dask task: train one trial, report to Optuna, return its outcome (a dict).

    ``{"state": "complete", "value": v, "checkpoint": bytes | None}`` (the checkpoint
    when ``v`` beats the study's best so far), ``{"state": "pruned"}`` or
    ``{"state": "fail", "error": message}``.
    """
    import optuna
    from threadpoolctl import threadpool_limits

    from distributed import get_worker
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=_storage(optuna, storage),
                              sampler=optuna.samplers.RandomSampler(), pruner=pruner)
    trial = optuna.trial.Trial(study, trial_id)
    with contextlib.suppress(ValueError):
        trial.set_user_attr("worker", get_worker().address)
    ctor = set(inspect.signature(charmodel.CharModel).parameters)
    kw = {k: v for k, v in params.items() if k in ctor}
    fit_kw = {k: v for k, v in params.items() if k not in ctor}
    if fit_kw.get("val_fraction") is None:
        mode = fit_kw.get("mode", charmodel.DEFAULTS["mode"])
        fit_kw["val_fraction"] = charmodel.auto_val_fraction(text, mode) or 0.1
    evals = [0]
    pruned = [False]

    def report(info):
        if info.evaluated and info.val_loss is not None:
            evals[0] += 1
            trial.report(info.val_loss, evals[0])
            if trial.should_prune():
                pruned[0] = True
                return False
        return None

    # one thread for good: a worker process serves trials only, and a with-block would
    # restore the setting under a trial still running in another thread of the process
    set_num_threads(1)
    threadpool_limits(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.filterwarnings("ignore", "The reported value is ignored")
            model = charmodel.CharModel(seed=seed, **kw)
            hist = model.fit(text, callback=report, **fit_kw)
    except (ValueError, TypeError, FloatingPointError) as exc:
        return {"state": "fail", "error": f"{type(exc).__name__}: {exc}"}
    if pruned[0]:
        return {"state": "pruned"}
    value = hist.best_val_loss if model.train_config["keep_best"] else \
        float(model.history["val_loss"][-1])
    if value is None or not math.isfinite(value):
        return {"state": "fail", "error": f"no finite validation loss ({value})"}
    checkpoint = None
    try:
        best = study.best_value
    except ValueError:  # no complete trial yet
        best = math.inf
    if value < best:
        fd, path = tempfile.mkstemp(suffix=".npz")
        os.close(fd)
        try:
            model.save(path)
            with open(path, "rb") as f:
                checkpoint = f.read()
        finally:
            os.unlink(path)
    return {"state": "complete", "value": float(value), "checkpoint": checkpoint}


# --------------------------------------------------------------------------- the driver
@dataclass
class TuneResult:
    """What :func:`tune` returns.

    Attributes
    ----------
    study : optuna.Study
        The study (in its storage; more trials can be added).
    best_params : dict
        The best trial's settings (fixed ones included).
    best_value : float
        Its validation loss (nats per character).
    best_trial : int
        Its number.
    checkpoint : str or None
        The best trial's checkpoint (None when the trial that holds the study's best
        ran with another ``out_dir``).
    trials : list of dict
        One row per trial: number, state, value, seconds, params, error.
    files : dict of str -> str
        ``"trials"`` (CSV), ``"history"`` and ``"importances"`` (PNG) when written.

    Examples
    --------
    >>> import fastrnn
    >>> r = fastrnn.tune(text, n_trials=20, n_workers=2)  # doctest: +SKIP
    >>> fastrnn.load(r.checkpoint).sample(3)               # doctest: +SKIP
    """

    study: Any
    best_params: dict
    best_value: float
    best_trial: int
    checkpoint: str | None
    trials: list[dict] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)


def _pruner(optuna, pruner):
    if not isinstance(pruner, str):
        return pruner
    name = pruner.lower()
    if name == "median":   # 5 of the ~50 evaluations of warm-up: early losses are noisy
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=5)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=5)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"pruner must be one of {list(PRUNERS)} or an optuna pruner, got {pruner!r}")


@contextlib.contextmanager
def _dask_client(distributed, client, scheduler_address, n_workers):
    if client is not None:
        yield client
        return
    if scheduler_address is not None:
        with distributed.Client(scheduler_address) as c:
            yield c
        return
    n = positive_int(n_workers, "n_workers") if n_workers is not None else \
        max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1)
    # the scheduler's HTTP server on a free port (not 8787, maybe taken), no dashboard
    with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                  scheduler_kwargs={"dashboard": False,
                                                    "dashboard_address": ":0"},
                                  env=dict(_WORKER_ENV)) as cl, \
            distributed.Client(cl) as c:
        yield c


def _write_atomic(path, data: bytes):
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a new file gets the umask's
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def tune(text: str, space: str | os.PathLike | Mapping | None = None, *, n_trials: int,
         storage: str | None = None, study_name: str | None = None,
         pruner: str | Any = "median", timeout: float | None = None, client: Any = None,
         scheduler_address: str | None = None, n_workers: int | None = None,
         seed: int | None = None, out_dir: str | os.PathLike = "tune",
         sampler: Any = None, callback: Callable[[Any], Any] | None = None) -> TuneResult:
    """Search hyperparameters of a :class:`CharModel` on ``text``: Optuna trials on Dask workers.

    Each trial trains a model on the training split and minimises the lowest
    validation loss of its run (nats per character; the validation split of
    :func:`auto_val_fraction`, or 10 % of a text too small for one, the same in every
    trial); the
    validation loss of every evaluation is reported to Optuna, so the pruner stops
    bad trials early. Trials run as Dask tasks, one thread each (kernels and BLAS),
    as many at once as the cluster has worker threads. The study lives in
    ``storage``: calling again with the same storage and ``study_name`` adds
    ``n_trials`` trials to it.

    Parameters
    ----------
    text : str
        The training text.
    space : dict, path of a TOML file, or None
        Merged over :func:`default_space` (see :func:`load_space`).
    n_trials : int >= 1
        Trials to run in this call.
    storage : str or None
        An Optuna storage URL (any SQLAlchemy database: ``postgresql://...`` for
        workers on many machines); default ``sqlite:///<out_dir>/study.db``.
    study_name : str or None, default "fastrnn"
    pruner : {"median", "hyperband", "none"} or an optuna pruner, default "median"
        Median: a trial stops when its best validation loss at an evaluation is worse
        than the median of earlier trials' there (after 4 trials and 5 evaluations).
    timeout : float or None
        Seconds after which no new trial starts (running ones finish).
    client : distributed.Client or None
        An existing Dask client; else ``scheduler_address`` (``tcp://host:8786``), else a
        LocalCluster of ``n_workers`` processes (default: the usable cores) with one
        thread each, closed at the end. A task sets its worker process to one thread
        for good (:func:`fastrnn.set_num_threads`), so give workers of their own
        (``dask worker --nthreads 1``), not this process (``processes=False``).
    scheduler_address : str or None
    n_workers : int or None
    seed : int or None
        The models' seed (the validation split and initial weights, the same in every
        trial) and the sampler's; None draws one. Kept in the study: a resumed study
        keeps its first seed.
    out_dir : str or os.PathLike, default "tune"
        Where the best checkpoint (``best.npz``), the trials table (``trials.csv``)
        and the pictures (``history.png``, ``importances.png``) go.
    sampler : optuna sampler or None
        Default: TPE seeded from ``seed`` and the study's trial count.
    callback : callable or None
        ``callback(trial: optuna.trial.FrozenTrial)`` after each trial of this call.

    Returns
    -------
    TuneResult

    Raises
    ------
    ImportError
        The [tune] extra is missing (the message says ``pip install "fastrnn[tune]"``).
    ValueError
        A bad argument or space; the study was run on another text; no trial of the
        study has completed (the first failure's reason is given).

    Examples
    --------
    >>> import fastrnn
    >>> r = fastrnn.tune(fastrnn.default_corpus(), {"epochs": 2},
    ...                  n_trials=8, n_workers=2)                       # doctest: +SKIP
    >>> r.best_params, r.best_value, r.checkpoint                       # doctest: +SKIP
    """
    optuna, distributed = _require()
    text = charmodel._as_text(text)
    n_trials = positive_int(n_trials, "n_trials")
    if timeout is not None:
        timeout = finite_float(timeout, "timeout", 0.0, strict=True)
    if client is not None and scheduler_address is not None:
        raise ValueError("give client or scheduler_address, not both")
    if n_workers is not None and (client is not None or scheduler_address is not None):
        raise ValueError("n_workers is for the local cluster: give it without client "
                         "or scheduler_address")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    dims = load_space(space, text)
    vf = dims.get("val_fraction")
    if vf is not None and vf[0] != "fixed" or vf is not None and not vf[1] > 0:
        raise ValueError("tune needs a validation split: give val_fraction > 0 as a "
                         "fixed value (every trial must use the same split)")
    pruner = _pruner(optuna, pruner)
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    if storage is None:
        storage = "sqlite:///" + os.path.abspath(os.path.join(out_dir, "study.db"))
    if isinstance(storage, str) and storage.startswith("sqlite") and \
            scheduler_address is not None:
        warnings.warn(f"the storage {storage} is a file on this machine: workers on other "
                      "machines cannot reach it (give a database URL, e.g. postgresql://...)",
                      UserWarning, stacklevel=2)
    study_name = study_name or "fastrnn"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(storage=_storage(optuna, storage), study_name=study_name,
                                    direction="minimize", load_if_exists=True, pruner=pruner)
    except ImportError:
        raise
    except Exception as exc:  # SQLAlchemy's: a URL it cannot parse, a database it cannot reach
        raise ValueError(f"storage {storage!r}: {type(exc).__name__}: {exc}") from None
    attrs = study.user_attrs
    crc = zlib.crc32(text.encode("utf-8", "surrogatepass"))
    if _ATTR + "text_crc32" in attrs:
        if attrs[_ATTR + "text_crc32"] != crc:
            raise ValueError(f"study {study_name!r} in {storage} was run on another text; "
                             "give another study_name (or storage)")
        seed = attrs[_ATTR + "seed"]
    else:
        if seed is None:
            seed = int(zlib.crc32(os.urandom(8)))
        seed = positive_int(seed, "seed", minimum=0)
        study.set_user_attr(_ATTR + "text_crc32", crc)
        study.set_user_attr(_ATTR + "seed", seed)
    study.sampler = sampler if sampler is not None else \
        optuna.samplers.TPESampler(seed=seed + len(study.get_trials(deepcopy=False)))
    ckpt = os.path.join(out_dir, "best.npz")
    started, errors = [], {}

    def finish(trial, outcome, t0):
        state = outcome["state"]
        trial.set_user_attr("seconds", round(time.time() - t0, 3))
        if state == "complete":
            frozen = study.tell(trial, outcome["value"])
            if outcome.get("checkpoint") and study.best_trial.number == trial.number:
                _write_atomic(ckpt, outcome["checkpoint"])
                study.set_user_attr(_ATTR + "checkpoint",
                                    {"trial": trial.number, "path": os.path.abspath(ckpt)})
        elif state == "pruned":
            frozen = study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            errors[trial.number] = outcome["error"]
            trial.set_user_attr("error", outcome["error"])
            frozen = study.tell(trial, state=optuna.trial.TrialState.FAIL)
        if callback is not None:
            callback(frozen)

    t_start = time.monotonic()
    with _dask_client(distributed, client, scheduler_address, n_workers) as c:
        slots = max(1, sum(c.nthreads().values()))
        data = c.scatter(text, broadcast=True, hash=False)
        running = {}
        pending = distributed.as_completed()

        def submit():
            trial = study.ask()
            params = suggest(trial, dims)
            trial.set_user_attr("params", params)
            fut = c.submit(_run_trial, data, storage, study_name, trial._trial_id, params,
                           seed, pruner, pure=False, key=f"fastrnn-trial-{trial.number}-"
                           f"{os.urandom(4).hex()}")
            running[fut.key] = (trial, time.time(), fut)
            started.append(trial.number)
            pending.add(fut)

        try:
            while len(started) < n_trials and len(running) < slots:
                submit()
            for fut in pending:
                trial, t0, _ = running.pop(fut.key)
                try:
                    outcome = fut.result()
                except Exception as exc:  # the worker died too often, the task was lost
                    outcome = {"state": "fail", "error": f"{type(exc).__name__}: {exc}"}
                finish(trial, outcome, t0)
                if len(started) < n_trials and (timeout is None or
                                               time.monotonic() - t_start < timeout):
                    submit()
        except BaseException:
            for trial, _, fut in running.values():
                with contextlib.suppress(Exception):
                    fut.cancel()
                with contextlib.suppress(Exception):
                    trial.set_user_attr("error", "interrupted")
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
    return _summarise(optuna, study, out_dir, errors)


def _summarise(optuna, study, out_dir, errors):
    """The result: best trial, checkpoint, trials table (CSV), pictures (PNG)."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        reason = next(iter(errors.values()), None) or next(
            (t.user_attrs.get("error") for t in trials if t.user_attrs.get("error")), None)
        raise ValueError(f"no trial of study {study.study_name!r} has completed"
                         + (f"; first failure: {reason}" if reason else ""))
    best = study.best_trial
    saved = study.user_attrs.get(_ATTR + "checkpoint") or {}
    if saved.get("trial") is not None and saved["trial"] != best.number:
        tied = study.get_trials(deepcopy=False)[saved["trial"]]  # trials are numbered 0..
        if tied.value == best.value:   # equal values: report the one with the checkpoint
            best = tied
    rows = [{"number": t.number, "state": t.state.name.lower(), "value": t.value,
             "seconds": t.user_attrs.get("seconds"), "params": t.user_attrs.get("params", t.params),
             "error": t.user_attrs.get("error")} for t in trials]
    files = {"trials": os.path.join(out_dir, "trials.csv")}
    _write_trials_csv(files["trials"], rows)
    files.update(_pictures(optuna, study, out_dir))
    checkpoint = saved.get("path") if saved.get("trial") == best.number and \
        os.path.exists(saved.get("path", "")) else None
    return TuneResult(study, dict(best.user_attrs.get("params", best.params)), best.value,
                      best.number, checkpoint, rows, files)


def _write_trials_csv(path, rows):
    import csv
    names = sorted({k for r in rows for k in (r["params"] or {})})
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["number", "state", "value", "seconds", *names, "error"])
        for r in rows:
            p = r["params"] or {}
            w.writerow([r["number"], r["state"], "" if r["value"] is None else r["value"],
                        "" if r["seconds"] is None else r["seconds"],
                        *(p.get(k, "") for k in names), r["error"] or ""])


def _pictures(optuna, study, out_dir):
    """``history.png`` and ``importances.png`` (the latter when a parameter was searched
    and optuna can rank them); {} without matplotlib."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    from optuna.visualization import matplotlib as ovm
    files = {}
    searched = any(t.params for t in study.get_trials(deepcopy=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # "importances will be equal": few trials, all in the same quantile
        warnings.filterwarnings("ignore", "Target and region quantiles")
        for key, draw in (("history", ovm.plot_optimization_history),
                          ("importances", ovm.plot_param_importances)):
            if key == "importances" and not searched:
                continue
            try:
                ax = draw(study)
            except (ValueError, RuntimeError, ZeroDivisionError):  # too few trials
                plt.close("all")
                continue
            path = os.path.join(out_dir, key + ".png")
            fig = ax.figure
            if key == "history":
                ax.set_ylabel("validation loss (nats per character)")
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            fig.savefig(path, dpi=100)
            plt.close(fig)
            files[key] = path
    return files
