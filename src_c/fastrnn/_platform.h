/* Portable primitives of the fastrnn kernels: one place for what differs between
 * compilers (GCC, clang, Apple clang, MSVC) and systems (Linux, macOS, Windows).
 *
 * Private; included by _vecmath.h and _gemv.h (and meant for _team.h).
 *
 *   FR_RESTRICT                      C99 restrict, spelt as every compiler takes it
 *   fr_atomic_load_relaxed/acquire   int loads
 *   fr_atomic_store_release          int store
 *   fr_atomic_fetch_add_relaxed/release   returns the old value
 *   fr_atomic_cas_acq_rel(p, e, d)   *p from e to d: 1 if it was e (then it is d)
 *   fr_cpu_pause()                   a spin-wait hint (x86 pause, ARM yield)
 *   fr_thread_yield()                gives the core up (sched_yield, SwitchToThread)
 *   fr_clock_ticks()                 a cheap monotonic clock: TSC ticks on x86,
 *                                    nanoseconds elsewhere; only compared with itself
 *   FR_X86_DISPATCH                  1 where loops are compiled per instruction set
 *                                    and picked at load time (GCC or clang on x86-64)
 *   fr_simd_isa                      the level picked: FR_SIMD_BASELINE (SSE2),
 *                                    FR_SIMD_AVX2, FR_SIMD_AVX512F
 *   FR_CONTRACT_FAST_BEGIN / _END    a region whose a * b + c may become an FMA
 *
 * The atomics take plain int (the counters are ints in buffers that Cython allocates):
 * GCC and clang through their __atomic builtins, MSVC through its Interlocked
 * intrinsics and, on x86/x64, volatile accesses (there, with the compiler barrier,
 * loads are acquires and stores releases). C11 <stdatomic.h> would need _Atomic
 * objects (clang rejects plain ones) and MSVC has it only as an experiment.
 *
 * The dispatch is not GCC's target_clones: its ifunc resolver runs before any code
 * of ours and cannot be told to pick another clone, and musl's loader rejects the
 * IRELATIVE relocations it needs. Instead each loop is compiled per level
 * (FR_ISA_FN in _vecmath.h) and fr_simd_isa, set once when the module is loaded,
 * picks one: the best the CPU has, capped by the environment variable FASTRNN_SIMD
 * ("baseline" or "sse2", "avx2", "avx512f"; unset, empty or "auto": no cap). Each
 * module reads it itself, so set it before fastrnn is imported.
 */
#ifndef FASTRNN_PLATFORM_H
#define FASTRNN_PLATFORM_H

#include <stdlib.h>
#include <string.h>

#if defined(_MSC_VER) || defined(__GNUC__) || defined(__clang__)
#define FR_RESTRICT __restrict
#else
#define FR_RESTRICT
#endif

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#define FR_X86 1
#else
#define FR_X86 0
#endif

