/* The thread team of the batched recurrences (src_c/fastrnn/_lstm.pyx).
 *
 * Private; included through the cdef extern blocks of the kernels. A batched call runs
 * in one OpenMP parallel region. The work of a time step is a round of blocks (64
 * hidden units each, see the rounds in _common.pxd): a thread takes the blocks of its
 * own range of every round first (so that each step it multiplies the same slice of
 * the weights, from its core's cache), then any block of another range whose owner has
 * not arrived (a descheduled thread, or one sharing its core, leaves its work to the
 * others), and counts each finished block; a round starts when the previous round's
 * count is complete, so no thread waits for one that has nothing left to do. Which
 * thread computes a block does not change its numbers: the results do not depend on
 * the thread count.
 *
 * fr_team_size() / fr_team_rank(): the current team (1 / 0 outside a region or without
 * OpenMP).
 *
 * fr_blas_threads(): the thread count of the BLAS the kernels call (SciPy's OpenBLAS),
 * read through its get_num_threads function; fastrnn._config hands the addresses of
 * get_num_threads and set_num_threads to fr_set_blas_thread_functions when it loads;
 * 1 until then. A batched call's team has that many threads (fr_team_begin), so one
 * setting (fastrnn.set_num_threads, threadpoolctl) governs both.
 */
#ifndef FASTRNN_TEAM_H
#define FASTRNN_TEAM_H

#include <sched.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FR_PAUSE() __builtin_ia32_pause()
#elif defined(__GNUC__) && defined(__aarch64__)
#define FR_PAUSE() __asm__ __volatile__("yield")
#else
#define FR_PAUSE() ((void)0)
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

static inline int fr_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Work-claiming counters (see the rounds in _common.pxd). Relaxed: a claim only needs
 * to be unique; the data a round reads is ordered by the done counters below. */
static inline int fr_claim(int *counter, int n)
{
    return __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static inline int fr_peek(const int *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* One more block of a round finished: a release, so that a thread that sees the count
 * complete (fr_wait_count, an acquire) sees everything the block wrote. */
static inline void fr_count_done(int *counter)
{
    __atomic_fetch_add(counter, 1, __ATOMIC_RELEASE);
}

/* Wait until *counter >= n: spin briefly, then yield the core (the thread that still
 * works on a block may share it). */
static inline void fr_wait_count(const int *counter, int n)
{
    unsigned spins = 0;
    while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < n) {
        if (++spins < 4096u)
            FR_PAUSE();
        else
            sched_yield();
    }
}

/* Flags of the batch-1 LSTM pair (_pair_next in _lstm.pyx): a release store, an
 * acquire load, and a claim that succeeds for exactly one thread (*p from expected to
 * expected + 1; acquire-release, so the claimer sees what the item's inputs were). */
static inline void fr_store(int *p, int v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline int fr_load(const int *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline int fr_take(int *p, int expected)
{
    return __atomic_compare_exchange_n(p, &expected, expected + 1, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

/* A cheap clock for telling a stalled thread from a busy one (TSC ticks on x86,
 * nanoseconds elsewhere; only compared with itself). */
static inline long long fr_ticks(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    return (long long)__builtin_ia32_rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
#endif
}

/* One turn of a wait loop: spin briefly, then yield the core (as fr_wait_count). */
static inline void fr_relax(unsigned *spins)
{
    if (++*spins < 4096u)
        FR_PAUSE();
    else
        sched_yield();
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
