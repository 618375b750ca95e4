"""Compiled vanilla-RNN kernels: forward, backward through time, one training step, sampling.

Private. Reached through ``fastrnn._ext.kernels()``; the NumPy twin with the same
functions and signatures is ``fastrnn.reference._rnn``.

Forward line, per step t and batch row b (time-major, C-contiguous)::

    a_t = tanh(Wax x_t + Waa a_{t-1} + ba)          A (T, B, H)

The input projection and the bias are hoisted out of the time loop (a column gather
for indices, one GEMM for dense inputs, written straight into ``A``); inside the loop
only the recurrent product (GEMV at B = 1, accumulated into ``A[t]``) and the tanh;
with B > 1 the steps run on the thread team of src_c/fastrnn/_team.h (rounds of
64-unit blocks, tiled products, as in ``fastrnn._lstm``). Backward keeps only ``dz_{t+1} @ Waa`` and ``(1 - a^2)`` in the loop; the
weight gradients are single GEMMs after it. Shapes and index ranges are checked with
the GIL before any nogil code runs.
"""

from cython cimport floating
from libc.math cimport isfinite
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memcpy, memset

import numpy as np

from fastrnn._blas cimport TILE_N, gemm, gemm_tiles, gemv, gemv_rows
from fastrnn._math cimport ftanh, vtanh, vclip_sgd
from fastrnn._common cimport (OUT_ROWS, clip_core, fr_blas_begin, fr_blas_end, fr_run, fr_set_blas_thread_functions,
                             fr_team_rank, fr_team_size, gather_scatter, job_t, output_run,
                             round_first, round_then, rounds_alloc, sample_pick,
                             softmax_xent_core, team_begin, team_end, transpose)

# kinds of calls for the team's choice (fr_choose in _team.h)
cdef enum:
    _K_FORWARD = 0
    _K_BACKWARD = 1
    _K_TRAIN = 2


# ----------------------------------------------------------------- checks (GIL)

cdef _check_index(const int64_t[:, ::1] X, Py_ssize_t hi, str name):
    """Raise unless -1 <= X < hi everywhere."""
    cdef Py_ssize_t i, j
    cdef int64_t v
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            v = X[i, j]
            if v < -1 or v >= hi:
                raise ValueError(f"{name}[{i}, {j}] = {v} is outside [-1, {hi - 1}] "
                                 "(-1 means no input / masked)")


cdef _shape_error(str name, tuple want, got):
    want_s = "(" + ", ".join(str(w) for w in want) + ")"
    return ValueError(f"{name} must have shape {want_s}, got {tuple(got)}")


cdef _check_core(Py_ssize_t T, Py_ssize_t B, const floating[:, ::1] Wax,
                 const floating[:, ::1] Waa, const floating[::1] ba,
                 const floating[:, ::1] a0, const floating[:, :, ::1] A):
    H = Waa.shape[0]
    if Waa.shape[1] != H:
        raise _shape_error("Waa", (H, H), (Waa.shape[0], Waa.shape[1]))
    if Wax.shape[0] != H:
        raise _shape_error("Wax", (H, "X"), (Wax.shape[0], Wax.shape[1]))
    if ba.shape[0] != H:
        raise _shape_error("ba", (H,), (ba.shape[0],))
    if a0.shape[0] != B or a0.shape[1] != H:
        raise _shape_error("a0", (B, H), (a0.shape[0], a0.shape[1]))
    if A.shape[0] != T or A.shape[1] != B or A.shape[2] != H:
        raise _shape_error("A", (T, B, H), (A.shape[0], A.shape[1], A.shape[2]))
    if T < 1:
        raise ValueError("the sequence is empty (T = 0)")
    if B < 1:
        raise ValueError("the batch is empty (B = 0)")
    if H < 1 or Wax.shape[1] < 1:
        raise ValueError(f"the hidden size and the input size must be >= 1, got "
                         f"H = {H}, X = {Wax.shape[1]}")


cdef inline long long _key(long long B, long long H) noexcept nogil:
    """The shape a choice of the team is measured for."""
    return (B << 32) | H


# ---------------------------------------------------------------- cores (nogil)

cdef inline void _input_dense(int N, int H, int Xn, const floating* x, const floating* Wax,
                              const floating* ba, floating* A) noexcept nogil:
    """A (N, H) = x (N, X) @ Wax.T + ba: one GEMM."""
    cdef Py_ssize_t r, h
    gemm(False, True, N, H, Xn, 1, x, Xn, Wax, Xn, 0, A, H)
    for r in range(N):
        for h in range(H):
            A[r * H + h] = A[r * H + h] + ba[h]


cdef void _recurrence_team(int T, int B, int H, const floating* WaaT, const floating* a0,
                           floating* A, int* rounds, int stride) noexcept nogil:
    """One team thread's part of the batched recurrence (``rounds``: T rounds, or NULL
    for one thread; see src_c/fastrnn/_team.h). Round t, per block of 64 units
    [u0, u0 + n): the block's columns of A[t] += A[t-1] @ Waa.T (``WaaT`` is ``Waa.T``;
    tiled products), then their tanh; round t starts when round t-1 is complete."""
    cdef int BH = B * H, u0, n, c
    cdef int rank = fr_team_rank(), size = fr_team_size()
    cdef int nblk = (H + TILE_N - 1) // TILE_N
    cdef int own[2]
    cdef int* rd
    cdef Py_ssize_t t, bb
    cdef const floating* prev
    cdef floating* cur
    for t in range(T):
        prev = a0 if t == 0 else A + (t - 1) * BH
        cur = A + t * BH
        c = round_first(rounds, t, stride, nblk, nblk, rank, size, own, &rd)
        while c >= 0:
            u0 = c * TILE_N
            n = TILE_N if H - u0 > TILE_N else H - u0
            gemm_tiles(False, B, n, H, prev, H, WaaT + u0, H, 1, cur + u0, H)
            for bb in range(B):
                vtanh(cur + bb * H + u0, n)
            c = round_then(rd, stride, nblk, rank, size, own)


