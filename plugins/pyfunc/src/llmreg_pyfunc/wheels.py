"""Wheels of the llmreg distributions a model uses, saved with the model.

A model saved with its wheels installs wherever MLflow rebuilds its environment
(``mlflow models prepare-env``/``serve`` with ``virtualenv`` or ``uv``,
``spark_udf(env_manager=...)``, ``build-docker``) although llmreg is on no package
index: the wheels are a model artifact (``artifacts/wheels/``) and
``requirements.txt`` names them by a path relative to the model folder, which is
where MLflow runs ``pip install -r requirements.txt`` (or ``uv pip install``). This is
what ``mlflow.models.add_libraries_to_model`` does for a whole environment; here only
the llmreg distributions are carried, everything else stays a pin resolved from the index.

Where a wheel comes from, per installed distribution (its ``direct_url.json``):

- installed from a package index: no wheel; the plain ``name==version`` pin stays;
- installed from a wheel file: that file;
- installed from a source tree (``pip install -e``, ``uv pip install ./path``): a wheel
  built from the tree with ``uv build --wheel`` (or ``pip wheel --no-deps``), cached in
  :func:`cache_dir` under the version and a hash of the tree's files, so only the first
  save after a change builds (seconds); later saves hash the tree (milliseconds).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

from llmreg.errors import ConfigError

logger = logging.getLogger(__name__)

#: The model artifact holding the wheels (``artifacts/wheels/`` in the model folder).
ARTIFACT = "wheels"
#: How requirements.txt names a bundled wheel: relative to the model folder.
REQUIREMENT_PREFIX = f"artifacts/{ARTIFACT}/"
#: Folders of a source tree that are never part of its wheel (nor of its hash).
_SKIP_DIRS = frozenset(
    {".git", ".tox", ".venv", "venv", "__pycache__", "build", "dist", ".mypy_cache", "tests"}
)
_LOCK = threading.Lock()


def cache_dir() -> Path:
    """Where built wheels are kept: ``$LLMREG_WHEEL_CACHE``, else ``~/.cache/llmreg/wheels``."""
    configured = os.environ.get("LLMREG_WHEEL_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmreg" / "wheels"


def installed_from(distribution: str) -> Path | None:
    """Return the wheel file or source folder ``distribution`` was installed from, or
    ``None`` when it came from a package index (or a remote URL)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"the distribution {distribution} is not installed, so its wheel cannot be saved"
        ) from None
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        url = json.loads(text).get("url", "")
    except (ValueError, AttributeError):
        return None
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    path = Path(unquote(parsed.path))
    return path if path.exists() else None


def tree_hash(root: Path) -> str:
    """A hash of the files of a source tree that go into its wheel (names and bytes)."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(folder, name)
            digest.update(str(path.relative_to(root)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def wheel_for(distribution: str) -> Path | None:
    """Return a wheel of the installed ``distribution``, or ``None`` if it came from an index.

    Raises:
        ConfigError: it is not installed, or its source tree cannot be built into a wheel
            (the message says how to save with plain pins instead).
    """
    source = installed_from(distribution)
    if source is None:
        return None
    if source.is_file():
        return source if source.suffix == ".whl" else None
    version = importlib.metadata.version(distribution)
    target = cache_dir() / f"{distribution}-{version}-{tree_hash(source)}"
    with _LOCK:
        found = sorted(target.glob("*.whl")) if target.is_dir() else []
        if found:
            return found[0]
        return _build(distribution, source, target)


def _build(distribution: str, source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        out = work / "out"
        out.mkdir()
        uv = shutil.which("uv")
        command = (
            [uv, "build", "--wheel", "--quiet", "--out-dir", str(out), str(source)]
            if uv
            else [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out),
                  str(source)]
        )  # fmt: skip
        logger.info("building a wheel of %s from %s", distribution, source)
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        wheels = sorted(out.glob("*.whl"))
        if done.returncode != 0 or not wheels:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise ConfigError(
                f"cannot build a wheel of {distribution} from {source} ({detail[0][:200]}); "
                "install uv or pip, or save with CustomSaver(bundle_wheels=False) to pin "
                "the llmreg distributions by version only"
            )
        try:
            out.rename(target)
        except OSError:  # another process built it first
            if not any(target.glob("*.whl")):
                raise
        return sorted(target.glob("*.whl"))[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def stage(wheels: list[Path], folder: Path) -> Path:
    """Copy (or hard-link) ``wheels`` into ``folder/wheels``, the artifact to log."""
    target = folder / ARTIFACT
    target.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        copy = target / wheel.name
        try:
            os.link(wheel, copy)
        except OSError:
            shutil.copyfile(wheel, copy)
    return target


def wheel_artifacts(wheels: tuple[Path, ...] | list[Path], folder: str | Path) -> dict[str, str]:
    """The ``artifacts`` entry for ``log_model``: ``{"wheels": <folder>/wheels}`` holding
    ``wheels``, or ``{}`` when there are none."""
    return {ARTIFACT: str(stage(list(wheels), Path(folder)))} if wheels else {}


__all__ = [
    "ARTIFACT",
    "REQUIREMENT_PREFIX",
    "cache_dir",
    "installed_from",
    "stage",
    "tree_hash",
    "wheel_artifacts",
    "wheel_for",
]
