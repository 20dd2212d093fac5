"""llmreg.discovery: the entry points found without importlib.metadata, as it finds them."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from llmreg.discovery import entry_points


def _dist(root: Path, name: str, version: str, entry_points_txt: str, ext: str = ".dist-info"):
    info = root / f"{name.replace('-', '_')}-{version}{ext}"
    info.mkdir(parents=True)
    meta = "METADATA" if ext == ".dist-info" else "PKG-INFO"
    (info / meta).write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        "Requires-Dist: llmreg>=0.1\nRequires-Dist: other; extra == 'x'\n"
        "\nRequires-Dist: not-a-header (the body)\n",
        encoding="utf-8",
    )
    (info / "entry_points.txt").write_text(entry_points_txt, encoding="utf-8")


def _found(group: str = "llmreg") -> list[tuple[str, str, str, str | None, tuple[str, ...]]]:
    found = entry_points(group)
    assert found is not None
    return sorted(
        (e.name, e.value, e.dist.name, e.dist.version, tuple(e.dist.requires)) for e in found
    )


def test_the_same_entry_points_as_importlib_metadata():
    """On the running environment: the same names, values and distributions."""
    expected = sorted(
        (e.name, e.value, e.dist.name, e.dist.version, tuple(e.dist.requires or ()))
        for e in importlib.metadata.entry_points(group="llmreg")
        if e.dist is not None
    )
    assert _found() == expected
    assert any(name == "echo" for name, *_ in expected)


def test_a_dist_info_on_the_path_the_first_of_a_name_winning(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    _dist(
        first, "llmreg-probe", "1.0", "# a comment\n[other]\nx = y\n[llmreg]\nprobe = probe_mod\n"
    )
    _dist(second, "llmreg_probe", "2.0", "[llmreg]\nprobe = shadowed_mod\n")
    monkeypatch.setattr(sys, "path", [str(first), str(second), str(tmp_path / "missing")])
    assert _found() == [
        ("probe", "probe_mod", "llmreg-probe", "1.0", ("llmreg>=0.1", "other; extra == 'x'"))
    ]
    assert entry_points("other")[0].value == "y"  # type: ignore[index]


def test_eggs_and_zip_files_are_left_to_importlib_metadata(tmp_path, monkeypatch):
    _dist(tmp_path / "eggs", "llmreg-egg", "1.0", "[llmreg]\negg = egg_mod\n", ext=".egg-info")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "eggs")])
    assert entry_points("llmreg") is None
    assert _found("other") == []  # an egg without the group is no reason to fall back
    archive = tmp_path / "code.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("m.py", "")
    monkeypatch.setattr(sys, "path", [str(archive)])
    assert entry_points("llmreg") is None


def test_load_imports_the_module_and_its_attribute(tmp_path, monkeypatch):
    (tmp_path / "probe_target.py").write_text("class A:\n    class B:\n        pass\n")
    _dist(tmp_path, "llmreg-probe", "1.0", "[llmreg]\nm = probe_target\nb = probe_target:A.B\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    loaded = {e.name: e.load() for e in entry_points("llmreg") or []}
    assert loaded["m"].__name__ == "probe_target"
    assert loaded["b"].__qualname__ == "A.B"


def test_discovery_imports_no_importlib_metadata():
    """Loading the plugins (every CLI start) does not import importlib.metadata; the
    test plugins are left out (the example plugin imports pydantic, which does)."""
    env = {**os.environ, "LLMREG_DISABLE_PLUGINS": "llmreg-example,llmreg-broken"}
    probe = (
        "import sys\n"
        "from llmreg.manager import create_plugin_manager\n"
        "create_plugin_manager().load()\n"
        "print('importlib.metadata' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.strip() == "False"
