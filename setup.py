"""Extension modules of fastrnn (metadata lives in pyproject.toml).

Environment switches:
  FASTRNN_DEBUG_CYTHON=1  boundscheck/initializedcheck on (CI runs the tests once like this)
  FASTRNN_ANNOTATE=1      write Cython's HTML annotation next to the sources
  FASTRNN_OPENMP=0        build without OpenMP (batched recurrences then run on one thread)
  FASTRNN_MODULES=_rnn,_ops  build a subset (development only)

The .pyx sources are cythonized when the extensions are built (build_ext), not when
setup.py runs, so an sdist carries the .pyx/.pxd/.h sources (MANIFEST.in) and no
generated C.
"""
import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

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

# -ffp-contract=off: no fused multiply-add, so every update rounds as written (like NumPy);
# -fno-trapping-math: lets GCC if-convert (and so vectorise) the clamps in _vecmath.h
COMPILE_ARGS = (["-O3"] if not DEBUG else ["-O1", "-g"]) + ["-ffp-contract=off", "-fno-trapping-math"]

# OpenMP: the thread team of the batched recurrences (src_c/fastrnn/_team.h)
OPENMP = os.environ.get("FASTRNN_OPENMP", "1") != "0"
OPENMP_MODULES = {"_lstm", "_rnn"}

SRC = os.path.join("src_c", "fastrnn")
HEADERS = ("_vecmath.h", "_gemv.h", "_team.h", "_math.pxd", "_blas.pxd", "_common.pxd")
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
    `sdist` generates nothing)."""

    def build_extensions(self):
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
        extra_compile_args=COMPILE_ARGS + (["-fopenmp"] if omp else []),
        extra_link_args=["-fopenmp"] if omp else [],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                       ("FASTRNN_DEBUG", "1" if DEBUG else "0")],
    )
    for name in MODULES
    for omp in [OPENMP and name in OPENMP_MODULES]
]

setup(ext_modules=extensions, cmdclass={"build_ext": BuildExt})
