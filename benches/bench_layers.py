"""The layers of ``fastrnn.nn`` (a whole stack, forward and forward + backward), NumPy
twin vs compiled.

Same layout as ``bench_rnn.py``: one benchmarked callable per test, parametrised over
``impl`` x case x dtype, ``group`` = the case, result checked after timing against the
twin in float64 (relative tolerance of the dtype, ``kit.RTOL``). The cases are small
versions of the layers harness's (``../shared/peers/layers_bench.py``): a 2-layer
bidirectional LSTM at batch 1, char-rnn's 2-layer LSTM at batch 50 and a GRU at
batch 64. The stack runs through ``<backend>.stack_forward`` / ``stack_backward``, what
``fastrnn.nn`` calls.
"""

import numpy as np
import pytest

from fastrnn.reference import _layers as ref

DTYPES = [np.float64, np.float32]
IMPLS = ["numpy", "cython"]
CASES = {     # cell, input, hidden, layers, bidirectional, batch, T
    "bilstm2-B1": (ref.LSTM, 60, 128, 2, True, 1, 100),
    "lstm2-B50": (ref.LSTM, 65, 128, 2, False, 50, 50),
    "gru-B64": (ref.GRU, 32, 256, 1, False, 64, 50),
}


def _problem(case, dtype):
    cell, X, H, L, bi, B, T = CASES[case]
    rng = np.random.default_rng(0)
    N, D = ref.GATES[cell], 2 if bi else 1
    params = {}
    for name in ref.param_names(L, bi):
        k = int(name.split("_l")[1].split("_")[0])
        shape = ((N * H, X if k == 0 else D * H) if name.startswith("weight_ih") else
                 (N * H, H) if name.startswith("weight_hh") else (N * H,))
        params[name] = rng.uniform(-H ** -0.5, H ** -0.5, shape).astype(dtype)
    x = rng.standard_normal((T, B, X)).astype(dtype)
    hx = rng.standard_normal((L * D, B, H)).astype(dtype) * 0.5
    cx = hx.copy() if cell == ref.LSTM else None
    dy = rng.standard_normal((T, B, D * H)).astype(dtype)
    return cell, params, x, hx, cx, dy, L, bi


def _run(k, prob, train):
    cell, params, x, hx, cx, dy, L, bi = prob
    y, hn, cn, cache = k.stack_forward(cell, x, params, hx, cx, None, None, L, bi)
    if not train:
        return [y, hn]
    grads = {n: np.zeros_like(p) for n, p in params.items()}
    dx, dh0, dc0 = k.stack_backward(cache, params, dy, None, None, grads)
    return [y, dx, dh0] + list(grads.values())


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("task", ["infer", "train"])
@pytest.mark.parametrize("impl", IMPLS)
def test_layers(benchmark, kit, impl, task, case, dtype):
    dt = np.dtype(dtype)
    k = kit.kernels(impl)
    prob = _problem(case, dt)
    benchmark.group = f"layers {task} {case} {kit.short(dt)}"
    benchmark.extra_info.update(case=case, task=task, dtype=dt.name, impl=impl)
    got = benchmark(_run, k, prob, task == "train")
    want = _run(kit.kernels("numpy"), _problem(case, np.dtype(np.float64)), task == "train")
    rtol = kit.RTOL[dt]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * np.abs(w).max())
