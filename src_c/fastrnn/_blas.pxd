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


cdef inline void gemm_tiles(bint trans_a, int M, int N, int K, const floating* A, int lda,
                            const floating* B, int ldb, floating beta, floating* C,
                            int ldc) noexcept nogil:
    """Row-major ``C (M, N) = op(A) @ B (K, N) + beta * C`` (``A`` stored (M, K), or (K, M)
    with ``trans_a``) as BLAS calls on tiles, the depth tiles of each C tile accumulated
    in order (the first with ``beta``), so that every C entry sums the same way whatever
    M and N are. Tiles: TILE_M x TILE_N x TILE_K for the per-step products (B rows x a
    block of units x the depth); with ``trans_a`` (the per-step weight gradients: K = B
    is small) 64 rows x up to 128 of depth x as many columns as keep a tile within
    TILE_M * TILE_N * TILE_K multiply-adds."""
    cdef int i0, j0 = 0, k0, m, n, k, tm = TILE_M, tn = TILE_N, tk = TILE_K
    if trans_a:
        tm = 64
        tk = K if K < 128 else 128
        tn = (TILE_M * TILE_N * TILE_K) // (64 * tk) // 64 * 64
        if tn < 64:
            tn = 64
    while j0 < N:                      # a tile of B is reused by every row tile of A
        n = tn if N - j0 > tn else N - j0
        k0 = 0
        while k0 < K:
            k = tk if K - k0 > tk else K - k0
            i0 = 0
            while i0 < M:
                m = tm if M - i0 > tm else M - i0
                gemm(trans_a, False, m, n, k, 1,
                     A + (k0 * lda + i0 if trans_a else i0 * lda + k0), lda,
                     B + k0 * ldb + j0, ldb, beta if k0 == 0 else 1, C + i0 * ldc + j0, ldc)
                i0 += tm
            k0 += tk
        j0 += tn


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


cdef extern from "_gemv.h" nogil:
    int fr_gemv_rows_f(int m, int n, const float* W, const float* x, float* y, int rev)
    int fr_gemv_rows_d(int m, int n, const double* W, const double* x, double* y, int rev)
    int fr_gemv_t_f(int m, int n, const float* W, const float* x, float* y, int beta)
    int fr_gemv_t_d(int m, int n, const double* W, const double* x, double* y, int beta)
    int fr_gemv_ok(int n)
    int fr_gemv_off


cdef inline bint gemv_rows_own(int N) noexcept nogil:
    """True when :func:`gemv_rows` and :func:`gemv_t_rows` multiply rows of N columns in
    ``_gemv.h`` (either dtype): then no entry of a row product depends on the rows beside
    it in the call."""
    return fr_gemv_ok(N)


cdef inline void gemv_rows(int M, int N, const floating* A, const floating* x, floating* y,
                           bint rev=False) noexcept nogil:
    """Row-major ``y += A @ x`` with ``A`` stored (M, N), rows N apart: through
    ``_gemv.h`` where it applies (AVX-512F, N <= 128; the row blocks last to first when
    ``rev``), else BLAS. Each entry of ``y`` does not depend on M or on ``rev``, only on
    its row, on ``x`` and on which of the two ran (fixed for a process and a size)."""
    if floating is float:
        if fr_gemv_rows_f(M, N, A, x, y, rev):
            return
    else:
        if fr_gemv_rows_d(M, N, A, x, y, rev):
            return
    gemv(False, M, N, 1, A, N, x, 1, y)


cdef inline void gemv_t_rows(int M, int N, const floating* A, const floating* x,
                             floating beta, floating* y) noexcept nogil:
    """Row-major ``y = beta * y + A.T @ x`` with ``A`` stored (M, N), rows N apart:
    through ``_gemv.h`` where it applies (AVX-512F, N <= 128, beta 0 or 1; each entry
    sums its rows in order), else BLAS."""
    if beta == 0 or beta == 1:
        if floating is float:
            if fr_gemv_t_f(M, N, A, x, y, beta == 1):
                return
        else:
            if fr_gemv_t_d(M, N, A, x, y, beta == 1):
                return
    gemv(True, M, N, 1, A, N, x, beta, y)


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