cdef inline void _recurrence(int T, int B, int H, const floating* Waa, const floating* a0,
                             floating* A, int nth) noexcept nogil:
    """A[t] = tanh(A[t] + A[t-1] @ Waa.T) for t = 0..T-1 (A[-1] = a0); with B > 1 on a
    team of ``nth`` threads (``_recurrence_team``)."""
    cdef Py_ssize_t t, i
    cdef int BH = B * H, stride
    cdef const floating* prev
    cdef floating* cur
    cdef floating* WaaT
    cdef int* rounds
    cdef job_t j
    if B > 1:
        WaaT = <floating*>malloc(<size_t>H * H * sizeof(floating))
        if WaaT != NULL:
            transpose(H, H, Waa, WaaT)
            rounds = rounds_alloc(T, nth, &stride)
            j.f64 = floating is double
            j.i[0], j.i[1], j.i[2], j.i[3] = T, B, H, stride
            j.p[0], j.p[1], j.p[2], j.p[3] = WaaT, a0, A, rounds
            fr_run(_recurrence_job, &j, nth if rounds != NULL else 1)
            free(rounds)
            free(WaaT)
            return
    for t in range(T):
        prev = a0 if t == 0 else A + (t - 1) * BH
        cur = A + t * BH
        if B == 1:
            gemv(False, H, H, 1, Waa, H, prev, 1, cur)
        else:
            gemm(False, True, B, H, H, 1, prev, H, Waa, H, 1, cur, H)
        vtanh(cur, BH)


cdef void _recurrence_job(void* a) noexcept nogil:
    cdef job_t* j = <job_t*>a
    if j.f64:
        _recurrence_team[double](j.i[0], j.i[1], j.i[2], <const double*>j.p[0],
                                 <const double*>j.p[1], <double*>j.p[2], <int*>j.p[3], j.i[3])
    else:
        _recurrence_team[float](j.i[0], j.i[1], j.i[2], <const float*>j.p[0],
                                <const float*>j.p[1], <float*>j.p[2], <int*>j.p[3], j.i[3])


cdef inline void _dtanh_block(floating* dz, const floating* a, int B, int H, int u0,
                              int n) noexcept nogil:
    """a = tanh(z)  ->  dz = da * (1 - a^2), units [u0, u0 + n) of B rows, in place."""
    cdef Py_ssize_t bb, i
    for bb in range(B):
        for i in range(bb * H + u0, bb * H + u0 + n):
            dz[i] = dz[i] * (1 - a[i] * a[i])


cdef void _bptt_team(int T, int B, int H, const floating* Waa, const floating* a0,
                     const floating* A, floating* dA, floating* dWaa, floating* dba,
                     floating* da0, int* rounds, int stride) noexcept nogil:
    """One team thread's part of the batched backward pass (``rounds``: T + 2 rounds, or
    NULL), per block of 64 units [u0, u0 + n): round 0: dz_{T-1} of the block; round
    k = 1..T, u = T - k (dz_u complete): the block's rows of dWaa += dz_u^T a_{u-1} and,
    for u > 0, its columns of dA[u-1] += dz_u @ Waa and then dz_{u-1}; for u = 0 its
    columns of da0 = dz_0 @ Waa; round T + 1: the block's entries of dba += the column
    sums of dz (row by row)."""
    cdef int BH = B * H, u0, n, c, k, u
    cdef int rank = fr_team_rank(), size = fr_team_size()
    cdef int nblk = (H + TILE_N - 1) // TILE_N
    cdef int own[2]
    cdef int* rd
    cdef Py_ssize_t r, i
    cdef const floating* dzu
    for k in range(T + 2):
        u = T - k
        c = round_first(rounds, k, stride, nblk, nblk, rank, size, own, &rd)
        while c >= 0:
            u0 = c * TILE_N
            n = TILE_N if H - u0 > TILE_N else H - u0
            if k == 0:
                _dtanh_block(dA + (T - 1) * BH, A + (T - 1) * BH, B, H, u0, n)
            elif k <= T:
                dzu = dA + u * BH
                # z_u = ... + Waa a_{u-1}  ->  dWaa += dz_u^T a_{u-1}
                gemm_tiles(True, n, H, B, dzu + u0, H, a0 if u == 0 else A + (u - 1) * BH, H,
                           1, dWaa + u0 * H, H)
                if u > 0:
                    # a_u = tanh(... + Waa a_{u-1})  ->  da_{u-1} += dz_u @ Waa
                    gemm_tiles(False, B, n, H, dzu, H, Waa + u0, H, 1, dA + (u - 1) * BH + u0, H)
                    _dtanh_block(dA + (u - 1) * BH, A + (u - 1) * BH, B, H, u0, n)
                else:
                    gemm_tiles(False, B, n, H, dzu, H, Waa + u0, H, 0, da0 + u0, H)
            else:
                # z_t = ... + ba  ->  dba += sum dz
                for r in range(T * B):
                    for i in range(u0, u0 + n):
                        dba[i] += dA[r * H + i]
            c = round_then(rd, stride, nblk, rank, size, own)


