"""Extension modules of fastrnn (metadata lives in pyproject.toml).

Environment switches:
  FASTRNN_DEBUG_CYTHON=1  boundscheck/initializedcheck on (CI runs the tests once like this)
  FASTRNN_ANNOTATE=1      write Cython's HTML annotation next to the sources
  FASTRNN_OPENMP=0        build without OpenMP (batched recurrences then run on one thread)
  FASTRNN_FAIL_NO_OPENMP=1  no working OpenMP is an error (CI), not a warning
  LIBOMP_PREFIX=/path     where libomp is for Apple clang (default: Homebrew's)
  FASTRNN_MODULES=_rnn,_ops  build a subset (development only)

The .pyx sources are cythonized when the extensions are built (build_ext), not when
setup.py runs, so an sdist carries the .pyx/.pxd/.h sources (MANIFEST.in) and no
generated C.
"""
import os
import subprocess
import sys
import tempfile
import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError, LinkError

DEBUG = os.environ.get("FASTRNN_DEBUG_CYTHON", "0") == "1"
ANNOTATE = os.environ.get("FASTRNN_ANNOTATE", "0") == "1"

DIRECTIVES = dict(
    language_level=3,
    binding=True,
    embedsignature=True,
    boundscheck=DEBUG,
    initializedcheck=DEBUG,
    wraparound=False,
    nonecheck=False,
    cdivision=True,
)

# OpenMP: the thread team of the batched recurrences (src_c/fastrnn/_team.h)
OPENMP = os.environ.get("FASTRNN_OPENMP", "1") != "0"
# FASTRNN_FAIL_NO_OPENMP=1 (CI, release builds): no OpenMP is an error, not a warning
FAIL_NO_OPENMP = os.environ.get("FASTRNN_FAIL_NO_OPENMP", "0") == "1"
OPENMP_MODULES = {"_lstm", "_rnn"}

# Flags per compiler family. Every family keeps multiplies and adds apart (no fused
# multiply-add contraction), so the updates round exactly as the NumPy twin's:
# GCC/clang -ffp-contract=off, MSVC /fp:precise (which does not contract unless
# /fp:contract is given). -fno-trapping-math lets GCC if-convert (and so vectorise) the
# clamps in _vecmath.h. Release builds carry no debug information (-g0; Linux links
# with -s as well): a 1 MB wheel (libgomp included) instead of 4.3 MB.
UNIX_ARGS = ["-ffp-contract=off", "-fno-trapping-math"]
COMPILE_ARGS = {
    "gcc": (["-O1", "-g"] if DEBUG else ["-O3", "-g0"]) + UNIX_ARGS,
    "msvc": (["/Od", "/Zi"] if DEBUG else ["/O2"]) + ["/fp:precise"],
}
LINK_ARGS = {"gcc": [] if DEBUG or not sys.platform.startswith("linux") else ["-s"],
             "msvc": []}


