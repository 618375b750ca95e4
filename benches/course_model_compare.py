#!/usr/bin/env python
"""Time the course's Dinosaurus ``model()`` on fastrnn against the course-style NumPy loop.

Usage (from the repository root; fastrnn's compiled modules built in place)::

    python benches/course_model_compare.py                  # 5 rounds x 2000 iterations
    python benches/course_model_compare.py --rounds 7 --iterations 4000 --strict

Both sides train the same model on ``../shared/data/dinos.txt`` (n_a = 50, 27
characters, SGD lr 0.01, clip 5, 7 names sampled every 2000 iterations):

- ``fastrnn``: ``fastrnn.course.dinosaurus.model`` (default backend: the Cython kernels,
  the iterations between two printouts in one kernel call, ``RNNTrainer.run``).
- ``numpy-course``: the assignment's ``model()`` loop written course-style: NumPy's
  legacy RNG (``initialize_parameters`` with ``np.random.seed(1)``, the shuffle with
  ``np.random.seed(0)``), ``a_prev`` carried from name to name, ``X = [None] + ix``,
  ``Y = X[1:] + [newline]``, the smoothed loss, sampling every 2000 iterations with the
  course's ``sample`` (``np.random.seed(counter + seed)``, ``np.random.choice``), and one
  training step = ``rnn_optimize`` of ``../shared/peers/numpy_course.py`` (one Python
  iteration per time step, column vectors, one-hot inputs).

The two run interleaved in one process, the order alternating every round, with the
models' printed output discarded and BLAS pinned to one thread (``--blas-threads``; all
products are GEMVs at n_a = 50). Reported: the median time of each, the ratio of the
medians and the median of the per-round ratios (the robust one on a noisy machine). The
target floor is a ratio >= 25 (issue 12, at 3000 iterations).

Checks: both return the same ``last_dino_name``, their final parameters agree (the two
differ only in the order of floating-point sums), and the 7 names sampled from each final
model with the course's ``sample`` are the same. Exit status 1 when a check fails; with
``--strict`` also 2 when the ratio is below the floor.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "peers"))
DEFAULT_DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "dinos.txt"))
for _p in (ROOT, PEERS):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy_course as nc  # noqa: E402

from fastrnn.course import dinosaurus as dino  # noqa: E402

try:
    import threadpoolctl
except ImportError:  # pragma: no cover
    threadpoolctl = None

FLOOR = 25.0


# ------------------------------------------------------------ the course, in NumPy

def softmax(x):
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum(axis=0)


def smooth(loss, cur_loss):
    return loss * 0.999 + cur_loss * 0.001


def get_initial_loss(vocab_size, seq_length):
    return -np.log(1.0 / vocab_size) * seq_length


def get_sample(sample_ix, ix_to_char):
    txt = "".join(ix_to_char[ix] for ix in sample_ix)
    return txt[0].upper() + txt[1:]


def initialize_parameters(n_a, n_x, n_y):
    np.random.seed(1)
    Wax = np.random.randn(n_a, n_x) * 0.01
    Waa = np.random.randn(n_a, n_a) * 0.01
    Wya = np.random.randn(n_y, n_a) * 0.01
    b = np.zeros((n_a, 1))
    by = np.zeros((n_y, 1))
    return {"Wax": Wax, "Waa": Waa, "Wya": Wya, "b": b, "by": by}


def sample(parameters, char_to_ix, seed):
    Waa, Wax, Wya, by, b = (parameters["Waa"], parameters["Wax"], parameters["Wya"],
                            parameters["by"], parameters["b"])
    vocab_size = by.shape[0]
    n_a = Waa.shape[1]
    x = np.zeros((vocab_size, 1))
    a_prev = np.zeros((n_a, 1))
    indices = []
    idx = -1
    counter = 0
    newline_character = char_to_ix["\n"]
    while idx != newline_character and counter != 50:
        a = np.tanh(np.dot(Wax, x) + np.dot(Waa, a_prev) + b)
        z = np.dot(Wya, a) + by
        y = softmax(z)
        np.random.seed(counter + seed)
        idx = np.random.choice(list(range(vocab_size)), p=y.ravel())
        indices.append(idx)
        x = np.zeros((vocab_size, 1))
        x[idx] = 1
        a_prev = a
        seed += 1
        counter += 1
    if counter == 50:
        indices.append(char_to_ix["\n"])
    return indices


def numpy_course_model(data_x, ix_to_char, char_to_ix, num_iterations=35000, n_a=50,
                       dino_names=7, vocab_size=27):
    """The 2021 ``model()`` of the assignment; one step = ``numpy_course.rnn_optimize``."""
    n_x, n_y = vocab_size, vocab_size
    parameters = initialize_parameters(n_a, n_x, n_y)
    loss = get_initial_loss(vocab_size, dino_names)
    examples = [x.strip() for x in data_x]
    np.random.seed(0)
    np.random.shuffle(examples)
    a_prev = np.zeros((n_a, 1))
    last_dino_name = "abc"
    for j in range(num_iterations):
        idx = j % len(examples)
        single_example_ix = [char_to_ix[c] for c in examples[idx]]
        X = [None] + single_example_ix
        Y = X[1:] + [char_to_ix["\n"]]
        curr_loss, gradients, a_prev = nc.rnn_optimize(X, Y, a_prev, parameters,
                                                       learning_rate=0.01, max_value=5.0)
        loss = smooth(loss, curr_loss)
        if j % 2000 == 0:
            print("Iteration: %d, Loss: %f" % (j, loss) + "\n")
            for seed in range(dino_names):
                sampled_indices = sample(parameters, char_to_ix, seed)
                last_dino_name = get_sample(sampled_indices, ix_to_char)
                print(last_dino_name.replace("\n", ""))
            print("\n")
    return parameters, last_dino_name


# --------------------------------------------------------------------------- driver

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--data", default=DEFAULT_DATA, help="dinos.txt (default: %(default)s)")
    ap.add_argument("--blas-threads", type=int, default=1, help="0 = library default")
    ap.add_argument("--settle", type=float, default=0.05, help="sleep before each run (s)")
    ap.add_argument("--strict", action="store_true", help="exit 2 when below the floor")
    args = ap.parse_args(argv)

    if not os.path.exists(args.data):
        print(f"data file {args.data} not found; nothing to time")
        return 0
    data = open(args.data).read().lower()
    chars = sorted(set(data))
    char_to_ix = {ch: i for i, ch in enumerate(chars)}
    ix_to_char = {i: ch for i, ch in enumerate(chars)}
    data_x = data.split("\n")

    impls = {
        "fastrnn": lambda n: dino.model(list(data_x), ix_to_char, char_to_ix, n),
        "numpy-course": lambda n: numpy_course_model(list(data_x), ix_to_char, char_to_ix, n),
    }
    limits = (threadpoolctl.threadpool_limits(limits=args.blas_threads, user_api="blas")
              if threadpoolctl is not None and args.blas_threads > 0 else contextlib.nullcontext())
    times = {k: [] for k in impls}
    results = {}
    with limits:
        for fn in impls.values():                     # warm-up (imports, caches)
            with contextlib.redirect_stdout(io.StringIO()):
                fn(50)
        names = list(impls)
        for r in range(args.rounds):
            for name in (names if r % 2 == 0 else names[::-1]):
                gc.collect()
                time.sleep(args.settle)
                with contextlib.redirect_stdout(io.StringIO()):
                    t0 = time.perf_counter()
                    res = impls[name](args.iterations)
                    times[name].append(time.perf_counter() - t0)
                results[name] = res
            f, n = times["fastrnn"][-1], times["numpy-course"][-1]
            print(f"round {r + 1}: fastrnn {f * 1e3:8.1f} ms   numpy-course {n * 1e3:8.1f} ms"
                  f"   ratio {n / f:6.1f}", flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    per_round = statistics.median(n / f for f, n in zip(times["fastrnn"], times["numpy-course"]))
    ratio = med["numpy-course"] / med["fastrnn"]

    # ---- checks
    (p_f, name_f), (p_n, name_n) = results["fastrnn"], results["numpy-course"]
    rel = max(float(np.max(np.abs(p_f[k] - p_n[k])) / np.max(np.abs(p_n[k]))) for k in p_n)
    seeds = range(7)
    names_f = [get_sample(dino.sample(p_f, char_to_ix, s), ix_to_char).strip() for s in seeds]
    names_n = [get_sample(sample(p_n, char_to_ix, s), ix_to_char).strip() for s in seeds]
    ok_last = name_f == name_n
    ok_params = rel < 1e-8
    ok_names = names_f == names_n
    ok = ok_last and ok_params and ok_names

    it = args.iterations
    print()
    print(f"dinosaurus model(), {it} iterations, n_a=50, {args.rounds} interleaved rounds, "
          f"BLAS threads {args.blas_threads or 'default'}")
    print()
    print("| implementation | median ms | µs/iteration | ratio |")
    print("|---|---|---|---|")
    print(f"| fastrnn.course.dinosaurus.model (cython) | {med['fastrnn'] * 1e3:.1f} | "
          f"{med['fastrnn'] / it * 1e6:.1f} | 1 |")
    print(f"| course-style NumPy (numpy_course.rnn_optimize) | {med['numpy-course'] * 1e3:.1f} | "
          f"{med['numpy-course'] / it * 1e6:.1f} | {ratio:.1f} |")
    print()
    print(f"speed-up: {ratio:.1f}x (ratio of medians), {per_round:.1f}x (median of per-round "
          f"ratios); floor {FLOOR:.0f}x: {'met' if per_round >= FLOOR else 'NOT MET'}")
    print(f"check last_dino_name: {'ok' if ok_last else 'MISMATCH'} ({name_f.strip()!r} vs "
          f"{name_n.strip()!r})")
    print(f"check final parameters: max relative difference {rel:.1e} "
          f"({'ok' if ok_params else 'MISMATCH'})")
    print(f"check 7 names sampled from the final models: {'ok' if ok_names else 'MISMATCH'} "
          f"{names_f}" + ("" if ok_names else f" vs {names_n}"))
    if not ok:
        return 1
    if args.strict and per_round < FLOOR:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
