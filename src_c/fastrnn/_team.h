/* The thread team of the batched recurrences (src_c/fastrnn/_lstm.pyx, _rnn.pyx).
 *
 * Private; included through the cdef extern blocks of the kernels. The batched
 * recurrences run in one OpenMP parallel region per call; each thread owns a slice of
 * the hidden units, multiplies its slice of every per-step product with single-threaded
 * BLAS calls and meets the others at one barrier per time step.
 *
 * fr_team_size() / fr_team_rank(): the current team (1 / 0 outside a region or without
 * OpenMP). fr_team_barrier(): all threads of the team wait for each other (an orphaned
 * OpenMP barrier; nothing without OpenMP).
 *
 * fr_blas_threads(): the thread count of the BLAS the kernels call (SciPy's OpenBLAS),
 * read through its get_num_threads function; fastrnn._config hands the addresses of
 * get_num_threads and set_num_threads to fr_set_blas_thread_functions when it loads;
 * 1 until then. A batched call's team has that many threads (fr_team_begin), so one
 * setting (fastrnn.set_num_threads, threadpoolctl) governs both.
 */
#ifndef FASTRNN_TEAM_H
#define FASTRNN_TEAM_H

#ifdef _OPENMP
#include <omp.h>
#endif

static inline int fr_team_size(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

static inline int fr_team_rank(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static inline void fr_team_barrier(void)
{
#ifdef _OPENMP
#pragma omp barrier
#endif
}

static inline int fr_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

typedef int (*fr_get_fn)(void);
typedef void (*fr_set_fn)(int);
static fr_get_fn fr_blas_get_fn = 0;           /* one pair per extension module */
static fr_set_fn fr_blas_set_fn = 0;

static inline void fr_set_blas_thread_functions(size_t get_address, size_t set_address)
{
    fr_blas_get_fn = (fr_get_fn)get_address;
    fr_blas_set_fn = (fr_set_fn)set_address;
}

static inline int fr_blas_threads(void)
{
    int n = fr_blas_get_fn ? fr_blas_get_fn() : 1;
    return n < 1 ? 1 : n;
}

/* The team of a batched call: the BLAS's thread count, the BLAS then set to 1 thread
 * for the call (its own threads would compete with the team's for the cores; given no
 * work, they sleep). fr_team_end restores the count. Without the functions: 1. */
static inline int fr_team_begin(void)
{
    int n = fr_blas_threads();
    if (n > 1 && fr_blas_set_fn) fr_blas_set_fn(1);
    return fr_blas_set_fn ? n : 1;
}

static inline void fr_team_end(int n)
{
    if (n > 1 && fr_blas_set_fn) fr_blas_set_fn(n);
}

#endif
