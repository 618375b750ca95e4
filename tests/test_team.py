"""The kernels' thread team (src_c/fastrnn/_team.h): the same bits whatever the team does.

A helper that never joins a job, one that stops for milliseconds after taking its first
block (as one that lost its core to another process), rank 0 then marking it stalled and
finishing the call alone, two Python threads sharing the pool, a forked child: every
batched call gives the bits of one thread. None of this depends on timing: the hooks
force each situation.
"""

import multiprocessing as mp
import threading

import numpy as np
import pytest

from conftest import team_mode

import fastrnn

T, B, H, X, V = 8, 37, 70, 9, 9
HOOKS = [dict(), dict(skip=True), dict(hold_ns=2_000_000),
         dict(hold_ns=2_000_000, stall_ns=-2 ** 62)]
HOOK_IDS = ["team", "never-joins", "held-2ms", "held-stall"]


def _steps(cell, dtype, seed=3):
    """Two batched training steps from the same start (loss, then every parameter)."""
    rng = np.random.default_rng(seed)
    net = (fastrnn.RNN if cell == "rnn" else fastrnn.LSTM)(X, H, V, dtype=dtype, seed=seed,
                                                          init_scale=0.3)
    x = rng.integers(-1, X, (T, B))
    y = rng.integers(-1, V, (T, B))
    losses = [net.train_step(x, y, lr=0.05, clip=1.0)[0] for _ in range(2)]
    loss, grads, _ = net.loss_and_grads(x, y)
    return [np.array(losses + [loss])] + [v.copy() for v in net.params.values()] + \
        [v.copy() for v in grads.values()]


@pytest.mark.parametrize("hooks", HOOKS, ids=HOOK_IDS)
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_batched_calls_give_the_bits_of_one_thread(cell, dtype, hooks):
    with team_mode(1):
        ref = _steps(cell, dtype)
    with team_mode(2, **hooks):
        got = _steps(cell, dtype)
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(r, g)


def test_two_python_threads_share_the_pool(dtype):
    """While one call holds the pool, a call from another Python thread runs alone:
    both give the bits of one thread."""
    with team_mode(1):
        ref = {c: _steps(c, dtype) for c in ("rnn", "lstm")}
    out, errors = {}, []

    def work(cell):
        try:
            for _ in range(3):
                out[cell] = _steps(cell, dtype)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with team_mode(2):
        ts = [threading.Thread(target=work, args=(c,)) for c in ("rnn", "lstm")]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
    assert not errors
    for c in ref:
        for r, g in zip(ref[c], out[c]):
            np.testing.assert_array_equal(r, g)


def _child(q):
    with team_mode(2):
        q.put([float(a.sum()) for a in _steps("lstm", np.float64)])


def test_a_forked_child_starts_its_own_helpers():
    """The helpers do not survive fork(): the child creates its own (pthread_atfork)."""
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    with team_mode(2):
        ref = [float(a.sum()) for a in _steps("lstm", np.float64)]   # helpers exist now
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    got = q.get(timeout=120)
    p.join(60)
    assert p.exitcode == 0
    assert got == ref


def _train_counter(module, kind, batch=B):
    """A batched training step of ``module``'s model and a counter of its team calls."""
    mod = getattr(fastrnn, module)
    rng = np.random.default_rng(0)
    net = (fastrnn.RNN if module == "_rnn" else fastrnn.LSTM)(X, H, V, dtype=np.float64,
                                                                seed=0)
    x, y = rng.integers(0, X, (T, batch)), rng.integers(0, V, (T, batch))

    def team_calls(n=1):
        before = mod._team_test_hook()[4][kind]
        for _ in range(n):
            net.train_step(x, y, lr=0.0)
        return mod._team_test_hook()[4][kind] - before
    return mod, team_calls


@pytest.mark.parametrize("module", ["_rnn", "_lstm"])
def test_a_new_shape_starts_with_both_modes_in_turn(module):
    """A kind's first calls at a shape run the team and one thread in turn until each has
    two counted calls (its first, cold, is not counted): team, team, one, one, team,
    one; then both modes have the two costs the choice needs."""
    mod, team_calls = _train_counter(module, 2)      # _K_TRAIN
    with team_mode(2, adaptive=True, reset=True):
        assert [team_calls() for _ in range(6)] == [1, 1, 0, 0, 1, 0]
        assert all(c > 0 for c in mod._team_costs(2, True)[:2])
    mod._team_test_hook(reset=True)


@pytest.mark.parametrize("module", ["_rnn", "_lstm"])
def test_two_shapes_keep_their_own_costs(module):
    """A program that alternates two batch sizes (training and evaluation) keeps each
    shape's costs: with the team cheaper at B and one thread cheaper at B + 1,
    alternating calls run team, one, team, one (one slot per kind used to forget a
    shape at every call of the other)."""
    kind = 2                                         # _K_TRAIN
    mod, at_b = _train_counter(module, kind)
    _, at_b1 = _train_counter(module, kind, batch=B + 1)
    with team_mode(2, adaptive=True, reset=True):
        at_b()                                       # build the models' buffers
        at_b1()
        mod._team_test_costs(kind, True, (B << 32) | H, 1e30, 1.0)
        mod._team_test_costs(kind, True, ((B + 1) << 32) | H, 1.0, 1e30)
        assert [f() for f in (at_b, at_b1) * 3] == [1, 0] * 3
    mod._team_test_hook(reset=True)


@pytest.mark.parametrize("module", ["_rnn", "_lstm"])
def test_a_batched_call_runs_the_mode_measured_cheaper(module):
    """A batched training step runs on the team or on one thread, whichever its kind,
    dtype and shape measured cheaper (set here through the hook), a burst of 3 calls of
    the other one from the 16th call, and, when that one loses by far, 1024 calls
    later."""
    kind, key = 2, (B << 32) | H                     # _K_TRAIN; the shape key (B, H)
    mod, team_calls = _train_counter(module, kind)
    with team_mode(2, adaptive=True, reset=True):
        team_calls()                                 # build the model's buffers
        mod._team_test_costs(kind, True, key, 1e30, 1.0)
        assert team_calls() == 1
        mod._team_test_costs(kind, True, key, 1.0, 1e30)
        assert team_calls() == 0
        assert team_calls(14) == 1                   # calls 3 .. 16: the 16th explores
        mod._team_test_costs(kind, True, key, 1.0, 1e30, calls=15)
        assert team_calls(3) == 3                    # the 16th call starts a burst of 3
        # the team lost by far (its real cost against a made-up 1 ns a step): with
        # bursts held to ~3 % of the time, the next one comes at the longest interval
        assert mod._team_costs(kind, True)[2] == 1024
        assert team_calls() == 0
    mod._team_test_hook(reset=True)