/* ---------------------------------------------------------------- atomics (int) */
#if defined(__GNUC__) || defined(__clang__)
static inline int fr_atomic_load_relaxed(const int *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline int fr_atomic_load_acquire(const int *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void fr_atomic_store_release(int *p, int v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline int fr_atomic_fetch_add_relaxed(int *p, int v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
static inline int fr_atomic_fetch_add_release(int *p, int v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_RELEASE);
}
static inline int fr_atomic_cas_acq_rel(int *p, int expected, int desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}
#elif defined(_MSC_VER)
#include <intrin.h>
/* int and long are both 32 bits on Windows. The Interlocked functions are full
 * barriers (at least acquire-release). */
static inline int fr_atomic_load_acquire(const int *p)
{
#if FR_X86
    int v = *(const volatile int *)p;
    _ReadWriteBarrier();
    return v;
#else
    return (int)__ldar32((unsigned __int32 volatile *)p);
#endif
}
static inline int fr_atomic_load_relaxed(const int *p)
{
    return *(const volatile int *)p;
}
static inline void fr_atomic_store_release(int *p, int v)
{
#if FR_X86
    _ReadWriteBarrier();
    *(volatile int *)p = v;
#else
    __stlr32((unsigned __int32 volatile *)p, (unsigned __int32)v);
#endif
}
static inline int fr_atomic_fetch_add_release(int *p, int v)
{
    return (int)_InterlockedExchangeAdd((volatile long *)p, (long)v);
}
static inline int fr_atomic_fetch_add_relaxed(int *p, int v)
{
    return fr_atomic_fetch_add_release(p, v);
}
static inline int fr_atomic_cas_acq_rel(int *p, int expected, int desired)
{
    return _InterlockedCompareExchange((volatile long *)p, (long)desired,
                                       (long)expected) == (long)expected;
}
#else
#error "fastrnn: no atomics for this compiler (_platform.h knows GCC, clang and MSVC)"
#endif

/* ------------------------------------------------------- spin waits, yield, clock */
#if FR_X86
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <emmintrin.h>
#endif
static inline void fr_cpu_pause(void) { _mm_pause(); }
#elif (defined(__GNUC__) || defined(__clang__)) && (defined(__aarch64__) || defined(__arm__))
static inline void fr_cpu_pause(void) { __asm__ __volatile__("yield" ::: "memory"); }
#elif defined(_MSC_VER) && (defined(_M_ARM64) || defined(_M_ARM))
static inline void fr_cpu_pause(void) { __yield(); }
#else
static inline void fr_cpu_pause(void) {}
#endif

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
static inline void fr_thread_yield(void) { SwitchToThread(); }
#else
#include <sched.h>
#include <time.h>
static inline void fr_thread_yield(void) { sched_yield(); }
#endif

static inline long long fr_clock_ticks(void)
{
#if FR_X86 && defined(_MSC_VER)
    return (long long)__rdtsc();
#elif FR_X86
    return (long long)__builtin_ia32_rdtsc();
#elif defined(_WIN32)
    LARGE_INTEGER c, f;
    QueryPerformanceCounter(&c);
    QueryPerformanceFrequency(&f);
    return (c.QuadPart / f.QuadPart) * 1000000000LL
           + (c.QuadPart % f.QuadPart) * 1000000000LL / f.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
#endif
}

/* --------------------------------------------------- instruction sets, FMA regions */
#define FR_SIMD_BASELINE 0
#define FR_SIMD_AVX2 1
#define FR_SIMD_AVX512F 2

#if (defined(__GNUC__) || defined(__clang__)) && !defined(_MSC_VER) && defined(__x86_64__)
#define FR_X86_DISPATCH 1
#else
#define FR_X86_DISPATCH 0
#endif

static int fr_simd_isa = FR_SIMD_BASELINE;     /* one per module; set at load time */

/* The best level this CPU runs (FR_SIMD_BASELINE without the dispatch) */
static inline int fr_simd_cpu(void)
{
#if FR_X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return FR_SIMD_AVX512F;
    if (__builtin_cpu_supports("avx2")) return FR_SIMD_AVX2;
#endif
    return FR_SIMD_BASELINE;
}

/* The level for a FASTRNN_SIMD value (NULL: unset): the CPU's, capped by the value;
 * an unknown value caps nothing (fastrnn._ext warns about it). */
static inline int fr_simd_pick(const char *want)
{
    int cpu = fr_simd_cpu(), cap = FR_SIMD_AVX512F;
    if (want && (!strcmp(want, "baseline") || !strcmp(want, "sse2")))
        cap = FR_SIMD_BASELINE;
    else if (want && !strcmp(want, "avx2"))
        cap = FR_SIMD_AVX2;
    return cpu < cap ? cpu : cap;
}

static inline const char *fr_simd_name(int level)
{
#if FR_X86_DISPATCH
    return level == FR_SIMD_AVX512F ? "avx512f" : level == FR_SIMD_AVX2 ? "avx2" : "sse2";
#else
    (void)level;
    return "baseline (no runtime dispatch)";
#endif
}

#if FR_X86_DISPATCH
__attribute__((constructor)) static void fr_simd_init(void)
{
    fr_simd_isa = fr_simd_pick(getenv("FASTRNN_SIMD"));
}
#define FR_TARGET_AVX2 __attribute__((target("avx2"), noinline))
#define FR_TARGET_AVX512F __attribute__((target("avx512f"), noinline))
#define FR_TARGET_BASELINE __attribute__((noinline))
#endif

#if defined(__clang__)
#define FR_CONTRACT_FAST_BEGIN _Pragma("clang fp contract(fast)")
#define FR_CONTRACT_FAST_END _Pragma("clang fp contract(off)")
#elif defined(__GNUC__)
#define FR_CONTRACT_FAST_BEGIN _Pragma("GCC push_options") \
    _Pragma("GCC optimize (\"fp-contract=fast\")")
#define FR_CONTRACT_FAST_END _Pragma("GCC pop_options")
#else
#define FR_CONTRACT_FAST_BEGIN
#define FR_CONTRACT_FAST_END
#endif

#endif
