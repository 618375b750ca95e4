"""fastrnn.reference: the pure-NumPy twin of every compiled kernel.

Public (documented, but most users reach it through ``fastrnn.set_backend("numpy")``).
Every function here has exactly the signature and the in-place semantics of the
kernel of the same name in the compiled modules (``fastrnn._rnn``, ``fastrnn._lstm``,
``fastrnn._ops``, ``fastrnn._layers``): outputs are written into caller-allocated
``# OUT`` buffers and gradients are *accumulated* (``+=``) into caller-zeroed buffers. It is the oracle
of the test suite and the baseline of the benchmarks, and it is documentation that
runs: read it to see the math the kernels implement.

Layout (DESIGN.md): time-major, C-contiguous. ``T`` time, ``B`` batch, ``X`` input
size, ``H`` hidden size, ``Y`` output size. Character inputs are integer indices
``(T, B)`` (int64; ``-1`` means "no input", the zero vector); dense inputs are
``(T, B, X)``. Targets are ``(T, B)`` int64; ``-1`` masks a position out of the loss
and of every gradient.
"""

from ._ops import (  # noqa: F401
    clip_,
    global_norm,
    scale_,
    sgd_update_,
    adam_update_,
    adagrad_update_,
    softmax_xent_forward,
    softmax_xent,
    pick_index,
)
from ._rnn import (  # noqa: F401
    rnn_forward_ix,
    rnn_forward_dense,
    rnn_backward_ix,
    rnn_backward_dense,
    rnn_sample,
    rnn_train_step_ix,
    RNNTrainer,
)

try:  # the LSTM twin lives in its own file
    from ._lstm import (  # noqa: F401
        lstm_forward_ix,
        lstm_forward_dense,
        lstm_backward_ix,
        lstm_backward_dense,
        lstm_sample,
        lstm_train_step_ix,
    )
except ImportError:  # pragma: no cover - during development only
    pass

from ._layers import (  # noqa: F401
    rec_forward,
    rec_backward,
    stack_forward,
    stack_backward,
    Stepper,
)

BACKEND = "numpy"
