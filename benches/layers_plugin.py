"""fastrnn.nn's rows for the layers harness ``../shared/peers/layers_bench.py``.

Run from the repository root (fastrnn is imported from this checkout; the compiled
modules must be built in place)::

    python ../shared/peers/layers_bench.py --plugin benches/layers_plugin.py \\
        --impls fastrnn*,torch-f32,torch-f64,onnxruntime --case-budget 15 --md layers.md
    python ../shared/peers/layers_bench.py --plugin benches/layers_plugin.py --quick

Rows (library "fastrnn"), every task (infer, train, stream) and cell:

- ``fastrnn-f32`` / ``fastrnn-f64``: ``fastrnn.nn.RNN/LSTM/GRU`` in the case's dtype
  with the library's default thread setting (the stack's calls choose between the
  team and one thread by their measured costs; SciPy's BLAS at one thread inside).
- ``fastrnn-f32 1 thread`` / ``fastrnn-f64 1 thread``: ``fastrnn.threads(1)`` and the
  BLAS pinned to 1 thread.

``make`` builds the layer and loads the harness's float64 state_dict (cast once, outside
the timed call). infer: ``eval()`` then ``layer(x, hx)``; train: ``layer(x, hx)`` then
``layer.backward(dY)`` (gradients of every parameter and of x, from scratch each call);
stream: T calls of ``layer.step(x_t, state)`` (unidirectional cases).
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# peers_plugin puts this checkout first on sys.path and has the BLAS thread contexts
from peers_plugin import _threads, threadpoolctl  # noqa: E402

import fastrnn.nn as nn  # noqa: E402

def _make(dtype):
    def make(case, task, state_dict, inputs):
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[case.cell]
        layer = cls(case.input_size, case.hidden_size, num_layers=case.num_layers,
                    bias=case.bias, batch_first=case.batch_first,
                    bidirectional=case.bidirectional, dtype=dtype)
        layer.load_state_dict(state_dict)
        x = np.ascontiguousarray(inputs["x"], dtype=dtype)
        h0 = np.ascontiguousarray(inputs["h0"], dtype=dtype)
        lstm = case.cell == "lstm"
        hx = (h0, np.ascontiguousarray(inputs["c0"], dtype=dtype)) if lstm else h0

        def out(y, hn):                   # the harness's result dict
            return {"y": y, "h": hn[0], "c": hn[1]} if lstm else {"y": y, "h": hn}

        if task == "infer":
            layer.eval()

            def call():
                return out(*layer(x, hx))
        elif task == "train":
            layer.train()
            dY = np.ascontiguousarray(inputs["dY"], dtype=dtype)

            def call():
                y, _ = layer(x, hx)
                dx, _ = layer.backward(dY)
                return {"dW": layer.grads, "dx": dx, "y": y}
        else:
            layer.eval()
            xs = [np.ascontiguousarray(x[:, t] if case.batch_first else x[t])
                  for t in range(case.T)]

            def call():
                state, ys = hx, []
                for xt in xs:
                    yt, state = layer.step(xt, state)
                    ys.append(yt)
                return out(ys, state)
        return call
    return make


def register(reg):
    for dt in ("float32", "float64"):
        tag = "f32" if dt == "float32" else "f64"
        for name, threads, ctx in ((f"fastrnn-{tag}", None, None),
                                   (f"fastrnn-{tag} 1 thread", 1, _threads(1))):
            if threads == 1 and threadpoolctl is None:
                continue
            reg.layer(name, _make(np.dtype(dt)), tasks=("infer", "train", "stream"),
                      cells=("rnn", "lstm", "gru"), dtype=dt, threads=threads,
                      context=ctx, library="fastrnn",
                      accepts=lambda case, task: task != "stream" or not case.bidirectional)
