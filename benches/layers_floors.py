"""Issue 14's floors on one run of the layers harness ``../shared/peers/layers_bench.py``.

    python benches/layers_floors.py --json layers.json -- --plugin benches/layers_plugin.py \\
        --exclude numpy-ref --case-budget 12 --md layers.md
    python benches/layers_floors.py --summarise layers.json     # an earlier run again

Runs the harness (the arguments after ``--``) with ``--json``, and around it measures this
machine's GEMM peak: a 2048 x 2048 matmul through NumPy's BLAS at 2 threads, float32 and
float64, the best of several (before and after the harness; the better is kept and stored
in the JSON file as ``gemm_peak_gflops``). Then prints, per case, task and dtype:
fastrnn's default row against the FASTER of each peer's default and 1-thread rows (ratio
of medians, > 1: fastrnn is faster), its rate on the harness's FLOP count and its share
of the peak, and whether the floor is met:

- infer: >= 1.5x torch (same dtype) and >= 1.2x ONNX Runtime;
- stream (one step a call, batch 1): >= 10x torch and >= 2x ONNX Runtime;
- train: >= 1.3x torch (same dtype);
- or, where a peer runs near the machine's limit: >= 90 % of the GEMM peak and not
  slower than the faster peer;
- and every fastrnn row's check ok.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                       "peers", "layers_bench.py")
FLOORS = {"infer": {"torch": 1.5, "onnxruntime": 1.2},
          "stream": {"torch": 10.0, "onnxruntime": 2.0},
          "train": {"torch": 1.3}}
PEAK_SHARE = 0.9


def gemm_peak(dtype, threads=2, n=2048, reps=7):
    """The best rate (GFLOP/s) of an n x n matmul through NumPy's BLAS."""
    from threadpoolctl import threadpool_limits
    a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
    best = float("inf")
    with threadpool_limits(threads, user_api="blas"):
        a @ a
        for _ in range(reps):
            t = time.perf_counter()
            a @ a
            best = min(best, time.perf_counter() - t)
    return 2.0 * n ** 3 / best / 1e9


def peaks():
    return {"float32": gemm_peak(np.float32), "float64": gemm_peak(np.float64)}


def _best(rows, library, dtype):
    """The faster of a library's rows (default and 1 thread) in ``dtype``."""
    mine = [r for r in rows if r["library"] == library and r["dtype"] == dtype]
    return min(mine, key=lambda r: r["median_s"]) if mine else None


def summarise(data):
    peak = data.get("gemm_peak_gflops", {})
    out = ["| case · task | dtype | fastrnn ms/call | vs torch | vs ORT | GFLOP/s | % of peak "
           "| floor | met |", "|---|---|---|---|---|---|---|---|---|"]
    met_all = True
    for case in data["cases"]:
        task = case["task"]
        rows = case["results"]
        for dtype in ("float32", "float64"):
            fr = [r for r in rows if r["library"] == "fastrnn" and r["dtype"] == dtype]
            mine = [r for r in fr if "1 thread" not in r["impl"]]
            if not mine:
                continue
            me = mine[0]
            ratios, need = {}, FLOORS.get(task, {})
            for lib in need:
                peer = _best(rows, lib, dtype if lib == "torch" else "float32")
                if peer is not None:
                    ratios[lib] = peer["median_s"] / me["median_s"]
            gf = case["matmul_flops"] / me["median_s"] / 1e9 if task != "stream" else None
            pk = peak.get(dtype)
            share = gf / pk if gf and pk else None
            by_ratio = all(ratios[lib] >= need[lib] for lib in ratios)
            by_peak = (share is not None and share >= PEAK_SHARE
                       and all(v >= 1.0 for v in ratios.values()))
            ok = (by_ratio or by_peak) and all(r["check_ok"] for r in fr)
            met_all &= ok
            floor = ", ".join(f"{need[lib]:g}x {lib}" for lib in ratios)

            def fmt(lib):
                return f"{ratios[lib]:.2f}x" if lib in ratios else "-"
            out.append(f"| {case['case']['key']} · {task} | {dtype} | {me['ms_per_call']:.3g} "
                       f"| {fmt('torch')} | {fmt('onnxruntime')} "
                       f"| {'-' if gf is None else f'{gf:.0f}'} "
                       f"| {'-' if share is None else f'{share * 100:.0f}%'} | {floor} "
                       f"| {'yes' if ok else 'no'}{' (peak)' if ok and not by_ratio else ''} |")
    pk = ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peak.items())
    out.append("")
    out.append(f"GEMM peak (2048^3 through NumPy's BLAS, 2 threads, best of 7): {pk or '-'}. "
               f"All floors met: {'yes' if met_all else 'no'}.")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", default="layers-floors.json", help="the harness's JSON file")
    ap.add_argument("--summarise", metavar="JSON", help="only summarise an earlier run")
    ap.add_argument("harness_args", nargs="*", help="arguments for the harness (after --)")
    args = ap.parse_args(argv)
    if args.summarise:
        with open(args.summarise) as fh:
            print(summarise(json.load(fh)))
        return 0
    before = peaks()
    subprocess.run([sys.executable, HARNESS, *args.harness_args, "--json", args.json],
                   check=True)
    after = peaks()
    with open(args.json) as fh:
        data = json.load(fh)
    data["gemm_peak_gflops"] = {k: max(before[k], after[k]) for k in before}
    with open(args.json, "w") as fh:
        json.dump(data, fh, indent=1, default=float)
    print(summarise(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
