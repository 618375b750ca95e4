"""Extension modules of fastrnn (metadata lives in pyproject.toml).

Environment switches:
  FASTRNN_DEBUG_CYTHON=1  boundscheck/initializedcheck on (CI runs the tests once like this)
  FASTRNN_ANNOTATE=1      write Cython's HTML annotation next to the sources
  FASTRNN_MODULES=_rnn,_ops  build a subset (development only)

The .pyx sources are cythonized when the extensions are built (build_ext), not when
setup.py runs, so an sdist carries the .pyx/.pxd/.h sources (MANIFEST.in) and no
generated C.
"""
import os
import subprocess
import sys

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

# Flags per compiler family. Every family keeps multiplies and adds apart (no fused
# multiply-add contraction), so the updates round exactly as the NumPy twin's:
# GCC/clang -ffp-contract=off, MSVC /fp:precise (which does not contract unless
# /fp:contract is given). -fno-trapping-math lets GCC if-convert (and so vectorise) the
# clamps in _vecmath.h. Release builds carry no debug information (-g0; Linux links
# with -s as well). The kernels' thread team (src_c/fastrnn/_team.h) runs on POSIX
# threads (-pthread), Windows threads under MSVC; no OpenMP runtime is needed.
UNIX_ARGS = ["-ffp-contract=off", "-fno-trapping-math", "-pthread"]
COMPILE_ARGS = {
    "gcc": (["-O1", "-g"] if DEBUG else ["-O3", "-g0"]) + UNIX_ARGS,
    "msvc": (["/Od", "/Zi"] if DEBUG else ["/O2"]) + ["/fp:precise"],
}
LINK_ARGS = {"gcc": ["-pthread"] + ([] if DEBUG or not sys.platform.startswith("linux")
                                    else ["-s"]),
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


SRC = os.path.join("src_c", "fastrnn")
HEADERS = ("_platform.h", "_vecmath.h", "_gemv.h", "_team.h", "_team_hooks.pxi", "_math.pxd",
           "_blas.pxd", "_common.pxd")
MODULES = ["_rnn", "_lstm", "_ops", "_layers"]
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
    `sdist` generates nothing), and sets the flags of the compiler family it finds."""

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
        print(f"fastrnn: {family} compiler")
        for ext in self.extensions:
            ext.extra_compile_args = list(COMPILE_ARGS[kind])
            ext.extra_link_args = list(LINK_ARGS[kind])
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