def compiler_family(compiler):
    """"msvc", "apple-clang", "clang" or "gcc" (GCC and other GCC-compatible drivers)."""
    if compiler.compiler_type == "msvc":
        return "msvc"
    cmd = [a for a in compiler.compiler_so if os.path.basename(a) != "ccache"][:1]
    try:
        out = subprocess.run(cmd + ["--version"], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return "gcc"
    if "Apple clang" in out:
        return "apple-clang"
    return "clang" if "clang" in out else "gcc"


def libomp_prefix():
    """Where libomp is for Apple clang: $LIBOMP_PREFIX, else Homebrew's."""
    if os.environ.get("LIBOMP_PREFIX"):
        return os.environ["LIBOMP_PREFIX"]
    try:
        out = subprocess.run(["brew", "--prefix", "libomp"], capture_output=True, text=True,
                             timeout=60)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    for p in ("/opt/homebrew/opt/libomp", "/usr/local/opt/libomp"):
        if os.path.isdir(p):
            return p
    return None


def openmp_flags(family):
    """(compile args, link args) that turn OpenMP on for this compiler family."""
    if family == "msvc":
        return ["/openmp"], []
    if family == "apple-clang":          # no -fopenmp driver flag; the runtime is libomp
        prefix = libomp_prefix()
        inc = [f"-I{prefix}/include"] if prefix else []
        lib = [f"-L{prefix}/lib"] if prefix else []
        return ["-Xpreprocessor", "-fopenmp"] + inc, lib + ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


OPENMP_TEST = r"""
#include <omp.h>
int main(void)
{
    int n = 0;
#pragma omp parallel reduction(+ : n)
    n += omp_get_num_threads() > 0;
    return n > 0 ? 0 : 1;
}
"""


def openmp_works(compiler, cflags, lflags):
    """Whether a small OpenMP program compiles and links with these flags."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as f:
            f.write(OPENMP_TEST)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
            compiler.link_executable(objs, os.path.join(tmp, "omp_test"), output_dir=tmp,
                                     extra_postargs=lflags)
        except (CompileError, LinkError):
            return False
    return True


SRC = os.path.join("src_c", "fastrnn")
HEADERS = ("_platform.h", "_vecmath.h", "_gemv.h", "_team.h", "_math.pxd", "_blas.pxd",
           "_common.pxd")
MODULES = ["_rnn", "_lstm", "_ops"]
if os.environ.get("FASTRNN_MODULES"):
    MODULES = [m for m in os.environ["FASTRNN_MODULES"].split(",") if m]


def _require(path):
    """A missing source is an error: without it the package would install without its
    compiled kernels (a py3-none-any wheel whose first kernel call fails)."""
    if not os.path.exists(path):
        raise SystemExit(f"setup.py: {path} is missing: fastrnn's compiled kernels cannot be "
                         f"built (an sdist must carry src_c/; see MANIFEST.in)")
    return path


class BuildExt(build_ext):
    """Cythonizes the extensions when they are built (not when setup.py is read, so
    `sdist` generates nothing), and sets the flags of the compiler it finds: its
    family's, and OpenMP's where a test program compiles with them (else a warning and a
    single-thread build)."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:            # the modules compile side by side
            self.parallel = min(len(self.extensions or ()), os.cpu_count() or 1)

    def build_extensions(self):
        family = compiler_family(self.compiler)
        kind = "msvc" if family == "msvc" else "gcc"
        if kind == "gcc":
            # the interpreter's own RUNPATH (e.g. pyenv's -Wl,-rpath,<prefix>/lib) has
            # no business in the modules, which link nothing from that prefix
            self.compiler.linker_so = [a for a in self.compiler.linker_so
                                       if not a.startswith(("-Wl,-rpath", "-Wl,-R"))]
        omp_c, omp_l = openmp_flags(family) if OPENMP else ([], [])
        if OPENMP and not openmp_works(self.compiler, omp_c, omp_l):
            msg = (f"fastrnn: OpenMP does not work with this {family} compiler "
                   f"({' '.join(omp_c + omp_l)}): building without it, so batched calls "
                   f"run on one thread (on macOS: brew install libomp; FASTRNN_OPENMP=0 "
                   f"silences this)")
            if FAIL_NO_OPENMP:
                raise SystemExit(msg + " [FASTRNN_FAIL_NO_OPENMP=1]")
            warnings.warn(msg)
            omp_c, omp_l = [], []
        print(f"fastrnn: {family} compiler; OpenMP: {' '.join(omp_c) or 'off'}")
        for ext in self.extensions:
            omp = ext.name.split(".")[-1] in OPENMP_MODULES
            ext.extra_compile_args = COMPILE_ARGS[kind] + (omp_c if omp else [])
            ext.extra_link_args = LINK_ARGS[kind] + (omp_l if omp else [])
        from Cython.Build import cythonize

        done = {e.name: e for e in cythonize(self.extensions, include_path=["src_c"],
                                             compiler_directives=DIRECTIVES,
                                             annotate=ANNOTATE)}
        for ext in self.extensions:          # keep the objects setuptools has prepared
            ext.sources = done[ext.name].sources
        super().build_extensions()


extensions = [
    Extension(
        f"fastrnn.{name}",
        [_require(os.path.join(SRC, f"{name}.pyx"))],
        depends=[_require(os.path.join(SRC, h)) for h in HEADERS],
        include_dirs=[SRC],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                       ("FASTRNN_DEBUG", "1" if DEBUG else "0")],
    )
    for name in MODULES
]

setup(ext_modules=extensions, cmdclass={"build_ext": BuildExt})