cdef void _bptt_job(void* a) noexcept nogil:
    cdef job_t* j = <job_t*>a
    if j.f64:
        _bptt_team[double](j.i[0], j.i[1], j.i[2], <const double*>j.p[0],
                           <const double*>j.p[1], <const double*>j.p[2], <double*>j.p[3],
                           <double*>j.p[4], <double*>j.p[5], <double*>j.p[6],
                           <int*>j.p[7], j.i[3])
    else:
        _bptt_team[float](j.i[0], j.i[1], j.i[2], <const float*>j.p[0],
                          <const float*>j.p[1], <const float*>j.p[2], <float*>j.p[3],
                          <float*>j.p[4], <float*>j.p[5], <float*>j.p[6],
                          <int*>j.p[7], j.i[3])


cdef inline void _bptt(int T, int B, int H, const floating* Waa, const floating* a0,
                       const floating* A, floating* dA, floating* dWaa, floating* dba,
                       floating* da0, int nth) noexcept nogil:
    """dA (upstream on every a_t) -> dz_t in place; accumulate dWaa, dba; da0 = dz_0 @ Waa.
    With B > 1 on a team of ``nth`` threads (``_bptt_team``)."""
    cdef Py_ssize_t t, i
    cdef int BH = B * H, stride
    cdef floating* cur
    cdef const floating* a
    cdef int* rounds
    cdef job_t j
    if B > 1:
        rounds = rounds_alloc(T + 2, nth, &stride)
        j.f64 = floating is double
        j.i[0], j.i[1], j.i[2], j.i[3] = T, B, H, stride
        j.p[0], j.p[1], j.p[2], j.p[3], j.p[4], j.p[5], j.p[6], j.p[7] = (
            Waa, a0, A, dA, dWaa, dba, da0, rounds)
        fr_run(_bptt_job, &j, nth if rounds != NULL else 1)
        free(rounds)
        return
    for t in range(T - 1, -1, -1):
        cur = dA + t * BH
        if t < T - 1:
            # a_{t+1} = tanh(... + Waa a_t)  ->  da_t += dz_{t+1} @ Waa
            gemv(True, H, H, 1, Waa, H, cur + BH, 1, cur)
        # a_t = tanh(z_t)  ->  dz_t = da_t * (1 - a_t^2)
        a = A + t * BH
        for i in range(BH):
            cur[i] = cur[i] * (1 - a[i] * a[i])
    gemv(True, H, H, 1, Waa, H, dA, 0, da0)
    # z_t = ... + Waa a_{t-1}  ->  dWaa += sum_t dz_t^T a_{t-1}
    gemm(True, False, H, H, B, 1, dA, H, a0, H, 1, dWaa, H)
    if T > 1:
        gemm(True, False, H, H, (T - 1) * B, 1, dA + BH, H, A, H, 1, dWaa, H)
    # z_t = ... + ba  ->  dba += sum dz
    for t in range(T * B):
        cur = dA + t * H
        for i in range(H):
            dba[i] += cur[i]



# ------------------------------------------------------------------- kernels

def rnn_forward_ix(const int64_t[:, ::1] X, const floating[:, ::1] Wax,
                   const floating[:, ::1] Waa, const floating[::1] ba,
                   const floating[:, ::1] a0, floating[:, :, ::1] A):
    """RNN forward over character indices.

    X IN (T, B) int64 (-1 = zero input); Wax IN (H, X); Waa IN (H, H); ba IN (H,);
    a0 IN (B, H); A OUT (T, B, H) hidden states.
    """
    cdef int T = X.shape[0], B = X.shape[1], H = Waa.shape[0], Xn = Wax.shape[1]
    _check_core(T, B, Wax, Waa, ba, a0, A)
    _check_index(X, Xn, "X")
    cdef long long t0
    cdef int blas
    cdef int nth = team_begin(_K_FORWARD, floating is double, _key(B, H), B > 1, &t0, &blas)
    try:
        with nogil:
            gather_scatter(False, nth, T * B, H, Xn, &X[0, 0], &Wax[0, 0], &ba[0],
                            &A[0, 0, 0], NULL)
            _recurrence(T, B, H, &Waa[0, 0], &a0[0, 0], &A[0, 0, 0], nth)
    finally:
        team_end(_K_FORWARD, floating is double, nth, t0, T, blas)


