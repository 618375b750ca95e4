"""Speed on a busy machine: default threads against one thread, with N busy processes.

Run from the repository root (fastrnn is imported from this checkout, or from ``--root``)::

    python benches/contention.py                       # N = 0, 1, 2; every workload
    python benches/contention.py --busy 2 --work c,e   # a subset
    python benches/contention.py --md benches/results/contention.md

For each N (background processes that each spin a core in a Python busy loop), every
workload runs with fastrnn's default thread policy and pinned to one thread
(``fastrnn.threads(1)``; for the CLI, ``FASTRNN_NUM_THREADS=1``), the two interleaved in
rounds (the order alternates), each block timed call by call. Reported: the median time
of a call per mode and the ratio default / 1 thread of the medians (> 1: the default is
slower). Workloads (the peer harness's cases, through the public API users call):

- ``train``: the command ``fastrnn train --iterations 400 --quiet`` (its defaults: an RNN
  of 100 units, batch 16, Adam), whole process, wall time;
- ``c``: ``RNN(27, 256).train_step`` on 100 steps x batch 32 (float32);
- ``f``: ``LSTM(27, 256).train_step`` on 100 steps x batch 32 (float32);
- ``e``: ``LSTM(27, 100).train_step`` on 25 steps x batch 1 (float32: the batch-1 pair);
- ``s-lstm``: ``LSTM(27, 100).sample(50)`` (float32; the pair);
- ``l-charlm``: ``fastrnn.nn.LSTM(65, 128, num_layers=2)`` forward + backward, T 50 x
  batch 50 (the layers harness's charlm-lstm2 train, float32);
- ``l-seg``: ``fastrnn.nn.LSTM(60, 128, num_layers=2, bidirectional=True)`` inference,
  T 589 x batch 1 (seg-bilstm);
- ``l-gru``: ``fastrnn.nn.GRU(32, 256)`` inference, T 100 x batch 1 (gru-ts: the
  batch-1 pair of the layers).

``--full`` adds ``train-full``: ``fastrnn train`` with no arguments at all (the README's
first command), once per mode and N.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _spin():                                   # a busy background process
    while True:
        pass


@contextlib.contextmanager
def busy(n):
    procs = [mp.Process(target=_spin, daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    time.sleep(0.3 if n else 0)
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()


def _workloads(root):
    import numpy as np

    import fastrnn

    rng = np.random.default_rng(0)

    def train_step(cell, H, T, B):
        net = (fastrnn.RNN if cell == "rnn" else fastrnn.LSTM)(27, H, dtype="float32", seed=0)
        X = rng.integers(0, 27, (T, B))
        X[0] = -1
        Y = rng.integers(0, 27, (T, B))
        return lambda: net.train_step(X, Y, lr=1e-3)

    def sample(H, n):
        net = fastrnn.LSTM(27, H, dtype="float32", seed=0)
        return lambda: net.sample(n, seed=1)

    def cli(args, tmp):
        env = dict(os.environ, PYTHONPATH=root)
        cmd = [sys.executable, "-m", "fastrnn", "train", *args, "--out",
               os.path.join(tmp, "m.npz")]

        def run(one):
            e = dict(env, FASTRNN_NUM_THREADS="1") if one else env
            subprocess.run(cmd, env=e, cwd=tmp, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)     # cwd: not this checkout
        return run

    def layer(cls, I, H, L, bi, B, T, train):
        from fastrnn import nn

        m = getattr(nn, cls)(I, H, num_layers=L, bidirectional=bi, dtype="float32", seed=0)
        x = rng.standard_normal((T, B, I)).astype(np.float32)
        dy = np.ones((T, B, (2 if bi else 1) * H), np.float32)
        if not train:
            m.eval()

        def call():
            m(x)
            if train:
                m.backward(dy)
        return call

    return {
        "l-charlm": (layer("LSTM", 65, 128, 2, False, 50, 50, True), 1.0),
        "l-seg": (layer("LSTM", 60, 128, 2, True, 1, 589, False), 1.0),
        "l-gru": (layer("GRU", 32, 256, 1, False, 1, 100, False), 1.0),
        "c": (train_step("rnn", 256, 100, 32), 1.0),
        "f": (train_step("lstm", 256, 100, 32), 1.0),
        "e": (train_step("lstm", 100, 25, 1), 1.0),
        "s-lstm": (sample(100, 50), 1.0),
    }, cli


def _block(fn, seconds, one):
    import fastrnn

    ctx = fastrnn.threads(1) if one else contextlib.nullcontext()
    times = []
    with ctx:
        fn()                                    # warm
        end = time.perf_counter() + seconds
        while True:
            t0 = time.perf_counter()
            fn()
            t1 = time.perf_counter()
            times.append(t1 - t0)
            if t1 > end and len(times) >= 3:
                break
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--busy", default="0,1,2", help="numbers of busy processes")
    ap.add_argument("--work", default="train,c,f,e,s-lstm",
                    help="workloads (train, c, f, e, s-lstm; train-full with --full)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--block", type=float, default=1.0, help="seconds per timed block")
    ap.add_argument("--full", action="store_true", help="add train-full (no arguments)")
    ap.add_argument("--root", default=ROOT, help="the checkout to import fastrnn from")
    ap.add_argument("--md", help="write the table as Markdown to this file")
    args = ap.parse_args(argv)
    root = os.path.abspath(args.root)
    sys.path.insert(0, root)
    import fastrnn

    works = [w for w in args.work.split(",") if w]
    if args.full and "train-full" not in works:
        works.append("train-full")
    inproc, cli = _workloads(root)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cmds = {"train": cli(["--iterations", "400", "--quiet"], tmp),
                "train-full": cli(["--quiet"], tmp)}
        for n in [int(x) for x in args.busy.split(",")]:
            with busy(n):
                for w in works:
                    res = {False: [], True: []}
                    rounds = 1 if w == "train-full" else args.rounds
                    for r in range(rounds):
                        for one in ((False, True) if r % 2 == 0 else (True, False)):
                            if w in cmds:
                                t0 = time.perf_counter()
                                cmds[w](one)
                                res[one].append(time.perf_counter() - t0)
                            else:
                                res[one] += _block(inproc[w][0], args.block, one)
                    d, s = statistics.median(res[False]), statistics.median(res[True])
                    rows.append((n, w, d, s, d / s))
                    print(f"N={n} {w:<10} default {d * 1e3:9.2f} ms   1 thread "
                          f"{s * 1e3:9.2f} ms   default/1 = {d / s:5.2f}", flush=True)
    lines = [f"fastrnn {fastrnn.__version__} from `{os.path.relpath(root, ROOT) or '.'}`, "
             f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             "", "| busy processes | workload | default (ms) | 1 thread (ms) | default / 1 thread |",
             "|---|---|---|---|---|"]
    for n, w, d, s, q in rows:
        lines.append(f"| {n} | {w} | {d * 1e3:.2f} | {s * 1e3:.2f} | {q:.2f} |")
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
