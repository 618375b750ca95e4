# cython: language_level=3
"""Row-major BLAS shims over ``scipy.linalg.cython_blas``.

Private. cimported by the kernels (``fastrnn._rnn``, ``fastrnn._lstm``,
``fastrnn._ops``). This is the one file where the row-major <-> Fortran
column-major translation happens: a C-contiguous ``(M, K)`` matrix is the
column-major ``(K, M)`` matrix, so ``C = op(A) @ op(B)`` in row-major is
``C^T = op(B)^T @ op(A)^T`` in column-major, i.e. the operands and the
dimensions swap and the transpose flags stay with their matrix.

All shims are ``noexcept nogil`` and take the fused ``floating`` type, so
one body serves float32 (s...) and float64 (d...).
"""

from cython cimport floating
from scipy.linalg.cython_blas cimport (
    sgemm, dgemm, sgemv, dgemv, saxpy, daxpy, sscal, dscal, sdot, ddot,
)


cdef inline void gemm(bint trans_a, bint trans_b, int M, int N, int K,
                      floating alpha, const floating* A, int lda,
                      const floating* B, int ldb, floating beta,
                      floating* C, int ldc) noexcept nogil:
    """Row-major ``C (M, N) = alpha * op(A) @ op(B) + beta * C``.

    Parameters
    ----------
    trans_a, trans_b : op(A) is ``A.T`` when set; ``A`` is stored ``(M, K)``
        (or ``(K, M)`` when transposed) with row stride ``lda``; likewise B.
    M, N, K : dimensions of the row-major product.
    C : OUT (M, N) with row stride ``ldc``; read when ``beta != 0``.
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef int i, j
    if M <= 0 or N <= 0:
        return
    if K <= 0:
        if beta == 0:
            for i in range(M):
                for j in range(N):
                    C[i * ldc + j] = 0
        elif beta != 1:
            for i in range(M):
                for j in range(N):
                    C[i * ldc + j] *= beta
        return
    # column-major: C^T (N, M) = op(B)^T (N, K) @ op(A)^T (K, M)
    if floating is float:
        sgemm(&tb, &ta, &N, &M, &K, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &N, &M, &K, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)


# Tile of gemm_tiles: rows x columns x depth of each BLAS call. 32 x 64 x 256 keeps
# M*N*K at 524288, under the size (100^3) below which OpenBLAS (SMALL_MATRIX_OPT, in
# SciPy's wheels) multiplies without packing its operands: measured 1.5x the packed
# GEMM's speed at the per-step products of the batched recurrences (benches/README.md).
cdef enum:
    TILE_M = 32
    TILE_N = 64
    TILE_K = 256


cdef inline void gemm_tiles(int M, int N, int K, const floating* A, int lda,
                            const floating* B, int ldb, floating beta, floating* C,
                            int ldc) noexcept nogil:
    """Row-major ``C (M, N) = A (M, K) @ B (K, N) + beta * C`` as BLAS calls on tiles of
    at most TILE_M x TILE_N x TILE_K (the depth tiles accumulate in order, the first
    one with ``beta``)."""
    cdef int i0, j0 = 0, k0, m, n, k
    while j0 < N:                      # a tile of B is reused by every row tile of A
        n = TILE_N if N - j0 > TILE_N else N - j0
        k0 = 0
        while k0 < K:
            k = TILE_K if K - k0 > TILE_K else K - k0
            i0 = 0
            while i0 < M:
                m = TILE_M if M - i0 > TILE_M else M - i0
                gemm(False, False, m, n, k, 1, A + i0 * lda + k0, lda, B + k0 * ldb + j0,
                     ldb, beta if k0 == 0 else 1, C + i0 * ldc + j0, ldc)
                i0 += TILE_M
            k0 += TILE_K
        j0 += TILE_N


cdef inline void gemm_tiles_tn(int M, int N, int K, const floating* A, int lda,
                               const floating* B, int ldb, floating* C,
                               int ldc) noexcept nogil:
    """Row-major ``C (M, N) += A.T @ B`` with ``A`` stored (K, M) and ``B`` (K, N), as
    BLAS calls on tiles of 64 rows x up to 128 of depth, as many columns as keep a tile
    under TILE_M * TILE_N * TILE_K multiply-adds (the per-step weight gradients of the
    batched LSTM: K = B is small, and the tiles stay on OpenBLAS's no-packing path)."""
    cdef int i0 = 0, j0, k0, m, n, k
    cdef int tk = K if K < 128 else 128
    cdef int tn = (TILE_M * TILE_N * TILE_K) // (64 * tk) // 64 * 64
    if tn < 64:
        tn = 64
    while i0 < M:
        m = 64 if M - i0 > 64 else M - i0
        j0 = 0
        while j0 < N:
            n = tn if N - j0 > tn else N - j0
            k0 = 0
            while k0 < K:
                k = tk if K - k0 > tk else K - k0
                gemm(True, False, m, n, k, 1, A + k0 * lda + i0, lda, B + k0 * ldb + j0,
                     ldb, 1, C + i0 * ldc + j0, ldc)
                k0 += tk
            j0 += tn
        i0 += 64


cdef inline void gemv(bint trans_a, int M, int N, floating alpha,
                      const floating* A, int lda, const floating* x,
                      floating beta, floating* y) noexcept nogil:
    """Row-major ``y = alpha * op(A) @ x + beta * y`` with ``A`` stored (M, N).

    ``y`` has M entries (N when ``trans_a``); ``x`` has N (M when ``trans_a``).
    """
    cdef int one = 1
    # row-major A (M, N) is column-major A^T (N, M): flip the transpose flag
    cdef char t = b'N' if trans_a else b'T'
    if M <= 0 or N <= 0:
        return
    if floating is float:
        sgemv(&t, &N, &M, &alpha, <float*>A, &lda, <float*>x, &one, &beta, y, &one)
    else:
        dgemv(&t, &N, &M, &alpha, <double*>A, &lda, <double*>x, &one, &beta, y, &one)


cdef inline void axpy(int n, floating alpha, const floating* x,
                      floating* y) noexcept nogil:
    """``y += alpha * x`` over n contiguous entries."""
    cdef int one = 1
    if n <= 0:
        return
    if floating is float:
        saxpy(&n, &alpha, <float*>x, &one, y, &one)
    else:
        daxpy(&n, &alpha, <double*>x, &one, y, &one)


cdef inline floating dot(int n, const floating* x, const floating* y) noexcept nogil:
    """``sum(x * y)`` over n contiguous entries."""
    cdef int one = 1
    if n <= 0:
        return 0
    if floating is float:
        return sdot(&n, <float*>x, &one, <float*>y, &one)
    else:
        return ddot(&n, <double*>x, &one, <double*>y, &one)
