"""Checkpoint files: one ``.npz`` of plain arrays plus a JSON header, written atomically.

Private helpers for :meth:`fastrnn.CharModel.save` / :meth:`fastrnn.CharModel.load`
(users call those, or ``fastrnn.load``).

Layout of a file: every array under its own key (``param/Wax``, ``optim/m.Wax``,
``vocab``, ...) and one key ``meta`` holding a JSON document as a 0-d unicode array
(format name and version, the fastrnn version, configuration, counters, RNG state).
Nothing is pickled: files are read with ``allow_pickle=False``.

Writes go to a temporary file in the destination's directory, are flushed to disk and
then renamed over the destination with :func:`os.replace`, so a crash mid-save leaves
the previous file intact. The temporary file's name holds the writer's process id
(``.<name>.fastrnn-<pid>-<random>.tmp``): the next save or load in that directory deletes
those whose process is gone (a save killed before its rename).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from typing import Any

import numpy as np

FORMAT = "fastrnn-charmodel"
FORMAT_VERSION = 1
META_KEY = "meta"


def _fspath(path, name="path") -> str:
    try:
        p = os.fspath(path)
    except TypeError:
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}") from None
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    if not p:
        raise ValueError(f"{name} is empty")
    return p


def _umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_TMP = re.compile(r"^\..+\.fastrnn-(\d+)-[^.]+\.tmp$")


def _pid_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True                  # someone else's process, or cannot tell: keep
    return True


def clean_stale_temporaries(directory) -> int:
    """Delete the temporary files of saves killed before their rename in ``directory``
    (their writer process no longer exists). Returns how many were deleted."""
    n = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        m = _TMP.match(name)
        if m and not _pid_alive(int(m.group(1))):
            try:
                os.unlink(os.path.join(directory, name))
                n += 1
            except OSError:
                pass
    return n


def save_npz_atomic(path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write ``arrays`` and the JSON ``meta`` to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike, the destination (written exactly there, no suffix added).
    arrays : dict of str -> ndarray (numeric arrays; no object dtype).
    meta : dict, JSON-serialisable (ints of any size, floats, str, lists, dicts).

    Raises
    ------
    OSError
        The directory does not exist or is not writable; the destination is untouched.
    TypeError
        An array has an object dtype or ``meta`` is not JSON-serialisable.
    """
    path = _fspath(path)
    if META_KEY in arrays:
        raise ValueError(f"arrays must not use the reserved key {META_KEY!r}")
    payload: dict[str, Any] = {}
    for k, v in arrays.items():
        a = np.asarray(v)
        if a.dtype == object:
            raise TypeError(f"checkpoint array {k!r} has dtype object (nothing is pickled)")
        payload[k] = a
    payload[META_KEY] = np.array(json.dumps(meta, allow_nan=True, sort_keys=True))
    directory = os.path.dirname(os.path.abspath(path))
    clean_stale_temporaries(directory)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.fastrnn-{os.getpid()}-",
                               suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a new file gets the umask's
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable where the platform allows it
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dfd)


def load_npz(path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_npz_atomic`.

    Returns
    -------
    arrays : dict of str -> ndarray (all keys but ``meta``, loaded into memory).
    meta : dict, the JSON header.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        As ``open`` does.
    ValueError
        The file is not a fastrnn checkpoint (not an ``.npz``, pickled content, no or a
        bad header, another format, or a newer format version).
    """
    path = _fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(21, "Is a directory", path)
    clean_stale_temporaries(os.path.dirname(os.path.abspath(path)))
    with open(path, "rb") as f:  # FileNotFoundError / PermissionError, the usual message
        magic = f.read(4)
    what = f"{path!r} is not a fastrnn checkpoint"
    if magic != b"PK\x03\x04":
        raise ValueError(f"{what} (not an .npz archive)" if magic else f"{what} (empty file)")
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError(f"{what} (it is a single .npy array, not an .npz archive)")
            files = list(z.files)
            if META_KEY not in files:
                raise ValueError(f"{what} (no {META_KEY!r} entry)")
            arrays = {k: z[k] for k in files if k != META_KEY}
            raw = z[META_KEY]
            for k, a in list(arrays.items()) + [(META_KEY, raw)]:
                if not isinstance(a, np.ndarray):    # a member that is not a .npy
                    raise ValueError(f"{what} (its {k!r} entry is not an array)")
    except ValueError as exc:
        if str(exc).startswith(what):
            raise
        raise ValueError(f"{what} ({exc})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        raise ValueError(f"{what} ({type(exc).__name__}: {exc})") from None
    if raw.dtype.kind != "U" or raw.ndim != 0:
        raise ValueError(f"{what} (its {META_KEY!r} entry is not a JSON string)")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} (bad JSON header: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        fmt = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{what} (format is {fmt!r}, expected {FORMAT!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{what} (bad format_version {version!r})")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path!r} was written by a newer fastrnn "
                         f"({meta.get('fastrnn_version')}, format {version}); this one reads "
                         f"format <= {FORMAT_VERSION}: upgrade fastrnn")
    return arrays, meta


def new_meta(**fields) -> dict[str, Any]:
    """A header with the format name, format version and running fastrnn version."""
    from . import __version__

    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fastrnn_version": __version__}
    meta.update(fields)
    return meta
