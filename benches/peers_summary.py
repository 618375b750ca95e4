"""Summarise a peer-harness JSON file (``bench.py --json``) into the fastrnn table of
``benches/README.md``: every fastrnn row with its time and the ratios of medians against
"numpy-f64 course", "torch-f32 nn.RNN/LSTM" and "torch-f64 nn.RNN/LSTM" of the same run,
plus the floors of the issues checked against those ratios.

    python benches/peers_summary.py bench-peers.json

Ratios are ratios of medians within the one run (``> 1``: fastrnn is faster). "% of GEMM
peak" is the harness's FLOP count per step over the median time, against the best GEMM
rate the harness measured for that library's dtype and thread count (numpy's peak for
fastrnn, which calls the same OpenBLAS family through SciPy).
"""

from __future__ import annotations

import json
import sys

REF_NUMPY = "numpy-f64 course"
REF_T32 = "torch-f32 nn.RNN/LSTM"
REF_T64 = "torch-f64 nn.RNN/LSTM"

# (case key, fastrnn row, reference row, minimum ratio, or a maximum µs/char with None ref)
FLOORS = [
    ("a", "fastrnn-f64", REF_NUMPY, 25.0), ("b", "fastrnn-f64", REF_NUMPY, 12.0),
    ("e", "fastrnn-f64", REF_NUMPY, 15.0), ("e", "fastrnn-f32", REF_NUMPY, 15.0),
    ("e", "fastrnn-f32", REF_T32, 4.0),
    ("s-rnn", "fastrnn-f64", REF_NUMPY, 15.0), ("s-rnn", "fastrnn-f32", REF_NUMPY, 15.0),
    ("s-lstm", "fastrnn-f64", REF_NUMPY, 15.0), ("s-lstm", "fastrnn-f32", REF_NUMPY, 15.0),
    ("c", "fastrnn-f32", REF_T32, 1.3), ("d", "fastrnn-f32", REF_T32, 1.3),
    ("f", "fastrnn-f32", REF_T32, 1.3), ("g", "fastrnn-f32", REF_T32, 1.3),
    ("c", "fastrnn-f64", REF_T64, 1.3), ("d", "fastrnn-f64", REF_T64, 1.3),
    ("f", "fastrnn-f64", REF_T64, 1.3), ("g", "fastrnn-f64", REF_T64, 1.3),
]
MAX_US = [("s-rnn", "fastrnn-f64", 2.0), ("s-rnn", "fastrnn-f32", 2.0),
          ("s-lstm", "fastrnn-f64", 4.0), ("s-lstm", "fastrnn-f32", 4.0)]


def _peak(peaks, dtype, threads):
    for p in peaks:
        if p["library"] == "numpy" and p["dtype"] == dtype and p["threads"] == threads:
            return p["best_gflops"]
    return None


def _label(case):
    c = case["case"]
    return f"({c['key']}) {c['cell']} H={c['n_a']} T={c['T']} B={c['m']}"


def summarise(data):
    out = []
    med = {}
    out.append("| case | fastrnn row | threads | ms / step (µs / char) | vs numpy-f64 course "
               "| vs torch-f32 nn.RNN/LSTM | vs torch-f64 nn.RNN/LSTM | % of GEMM peak | check |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for case in data["cases"]:
        key = case["case"]["key"]
        rows = {r["impl"]: r for r in case["results"]}
        for name, r in rows.items():
            med[(key, name)] = r
        sample = case["task"] == "sample"
        for name, r in rows.items():
            if not name.startswith("fastrnn"):
                continue

            def ratio(ref):
                return (f"{rows[ref]['median_s'] / r['median_s']:.2f}x" if ref in rows
                        else "-")
            t = f"({r['us_per_unit']:.2f} µs/char)" if sample else f"{r['median_s'] * 1e3:.3g}"
            pk = None if sample else _peak(data["peaks"], r["dtype"], r["threads"])
            pct = (f"{case['flops_per_step'] / r['median_s'] / 1e9 / pk * 100:.0f}%"
                   if pk else "-")
            out.append(f"| {_label(case)} | {name} | {r['threads']} | {t} | {ratio(REF_NUMPY)} | "
                       f"{ratio(REF_T32)} | {ratio(REF_T64)} | {pct} | {r['check']} |")
    out.append("")
    out.append("| floor | measured | met |")
    out.append("|---|---|---|")
    for key, row, ref, floor in FLOORS:
        a, b = med.get((key, row)), med.get((key, ref))
        if a is None or b is None:
            continue
        got = b["median_s"] / a["median_s"]
        out.append(f"| ({key}) {row} >= {floor:g}x {ref} | {got:.2f}x | "
                   f"{'yes' if got >= floor else 'no'} |")
    for key, row, most in MAX_US:
        a = med.get((key, row))
        if a is None:
            continue
        out.append(f"| ({key}) {row} <= {most:g} µs/char | {a['us_per_unit']:.2f} µs/char | "
                   f"{'yes' if a['us_per_unit'] <= most else 'no'} |")
    return "\n".join(out)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit("usage: python benches/peers_summary.py bench-peers.json")
    with open(argv[0]) as fh:
        data = json.load(fh)
    m = data["meta"]
    print(f"Run {m['date']}, {m['wall_s']:.0f} s, load average at start "
          f"{m['loadavg_start'][0]:.2f}, torch {m.get('torch')}\n")
    print(summarise(data))


if __name__ == "__main__":
    main()
