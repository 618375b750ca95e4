"""Extension modules of fastrnn (metadata lives in pyproject.toml).

Environment switches:
  FASTRNN_DEBUG_CYTHON=1  boundscheck/initializedcheck on (CI runs the tests once like this)
  FASTRNN_ANNOTATE=1      write Cython's HTML annotation next to the sources
"""
import os

import numpy  # noqa: F401  (build requirement; kept for parity with numpy-based builds)
from Cython.Build import cythonize
from setuptools import Extension, setup

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

# the kernels' thread team (src_c/fastrnn/_team.h) is built on POSIX threads
THREADS = ["-pthread"]

MODULES = ["_rnn", "_lstm", "_ops", "_layers"]
# FASTRNN_MODULES=_rnn,_ops builds a subset (development only)
if os.environ.get("FASTRNN_MODULES"):
    MODULES = [m for m in os.environ["FASTRNN_MODULES"].split(",") if m]

extensions = [
    Extension(
        f"fastrnn.{name}",
        [f"src_c/fastrnn/{name}.pyx"],
        depends=[f"src_c/fastrnn/{h}" for h in
                 ("_vecmath.h", "_gemv.h", "_team.h", "_team_hooks.pxi", "_math.pxd", "_blas.pxd",
                  "_common.pxd")],
        include_dirs=["src_c/fastrnn"],
        extra_compile_args=COMPILE_ARGS + THREADS,
        extra_link_args=THREADS,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                       ("FASTRNN_DEBUG", "1" if DEBUG else "0")],
    )
    for name in MODULES
    if os.path.exists(f"src_c/fastrnn/{name}.pyx")
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["src_c"],
        compiler_directives=DIRECTIVES,
        annotate=ANNOTATE,
    ),
)