def rnn_forward_dense(const floating[:, :, ::1] x, const floating[:, ::1] Wax,
                      const floating[:, ::1] Waa, const floating[::1] ba,
                      const floating[:, ::1] a0, floating[:, :, ::1] A):
    """RNN forward over dense inputs x IN (T, B, X); otherwise as rnn_forward_ix."""
    cdef int T = x.shape[0], B = x.shape[1], H = Waa.shape[0], Xn = Wax.shape[1]
    _check_core(T, B, Wax, Waa, ba, a0, A)
    if x.shape[2] != Xn:
        raise _shape_error("x", (T, B, Xn), (x.shape[0], x.shape[1], x.shape[2]))
    cdef long long t0
    cdef int blas
    cdef int nth = team_begin(_K_FORWARD, floating is double, _key(B, H), B > 1, &t0, &blas)
    try:
        with nogil:
            _input_dense(T * B, H, Xn, &x[0, 0, 0], &Wax[0, 0], &ba[0], &A[0, 0, 0])
            _recurrence(T, B, H, &Waa[0, 0], &a0[0, 0], &A[0, 0, 0], nth)
    finally:
        team_end(_K_FORWARD, floating is double, nth, t0, T, blas)


cdef _check_backward(int T, int B, int H, const floating[:, ::1] Waa,
                     const floating[:, ::1] a0, const floating[:, :, ::1] A,
                     const floating[:, :, ::1] dA, const floating[:, ::1] dWaa,
                     const floating[::1] dba, const floating[:, ::1] da0):
    if Waa.shape[0] != H or Waa.shape[1] != H:
        raise _shape_error("Waa", (H, H), (Waa.shape[0], Waa.shape[1]))
    if a0.shape[0] != B or a0.shape[1] != H:
        raise _shape_error("a0", (B, H), (a0.shape[0], a0.shape[1]))
    if A.shape[0] != T or A.shape[1] != B or A.shape[2] != H:
        raise _shape_error("A", (T, B, H), (A.shape[0], A.shape[1], A.shape[2]))
    if dA.shape[0] != T or dA.shape[1] != B or dA.shape[2] != H:
        raise _shape_error("dA", (T, B, H), (dA.shape[0], dA.shape[1], dA.shape[2]))
    if dWaa.shape[0] != H or dWaa.shape[1] != H:
        raise _shape_error("dWaa", (H, H), (dWaa.shape[0], dWaa.shape[1]))
    if dba.shape[0] != H:
        raise _shape_error("dba", (H,), (dba.shape[0],))
    if da0.shape[0] != B or da0.shape[1] != H:
        raise _shape_error("da0", (B, H), (da0.shape[0], da0.shape[1]))
    if T < 1 or B < 1:
        raise ValueError("the sequence or the batch is empty")
    if H < 1:
        raise ValueError(f"the hidden size must be >= 1, got H = {H}")


def rnn_backward_ix(const int64_t[:, ::1] X, const floating[:, ::1] Waa,
                    const floating[:, ::1] a0, const floating[:, :, ::1] A,
                    floating[:, :, ::1] dA, floating[:, ::1] dWax, floating[:, ::1] dWaa,
                    floating[::1] dba, floating[:, ::1] da0):
    """RNN backward through time for index inputs (see fastrnn.reference.rnn_backward_ix).

    dA IN/OUT (T, B, H): upstream gradient on every hidden state, overwritten with
    dz_t; dWax (H, X), dWaa (H, H), dba (H,) accumulated; da0 OUT (B, H).
    """
    cdef int T = X.shape[0], B = X.shape[1], H = Waa.shape[0], Xn = dWax.shape[1]
    _check_backward(T, B, H, Waa, a0, A, dA, dWaa, dba, da0)
    if dWax.shape[0] != H:
        raise _shape_error("dWax", (H, Xn), (dWax.shape[0], dWax.shape[1]))
    _check_index(X, Xn, "X")
    cdef long long t0
    cdef int blas
    cdef int nth = team_begin(_K_BACKWARD, floating is double, _key(B, H), B > 1, &t0, &blas)
    try:
        with nogil:
            _bptt(T, B, H, &Waa[0, 0], &a0[0, 0], &A[0, 0, 0], &dA[0, 0, 0], &dWaa[0, 0],
                  &dba[0], &da0[0, 0], nth)
            gather_scatter(True, nth, T * B, H, Xn, &X[0, 0], NULL, NULL, &dA[0, 0, 0],
                            &dWax[0, 0])
    finally:
        team_end(_K_BACKWARD, floating is double, nth, t0, T, blas)


def rnn_backward_dense(const floating[:, :, ::1] x, const floating[:, ::1] Wax,
                       const floating[:, ::1] Waa, const floating[:, ::1] a0,
                       const floating[:, :, ::1] A, floating[:, :, ::1] dA,
                       floating[:, ::1] dWax, floating[:, ::1] dWaa, floating[::1] dba,
                       floating[:, ::1] da0, floating[:, :, ::1] dx):
    """RNN BPTT for dense inputs; as rnn_backward_ix plus dx OUT (T, B, X)."""
    cdef int T = x.shape[0], B = x.shape[1], H = Waa.shape[0], Xn = Wax.shape[1]
    _check_backward(T, B, H, Waa, a0, A, dA, dWaa, dba, da0)
    if x.shape[2] != Xn:
        raise _shape_error("x", (T, B, Xn), (x.shape[0], x.shape[1], x.shape[2]))
    if Wax.shape[0] != H:
        raise _shape_error("Wax", (H, Xn), (Wax.shape[0], Wax.shape[1]))
    if dWax.shape[0] != H or dWax.shape[1] != Xn:
        raise _shape_error("dWax", (H, Xn), (dWax.shape[0], dWax.shape[1]))
    if dx.shape[0] != T or dx.shape[1] != B or dx.shape[2] != Xn:
        raise _shape_error("dx", (T, B, Xn), (dx.shape[0], dx.shape[1], dx.shape[2]))
    cdef int N = T * B
    cdef long long t0
    cdef int blas
    cdef int nth = team_begin(_K_BACKWARD, floating is double, _key(B, H), B > 1, &t0, &blas)
    try:
        with nogil:
            _bptt(T, B, H, &Waa[0, 0], &a0[0, 0], &A[0, 0, 0], &dA[0, 0, 0], &dWaa[0, 0],
                  &dba[0], &da0[0, 0], nth)
            # z = Wax x + ...  ->  dWax += dZ^T x ; dx = dZ @ Wax
            gemm(True, False, H, Xn, N, 1, &dA[0, 0, 0], H, &x[0, 0, 0], Xn, 1, &dWax[0, 0],
                 Xn)
            gemm(False, False, N, Xn, H, 1, &dA[0, 0, 0], H, &Wax[0, 0], Xn, 0, &dx[0, 0, 0],
                 Xn)
    finally:
        team_end(_K_BACKWARD, floating is double, nth, t0, T, blas)


