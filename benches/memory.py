"""Peak memory of one training step, for the batched peer cases c (RNN) and g (LSTM).

    python benches/memory.py

Each configuration runs in a fresh subprocess: it builds the parameters and the data,
records the peak RSS (``ru_maxrss``), runs 5 fused training steps (the kernels the peer
harness times), and records the peak again. The growth is the memory a step needs:
the buffers kept for BPTT (``A``, ``P``, ``dA`` and for the LSTM ``C``, ``G``: linear in
T*B*H) plus the kernel's scratch, allocated once per call, none inside the time loop.
The table prints the growth and the expected size of those buffers for T and 2T.
"""

import json
import subprocess
import sys
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, resource, sys
import numpy as np
sys.path.insert(0, {root!r})
import fastrnn._ext as ext
cell, H, T, B, dt = {cell!r}, {H}, {T}, {B}, np.dtype({dt!r})
V = 27
rng = np.random.default_rng(0)
X = rng.integers(0, V, (T, B)); X[0] = -1
Y = rng.integers(0, V, (T, B))
K = ext.kernels("cython")
z = lambda *s: np.zeros(s, dt)
G = 4 if cell == "lstm" else 1
W = [(rng.standard_normal(s) * 0.05).astype(dt) for s in ((G * H, V), (G * H, H), (G * H,), (V, H), (V,))]
peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if cell == "rnn":
    tr = K.RNNTrainer(*W, T, B, 5.0, 0.01)
    step = lambda: tr.step(X, Y)
else:
    args = (X, Y, *W, z(B, H), z(B, H), z(T, B, H), z(T, B, H), z(T, B, 4 * H), z(T, B, V),
            z(T, B, H), z(4 * H, V), z(4 * H, H), z(4 * H), z(V, H), z(V), z(B, H), z(B, H), 5.0, 0.01)
    step = lambda: K.lstm_train_step_ix(*args)
for _ in range(5):
    step()
peak1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(peak0_kb=peak0, peak1_kb=peak1)))
"""


def run(cell, H, T, B, dt="float32"):
    code = CHILD.format(root=ROOT, cell=cell, H=H, T=T, B=B, dt=dt)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def expected_mb(cell, H, T, B, itemsize=4, V=27):
    per_row = (3 * H + V) if cell == "rnn" else (3 * H + H + 4 * H + V + H)  # + tanh(C) scratch
    return T * B * per_row * itemsize / 2**20


def main():
    print("| case | T | B | H | dtype | peak RSS growth of a step (MB) | BPTT buffers T*B*(...) (MB) |")
    print("|---|---|---|---|---|---|---|")
    for key, cell, H, B in (("c", "rnn", 256, 32), ("g", "lstm", 512, 64)):
        for T in (50, 100, 200):
            r = run(cell, H, T, B)
            grow = (r["peak1_kb"] - r["peak0_kb"]) / 1024
            print(f"| {key} | {T} | {B} | {H} | float32 | {grow:.1f} | "
                  f"{expected_mb(cell, H, T, B):.1f} |")


if __name__ == "__main__":
    main()
