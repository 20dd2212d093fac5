"""The house files say what is true: license, changelog, contributing guide, pre-commit hooks."""

import configparser
import hashlib
import re
import tomllib
from pathlib import Path

import llmreg

ROOT = Path(__file__).resolve().parents[2]
#: sha256 of the Apache License 2.0 as apache.org publishes it (LICENSE-2.0.txt).
APACHE_2_0_SHA256 = "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4"


def _readme_command(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(
        rf"<!-- {marker}:start -->\n```bash\n(.*?)\n```\n<!-- {marker}:end -->", text, re.S
    )
    assert block, f"README.md lacks its {marker} block"
    return block[1]


def test_the_license_is_the_apache_2_0_text_every_distribution_declares():
    assert hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_0_SHA256
    for pyproject in [ROOT / "core/pyproject.toml", *sorted(ROOT.glob("plugins/*/pyproject.toml"))]:
        assert tomllib.loads(pyproject.read_text())["project"]["license"] == "Apache-2.0", pyproject


def test_the_changelog_has_an_unreleased_section_and_one_for_the_running_version():
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings[0].startswith("Unreleased")
    assert any(h.split()[0] == llmreg.__version__ for h in headings[1:]), headings


def test_contributing_quotes_the_readmes_two_commands_as_written():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    for marker in ("main-job", "tests"):
        assert f"```bash\n{_readme_command(marker)}\n```" in text, marker


def test_contributing_names_every_tox_env():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    envs = [e.strip() for e in tox["tox"]["env_list"].split(",")]
    table = (ROOT / "CONTRIBUTING.md").read_text()
    assert [e for e in envs if f"| `{e}` |" not in table] == []


def test_pre_commit_runs_ruff_check_ruff_format_and_mypy():
    text = (ROOT / ".pre-commit-config.yaml").read_text()
    entries = re.findall(r"^\s+entry: (.+)$", text, re.M)
    assert any(e.startswith("ruff check") for e in entries)
    assert any(e.startswith("ruff format") for e in entries)
    assert any("-e type" in e or e.startswith("mypy") for e in entries)
