"""fastrnn.nn against PyTorch (skipped where torch cannot be imported).

Outputs, final states and every gradient (dx, dh0, dc0, every parameter) of the same
module with the same weights, float64 to 1e-10 and float32 to 1e-5 (relative to each
array's largest entry), on both backends (the ``backend`` fixture); state_dict round trips both ways. Dropout off.
"""

import numpy as np
import pytest

import fastrnn.nn as nn

torch = pytest.importorskip("torch")

T, X, H = 6, 5, 4
# (num_layers, bidirectional, B, batch_first, lengths)
CONFIGS = {
    "L1-B1": (1, False, 1, False, None),
    "L2-bi-B3-bf-len": (2, True, 3, True, [6, 2, 4]),
    "L3-B3-len": (3, False, 3, False, [1, 6, 3]),
    "L2-bi-B1": (2, True, 1, False, None),
}
MODES = {"rnn-tanh": ("RNN", {"nonlinearity": "tanh"}), "rnn-relu": ("RNN", {"nonlinearity": "relu"}),
         "lstm": ("LSTM", {}), "gru": ("GRU", {})}
RTOL = {np.float64: 1e-10, np.float32: 1e-5}


def close(actual, desired, dtype, what):
    desired = desired.detach().numpy() if hasattr(desired, "detach") else desired
    rtol = RTOL[dtype]
    np.testing.assert_allclose(actual, desired, rtol=rtol,
                               atol=rtol * max(1e-3, float(np.abs(desired).max())),
                               err_msg=what)


def torch_run(m, x, hx, lengths, batch_first):
    if lengths is None:
        return m(x, hx)
    p = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first,
                                                enforce_sorted=False)
    yp, hn = m(p, hx)
    y, _ = torch.nn.utils.rnn.pad_packed_sequence(yp, batch_first=batch_first,
                                                  total_length=x.shape[1 if batch_first else 0])
    return y, hn


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("mode", list(MODES))
def test_matches_torch(mode, config, dtype, backend):
    kind, extra = MODES[mode]
    L, bi, B, bf, lengths = CONFIGS[config]
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    torch.manual_seed(7)
    m = getattr(torch.nn, kind)(X, H, num_layers=L, bidirectional=bi, batch_first=bf,
                                dtype=tdt, **extra)
    layer = nn.from_torch(m)
    assert layer.dtype == dtype and type(layer).__name__ == kind
    D = 2 if bi else 1
    x = torch.randn((B, T, X) if bf else (T, B, X), dtype=tdt, requires_grad=True)
    h0 = torch.randn(L * D, B, H, dtype=tdt, requires_grad=True)
    c0 = torch.randn(L * D, B, H, dtype=tdt, requires_grad=True)
    hx = (h0, c0) if kind == "LSTM" else h0
    y, hn = torch_run(m, x, hx, lengths, bf)
    hx_np = tuple(h.detach().numpy() for h in hx) if kind == "LSTM" else h0.detach().numpy()
    y2, hn2 = layer(x.detach().numpy(), hx_np, lengths=lengths)
    close(y2, y, dtype, "y")
    if kind == "LSTM":
        close(hn2[0], hn[0], dtype, "h_n")
        close(hn2[1], hn[1], dtype, "c_n")
    else:
        close(hn2, hn, dtype, "h_n")
    # gradients of sum(y dy) + sum(h_n dh) (+ sum(c_n dc))
    dy = torch.randn_like(y)
    dhs = [torch.randn_like(h) for h in (hn if kind == "LSTM" else (hn,))]
    loss = (y * dy).sum() + sum((h * d).sum() for h, d in zip(hn if kind == "LSTM" else (hn,), dhs))
    loss.backward()
    dx, dhx = layer.backward(dy.numpy(), *[d.numpy() for d in dhs])
    close(dx, x.grad, dtype, "dx")
    if kind == "LSTM":
        close(dhx[0], h0.grad, dtype, "dh0")
        close(dhx[1], c0.grad, dtype, "dc0")
    else:
        close(dhx, h0.grad, dtype, "dh0")
    assert set(layer.grads) == set(dict(m.named_parameters()))
    for name, p in m.named_parameters():
        close(layer.grads[name], p.grad, dtype, name)


@pytest.mark.parametrize("mode", list(MODES))
def test_state_dict_round_trips(mode, backend):
    kind, extra = MODES[mode]
    torch.manual_seed(3)
    m = getattr(torch.nn, kind)(3, 5, num_layers=2, bidirectional=True, bias=False,
                                batch_first=True, dropout=0.25, **extra)
    layer = nn.from_torch(m)                              # torch -> fastrnn
    assert (layer.num_layers, layer.bias, layer.batch_first, layer.dropout) == (2, False, True, 0.25)
    ref = {k: v.numpy() for k, v in m.state_dict().items()}
    got = layer.state_dict()
    assert list(got) == list(ref)
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k])
    m2 = layer.to_torch()                                 # fastrnn -> torch
    assert type(m2) is type(m) and m2.training
    for k, v in m2.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ref[k])
    # a fastrnn-initialised layer through torch and back
    own = getattr(nn, kind)(4, 3, num_layers=2, seed=1, **extra)
    back = nn.from_torch(own.to_torch())
    for k, v in own.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)
    x = np.random.default_rng(0).standard_normal((5, 2, 4)).astype(np.float32)
    own.eval()
    with torch.no_grad():
        yt, _ = own.to_torch()(torch.from_numpy(x))
    close(own(x)[0], yt, np.float32, "y")


def test_initialisation_is_torchs_distribution():
    """Every parameter from U(-1/sqrt(H), 1/sqrt(H)), like torch's reset_parameters."""
    H = 16
    layer = nn.GRU(8, H, num_layers=2, bidirectional=True, seed=0, dtype=np.float64)
    m = torch.nn.GRU(8, H, num_layers=2, bidirectional=True)
    k = 1 / np.sqrt(H)
    for name, p in m.named_parameters():
        v = layer.params[name]
        assert v.shape == tuple(p.shape)
        assert np.abs(v).max() <= k and np.abs(v).max() > 0.9 * k
    allv = np.concatenate([v.ravel() for v in layer.params.values()])
    assert abs(allv.mean()) < 0.05 * k and abs(allv.var() - k * k / 3) < 0.1 * k * k / 3

