"""A host app with its own plugin manager is fully isolated from the process-wide one.

The integration env installs ``llmreg-broken`` (its entry point raises on
import). A host builds its own manager without it, then saves, registers,
loads, predicts and serves through that manager alone. Each run is a fresh
interpreter, so ``sys.modules`` shows exactly what was imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

HOST = textwrap.dedent(
    """
    import json, sys, warnings
    from fastapi.testclient import TestClient

    import llmreg.manager
    from llmreg import ModelDefinition, create_plugin_manager
    from llmreg_gateway import create_app

    caught = warnings.catch_warnings(record=True)
    seen_warnings = caught.__enter__()
    warnings.simplefilter("always")
    pm = create_plugin_manager(disable_plugins="llmreg-broken")
    definition = ModelDefinition.from_dict({"provider": "echo", "model": "echo-1"})
    saved = pm.saver().save(definition)
    version = pm.register().register("isolated", saved.uri)
    adapter = pm.loader().load(version.uri)
    answer = adapter.predict(["hello"]).predictions[0]
    adapter.close()
    with TestClient(create_app(version.uri, manager=pm, reload_interval=0)) as http:
        body = http.post(
            "/v1/chat/completions",
            json={"model": "isolated", "messages": [{"role": "user", "content": "hi"}]},
        ).json()
    print(json.dumps({
        "answer": answer,
        "served": body["choices"][0]["message"]["content"],
        "version": version.version,
        "broken_imported": "llmreg_broken" in sys.modules,
        "default_manager_created": llmreg.manager._default is not None,
        "problems": [p.status for p in pm.problems if p.distribution == "llmreg-broken"],
        "plugin_warnings": [str(w.message) for w in seen_warnings
                            if type(w.message).__name__ == "LlmregPluginWarning"],
    }))
    """
)

CONTROL = textwrap.dedent(
    """
    import json, sys, warnings
    from llmreg import get_plugin_manager

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        problems = [p.status for p in get_plugin_manager().problems]
    print(json.dumps({
        "broken_imported": "llmreg_broken" in sys.modules,
        "problems": problems,
        "warned": any("llmreg-broken" in str(w.message) for w in caught),
    }))
    """
)


def _run(code: str, tmp_path: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREG_")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    return {"stderr": done.stderr, **json.loads(done.stdout.strip().splitlines()[-1])}


def test_the_broken_plugin_is_installed_and_breaks_the_default_manager(tmp_path: Path) -> None:
    """Control: without isolation the broken plugin is imported, reported and warned about."""
    seen = _run(CONTROL, tmp_path)
    assert seen["broken_imported"] is True
    assert "failed" in seen["problems"]  # type: ignore[operator]
    assert seen["warned"] is True


def test_a_host_manager_saves_loads_predicts_and_serves_without_it(tmp_path: Path) -> None:
    """The host's manager does the whole lifecycle; the broken plugin is never imported."""
    seen = _run(HOST, tmp_path)
    assert seen["answer"] == "echo: hello"
    assert seen["served"] == "echo: hi"
    assert seen["version"] == 1
    assert seen["broken_imported"] is False
    assert seen["default_manager_created"] is False
    assert seen["problems"] == ["blocked"]
    assert seen["plugin_warnings"] == []
    assert "llmreg-broken" not in str(seen["stderr"])
