"""Type stubs of the compiled RNN kernels (src_c/fastrnn/_rnn.pyx); the NumPy twin,
fastrnn.reference._rnn, has the same signatures. Arrays are C-contiguous float32 or
float64 (one dtype per call), indices int64; buffers marked OUT in the docstrings are
written in place."""

import numpy as np
import numpy.typing as npt

_F = npt.NDArray[np.floating]
_I = npt.NDArray[np.int64]

def rnn_forward_ix(X: _I, Wax: _F, Waa: _F, ba: _F, a0: _F, A: _F) -> None: ...
def rnn_forward_dense(x: _F, Wax: _F, Waa: _F, ba: _F, a0: _F, A: _F) -> None: ...
def rnn_backward_ix(X: _I, Waa: _F, a0: _F, A: _F, dA: _F, dWax: _F, dWaa: _F, dba: _F,
                    da0: _F) -> None: ...
def rnn_backward_dense(x: _F, Wax: _F, Waa: _F, a0: _F, A: _F, dA: _F, dWax: _F, dWaa: _F,
                       dba: _F, da0: _F, dx: _F) -> None: ...
def rnn_train_step_ix(X: _I, Y: _I, Wax: _F, Waa: _F, ba: _F, Wya: _F, by: _F, a0: _F,
                      A: _F, P: _F, dA: _F, dWax: _F, dWaa: _F, dba: _F, dWya: _F, dby: _F,
                      da0: _F, clip: float, lr: float) -> float: ...
def rnn_sample(Wax: _F, Waa: _F, ba: _F, Wya: _F, by: _F, a: _F, x0: int,
               u: npt.NDArray[np.float64], temperature: float, top_k: int, stop: int,
               out: _I) -> int: ...

class RNNTrainer:
    a0: _F
    A: _F
    P: _F
    dA: _F
    da0: _F
    params: tuple[_F, _F, _F, _F, _F]
    grads: tuple[_F, _F, _F, _F, _F]
    clip: float
    lr: float
    H: int
    X: int
    Y: int
    B: int
    max_T: int
    def __init__(self, Wax: _F, Waa: _F, ba: _F, Wya: _F, by: _F, max_T: int, batch: int,
                 clip: float = ..., lr: float = ...) -> None: ...
    def step(self, X: _I, Y: _I, carry: bool = ...) -> float: ...
    def run(self, X: _I, Y: _I, offsets: _I, order: _I,
            losses: npt.NDArray[np.float64]) -> int: ...

# the thread team's Python side (src_c/fastrnn/_team_hooks.pxi)
def _connect_blas_threads(get_address: int, set_address: int) -> None: ...
def _set_threads(n: int) -> None: ...
def _get_threads() -> int: ...
def _gemv_test_hook(blas: bool | None = ...) -> bool: ...
def _team_test_hook(adaptive: bool | None = ..., stall_ns: int | None = ...,
                    hold_ns: int | None = ..., skip: bool | None = ...,
                    reset: bool = ...) -> tuple[bool, int, int, bool, list[int]]: ...
def _team_test_costs(kind: int, dbl: bool, key: int, single: float, team: float,
                     calls: int = ...) -> None: ...
def _team_costs(kind: int, dbl: bool) -> tuple[float, float, int]: ...