cdef double _train_core(int T, int B, int H, int Xn, int V,
                        const int64_t* X, const int64_t* Y,
                        floating* Wax, floating* Waa, floating* ba, floating* Wya,
                        floating* by, const floating* a0, floating* A, floating* P,
                        floating* dA, floating* dWax, floating* dWaa, floating* dba,
                        floating* dWya, floating* dby, floating* da0,
                        double clip, double lr, int nth, double* losses) noexcept nogil:
    """One fused training step on checked pointers; see rnn_train_step_ix. With B > 1
    the recurrences and the output layer run on a team of ``nth`` threads; ``losses``
    then holds one double per OUT_ROWS rows (the output layer's blocks)."""
    cdef int N = T * B, k
    cdef double loss
    memset(dWax, 0, <size_t>H * Xn * sizeof(floating))
    memset(dWaa, 0, <size_t>H * H * sizeof(floating))
    memset(dba, 0, <size_t>H * sizeof(floating))
    memset(dWya, 0, <size_t>V * H * sizeof(floating))
    memset(dby, 0, <size_t>V * sizeof(floating))
    gather_scatter(False, nth, N, H, Xn, X, Wax, ba, A, NULL)
    _recurrence(T, B, H, Waa, a0, A, nth)
    # dA = dz @ Wya, written (not added): the only gradient on the states so far
    if B > 1:
        output_run(nth, N, H, V, A, Wya, by, Y, P, dWya, dby, dA, losses)
        loss = 0
        for k in range((N + OUT_ROWS - 1) // OUT_ROWS):     # in block order
            loss += losses[k]
    else:
        loss = softmax_xent_core(N, H, V, A, Wya, by, Y, P, True, dWya, dby, dA, False)
    if not isfinite(loss):
        return loss                     # nothing clipped or updated
    _bptt(T, B, H, Waa, a0, A, dA, dWaa, dba, da0, nth)
    gather_scatter(True, nth, N, H, Xn, X, NULL, NULL, dA, dWax)
    if lr != 0:
        vclip_sgd(Wax, dWax, H * Xn, <floating>clip, <floating>lr)
        vclip_sgd(Waa, dWaa, H * H, <floating>clip, <floating>lr)
        vclip_sgd(ba, dba, H, <floating>clip, <floating>lr)
        vclip_sgd(Wya, dWya, V * H, <floating>clip, <floating>lr)
        vclip_sgd(by, dby, V, <floating>clip, <floating>lr)
    elif clip > 0:
        clip_core(dWax, H * Xn, <floating>clip)
        clip_core(dWaa, H * H, <floating>clip)
        clip_core(dba, H, <floating>clip)
        clip_core(dWya, V * H, <floating>clip)
        clip_core(dby, V, <floating>clip)
    return loss


def rnn_train_step_ix(const int64_t[:, ::1] X, const int64_t[:, ::1] Y,
                      floating[:, ::1] Wax, floating[:, ::1] Waa, floating[::1] ba,
                      floating[:, ::1] Wya, floating[::1] by, const floating[:, ::1] a0,
                      floating[:, :, ::1] A, floating[:, :, ::1] P, floating[:, :, ::1] dA,
                      floating[:, ::1] dWax, floating[:, ::1] dWaa, floating[::1] dba,
                      floating[:, ::1] dWya, floating[::1] dby, floating[:, ::1] da0,
                      double clip, double lr):
    """One training step in place: forward, softmax cross-entropy, BPTT, clip, SGD.

    See fastrnn.reference.rnn_train_step_ix for the full contract. Returns the summed
    loss before the update; when it is not finite, nothing is clipped or updated.
    """
    cdef int T = X.shape[0], B = X.shape[1], H = Waa.shape[0], Xn = Wax.shape[1]
    cdef int V = Wya.shape[0]
    cdef double loss
    _check_core(T, B, Wax, Waa, ba, a0, A)
    _check_backward(T, B, H, Waa, a0, A, dA, dWaa, dba, da0)
    if Wya.shape[1] != H:
        raise _shape_error("Wya", (V, H), (Wya.shape[0], Wya.shape[1]))
    if by.shape[0] != V:
        raise _shape_error("by", (V,), (by.shape[0],))
    if V < 1:
        raise ValueError("the output size must be >= 1, got Y = 0")
    if Y.shape[0] != T or Y.shape[1] != B:
        raise _shape_error("Y", (T, B), (Y.shape[0], Y.shape[1]))
    if P.shape[0] != T or P.shape[1] != B or P.shape[2] != V:
        raise _shape_error("P", (T, B, V), (P.shape[0], P.shape[1], P.shape[2]))
    if dWax.shape[0] != H or dWax.shape[1] != Xn:
        raise _shape_error("dWax", (H, Xn), (dWax.shape[0], dWax.shape[1]))
    if dWya.shape[0] != V or dWya.shape[1] != H:
        raise _shape_error("dWya", (V, H), (dWya.shape[0], dWya.shape[1]))
    if dby.shape[0] != V:
        raise _shape_error("dby", (V,), (dby.shape[0],))
    _check_index(X, Xn, "X")
    _check_index(Y, V, "Y")
    cdef double* losses = <double*>malloc(<size_t>((T * B + OUT_ROWS - 1) // OUT_ROWS)
                                          * sizeof(double))
    if losses == NULL:
        raise MemoryError("cannot allocate the scratch of the RNN training step")
    cdef long long t0
    cdef int blas
    cdef int nth = team_begin(_K_TRAIN, floating is double, _key(B, H), B > 1, &t0, &blas)
    try:
        with nogil:
            loss = _train_core(T, B, H, Xn, V, &X[0, 0], &Y[0, 0], &Wax[0, 0], &Waa[0, 0],
                               &ba[0], &Wya[0, 0], &by[0], &a0[0, 0], &A[0, 0, 0],
                               &P[0, 0, 0], &dA[0, 0, 0], &dWax[0, 0], &dWaa[0, 0], &dba[0],
                               &dWya[0, 0], &dby[0], &da0[0, 0], clip, lr, nth, losses)
    finally:
        team_end(_K_TRAIN, floating is double, nth, t0, T, blas)
        free(losses)
    return loss


cdef void* _ptr(arr) except NULL:
    """Data pointer of a C-contiguous float32/float64 ndarray (checked by the caller)."""
    cdef float[::1] f
    cdef double[::1] d
    if arr.dtype == np.float32:
        f = arr.reshape(-1)
        return <void*>&f[0]
    d = arr.reshape(-1)
    return <void*>&d[0]


cdef class RNNTrainer:
    """Repeated fused SGD training steps on one set of parameter arrays.

    The arguments of :func:`rnn_train_step_ix` are converted once, here, instead of on
    every call: a step then costs only the conversion of ``X`` and ``Y``. It is what the
    course's ``model`` loop and the benchmarks run.

    Parameters
    ----------
    Wax (H, X), Waa (H, H), ba (H,), Wya (Y, H), by (Y,) : float32 or float64
        C-contiguous arrays of one dtype, updated in place by :meth:`step` (the trainer
        keeps references to them: they stay alive and must not be reallocated).
    max_T : int, the longest sequence :meth:`step` accepts.
    batch : int, B.
    clip : float, clip every gradient to [-clip, clip] (0 = off).
    lr : float, SGD learning rate (0 = no update).

    Attributes
    ----------
    a0 : ndarray (B, H), the initial state of the next step (writable; zeros at first).
    A : ndarray (max_T, B, H), hidden states of the last step (rows ``:T``).
    grads : tuple of ndarrays (dWax, dWaa, dba, dWya, dby), the clipped gradients of
        the last step.
    """

    cdef readonly object a0, A, P, dA, da0, grads, params
    cdef object losses
    cdef readonly int H, X, Y, B, max_T
    cdef public double clip, lr
    cdef bint f64
    cdef void* pp[5]
    cdef void* pg[5]
    cdef void* pa0
    cdef void* pA
    cdef void* pP
    cdef void* pdA
    cdef void* pda0
    cdef double* plosses

    def __init__(self, Wax, Waa, ba, Wya, by, max_T, batch, clip=5.0, lr=0.01):
        params = (Wax, Waa, ba, Wya, by)
        names = ("Wax", "Waa", "ba", "Wya", "by")
        for n, p in zip(names, params):
            if not isinstance(p, np.ndarray):
                raise TypeError(f"{n} must be an ndarray, got {type(p).__name__}")
            if p.dtype != np.float32 and p.dtype != np.float64:
                raise TypeError(f"{n} must be float32 or float64, got {p.dtype}")
            if p.dtype != Wax.dtype:
                raise TypeError(f"{n} has dtype {p.dtype}, Wax has {Wax.dtype}: one dtype")
            if not p.flags.c_contiguous or not p.flags.writeable:
                raise ValueError(f"{n} must be C-contiguous and writeable")
        if Wax.ndim != 2 or Waa.ndim != 2 or Wya.ndim != 2 or ba.ndim != 1 or by.ndim != 1:
            raise ValueError("Wax, Waa, Wya must be 2-D and ba, by 1-D")
        H, Xn, V = Waa.shape[0], Wax.shape[1], Wya.shape[0]
        if Waa.shape != (H, H) or Wax.shape[0] != H or ba.shape != (H,) \
                or Wya.shape != (V, H) or by.shape != (V,):
            raise ValueError(f"inconsistent shapes: Wax {Wax.shape}, Waa {Waa.shape}, ba "
                             f"{ba.shape}, Wya {Wya.shape}, by {by.shape}")
        if max_T < 1 or batch < 1:
            raise ValueError("max_T and batch must be >= 1")
        if H < 1 or Xn < 1 or V < 1:
            raise ValueError(f"the hidden, input and output sizes must be >= 1, got "
                             f"H = {H}, X = {Xn}, Y = {V}")
        self.H, self.X, self.Y, self.B, self.max_T = H, Xn, V, batch, max_T
        self.clip, self.lr = float(clip), float(lr)
        self.f64 = Wax.dtype == np.float64
        dt = Wax.dtype
        self.params = params
        self.grads = tuple(np.zeros_like(p) for p in params)
        self.a0 = np.zeros((batch, H), dt)
        self.A = np.zeros((max_T, batch, H), dt)
        self.P = np.zeros((max_T, batch, V), dt)
        self.dA = np.zeros((max_T, batch, H), dt)
        self.da0 = np.zeros((batch, H), dt)
        self.losses = np.zeros((max_T * batch + OUT_ROWS - 1) // OUT_ROWS, np.float64)
        for i in range(5):
            self.pp[i] = _ptr(params[i])
            self.pg[i] = _ptr(self.grads[i])
        self.pa0 = _ptr(self.a0)
        self.pA = _ptr(self.A)
        self.pP = _ptr(self.P)
        self.pdA = _ptr(self.dA)
        self.pda0 = _ptr(self.da0)
        self.plosses = <double*>_ptr(self.losses)

    def step(self, const int64_t[:, ::1] X, const int64_t[:, ::1] Y, bint carry=False):
        """One training step on ``X``, ``Y`` (T, B) int64 with T <= max_T.

        ``carry=True`` then copies the last hidden state into :attr:`a0` (the course's
        ``a_prev`` carried from one name to the next). Returns the summed loss before
        the update; a non-finite loss leaves the parameters unchanged.
        """
        cdef int T = X.shape[0], H = self.H
        cdef double loss
        if X.shape[1] != self.B or T < 1 or T > self.max_T:
            raise ValueError(f"X must have shape (T, {self.B}) with 1 <= T <= {self.max_T}, "
                             f"got ({X.shape[0]}, {X.shape[1]})")
        if Y.shape[0] != T or Y.shape[1] != self.B:
            raise _shape_error("Y", (T, self.B), (Y.shape[0], Y.shape[1]))
        _check_index(X, self.X, "X")
        _check_index(Y, self.Y, "Y")
        cdef long long t0
        cdef int blas
        cdef int nth = team_begin(_K_TRAIN, self.f64, _key(self.B, H), self.B > 1, &t0, &blas)
        try:
            with nogil:
                loss = self._one(&X[0, 0], &Y[0, 0], T, carry, nth)
        finally:
            team_end(_K_TRAIN, self.f64, nth, t0, T, blas)
        return loss

    def run(self, const int64_t[:, ::1] X, const int64_t[:, ::1] Y,
            const int64_t[::1] offsets, const int64_t[::1] order, double[::1] losses):
        """Training steps on a sequence of examples in one call, the hidden state carried
        from each to the next: for k, e in enumerate(order), ``losses[k] =
        step(X[offsets[e]:offsets[e + 1]], Y[...], carry=True)``.

        X, Y IN (N, B) int64: the rows of every example, one after the other; offsets IN
        (n + 1,) int64, example e is rows ``offsets[e]:offsets[e + 1]`` (1 to max_T of
        them); order IN (K,) int64 example indices; losses OUT (>= K,) float64. Stops
        after the first non-finite loss (its step updates nothing); returns the number
        of steps run.
        """
        cdef Py_ssize_t n = offsets.shape[0] - 1, K = order.shape[0], k, e
        cdef int T, H = self.H
        cdef double loss
        cdef int64_t lo, hi
        if X.shape[1] != self.B or Y.shape[0] != X.shape[0] or Y.shape[1] != self.B:
            raise ValueError(f"X and Y must have shape (N, {self.B}), got "
                             f"({X.shape[0]}, {X.shape[1]}) and ({Y.shape[0]}, {Y.shape[1]})")
        if n < 1:
            raise ValueError("offsets must hold at least two entries (one example)")
        for e in range(n):
            lo, hi = offsets[e], offsets[e + 1]
            if lo < 0 or hi > X.shape[0] or not 1 <= hi - lo <= self.max_T:
                raise ValueError(f"example {e} = rows offsets[{e}]:offsets[{e + 1}] = "
                                 f"{lo}:{hi} must hold 1 to {self.max_T} rows of the "
                                 f"{X.shape[0]} in X")
        for k in range(K):
            if not 0 <= order[k] < n:
                raise ValueError(f"order[{k}] = {order[k]} is outside [0, {n - 1}]")
        if losses.shape[0] < K:
            raise ValueError(f"losses must hold at least {K} entries, got {losses.shape[0]}")
        if K == 0:
            return 0
        _check_index(X, self.X, "X")
        _check_index(Y, self.Y, "Y")
        cdef long long t0
        cdef int blas
        cdef int nth = team_begin(_K_TRAIN, self.f64, _key(self.B, H), self.B > 1, &t0, &blas)
        cdef Py_ssize_t done = 0, steps = 0
        try:
            with nogil:
                for k in range(K):
                    e = order[k]
                    T = <int>(offsets[e + 1] - offsets[e])
                    loss = self._one(&X[offsets[e], 0], &Y[offsets[e], 0], T, True, nth)
                    losses[k] = loss
                    steps += T
                    done = k + 1
                    if not isfinite(loss):
                        break
        finally:
            team_end(_K_TRAIN, self.f64, nth, t0, <double>steps, blas)
        return done

    cdef double _one(self, const int64_t* X, const int64_t* Y, int T, bint carry,
                     int nth) noexcept nogil:
        """One step on checked rows (see :meth:`step`)."""
        cdef double loss
        cdef size_t nstate = <size_t>self.B * self.H
        if self.f64:
            loss = _train_core[double](
                T, self.B, self.H, self.X, self.Y, X, Y,
                <double*>self.pp[0], <double*>self.pp[1], <double*>self.pp[2],
                <double*>self.pp[3], <double*>self.pp[4], <double*>self.pa0,
                <double*>self.pA, <double*>self.pP, <double*>self.pdA,
                <double*>self.pg[0], <double*>self.pg[1], <double*>self.pg[2],
                <double*>self.pg[3], <double*>self.pg[4], <double*>self.pda0,
                self.clip, self.lr, nth, self.plosses)
            if carry:
                memcpy(self.pa0, <double*>self.pA + (T - 1) * nstate, nstate * sizeof(double))
        else:
            loss = _train_core[float](
                T, self.B, self.H, self.X, self.Y, X, Y,
                <float*>self.pp[0], <float*>self.pp[1], <float*>self.pp[2],
                <float*>self.pp[3], <float*>self.pp[4], <float*>self.pa0,
                <float*>self.pA, <float*>self.pP, <float*>self.pdA,
                <float*>self.pg[0], <float*>self.pg[1], <float*>self.pg[2],
                <float*>self.pg[3], <float*>self.pg[4], <float*>self.pda0,
                self.clip, self.lr, nth, self.plosses)
            if carry:
                memcpy(self.pa0, <float*>self.pA + (T - 1) * nstate, nstate * sizeof(float))
        return loss


def rnn_sample(const floating[:, ::1] Wax, const floating[:, ::1] Waa,
               const floating[::1] ba, const floating[:, ::1] Wya, const floating[::1] by,
               floating[::1] a, Py_ssize_t x0, const double[::1] u, double temperature,
               int top_k, Py_ssize_t stop, int64_t[::1] out):
    """Generate up to len(out) characters, feeding each pick back as the next input.

    a IN/OUT (H,) state; x0 first input index (-1 = zero input); u IN (N,) float64
    uniforms; temperature (0 = greedy); top_k (0 = all); stop index (-1 = never);
    out OUT (N,) int64. Returns the number of characters written (see
    fastrnn.reference.rnn_sample).
    """
    cdef int H = Waa.shape[0], Xn = Wax.shape[1], V = Wya.shape[0]
    cdef Py_ssize_t n = out.shape[0], k, h, written = 0
    cdef Py_ssize_t x = x0
    cdef int idx
    if Waa.shape[1] != H or Wax.shape[0] != H or ba.shape[0] != H or a.shape[0] != H:
        raise ValueError(f"Wax/Waa/ba/a do not agree on the hidden size {H}")
    if H < 1 or Xn < 1 or V < 1:
        raise ValueError(f"the hidden, input and output sizes must be >= 1, got H = {H}, "
                         f"X = {Xn}, Y = {V}")
    if Wya.shape[1] != H or by.shape[0] != V:
        raise ValueError(f"Wya must be (Y, {H}) and by (Y,)")
    if u.shape[0] < n:
        raise ValueError(f"u has {u.shape[0]} uniforms for {n} characters")
    if x0 < -1 or x0 >= Xn:
        raise ValueError(f"x0 = {x0} is outside [-1, {Xn - 1}]")
    if V > Xn:
        raise ValueError(f"the output size ({V}) exceeds the input size ({Xn}): picks cannot be fed back")
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if n == 0:
        return 0
    cdef floating* z = <floating*>malloc((H + V) * sizeof(floating))
    cdef double* work = <double*>malloc(2 * V * sizeof(double))
    if z == NULL or work == NULL:
        free(z)
        free(work)
        raise MemoryError()
    cdef floating* logits = z + H
    cdef int blas = fr_blas_begin()
    with nogil:
        for k in range(n):
            # a = tanh(Wax x + Waa a + ba), summed in the course's order
            # z = Waa a from zero (BLAS, where it runs instead of _gemv.h, adds partial
            # sums into y: starting from Wax[:, x] would change the course's order)
            memset(z, 0, <size_t>H * sizeof(floating))
            gemv_rows(H, H, &Waa[0, 0], &a[0], z, k & 1)    # _gemv.h where it applies
            if x >= 0:
                for h in range(H):
                    a[h] = (Wax[h, x] + z[h]) + ba[h]
            else:
                for h in range(H):
                    a[h] = z[h] + ba[h]
            vtanh(&a[0], H)
            memcpy(logits, &by[0], <size_t>V * sizeof(floating))
            gemv_rows(V, H, &Wya[0, 0], &a[0], logits)      # by + Wya a
            idx = sample_pick(logits, V, temperature, top_k, u[k], work)
            out[k] = idx
            written = k + 1
            x = idx
            if idx == stop:
                break
    fr_blas_end(blas)
    free(z)
    free(work)
    return written


include "_team_hooks.pxi"
