"""RegisterContract: a real lifecycle on the plugin's register, not only its shape.

Versions start at 1 and rise per name; ``register`` and ``versions`` return
:class:`~llmreg.results.ModelVersionRef`; the config's tags are on every version
it creates; an alias move records the version it left, and the history stays
whole while four processes promote at once; a missing version is
:class:`~llmreg.errors.ModelNotFoundError`.
"""

from __future__ import annotations

import importlib
import itertools
import json
import multiprocessing
import os
import uuid
from pathlib import Path
from typing import Any, ClassVar

import pytest

from llmreg.bases import AliasRegister, Register
from llmreg.errors import ConfigError, ModelNotFoundError
from llmreg.results import AliasMove, ModelVersionRef
from llmreg.testing import isolated_manager
from llmreg.testing.components import ComponentContract, class_plugin
from llmreg.testing.failures import contract_failure, expect, expect_raises

#: The tag the kit adds to the register's config, checked on every version.
KIT_TAG = ("llmreg.contract", "tag value = 1")


def _ref(value: object, call: str) -> ModelVersionRef:
    if not isinstance(value, ModelVersionRef):
        contract_failure(
            expected=f"{call} to return llmreg.ModelVersionRef",
            got=f"returned {type(value).__name__}: {value!r}",
        )
    return value


def _move(value: object, call: str) -> AliasMove:
    if not isinstance(value, AliasMove):
        contract_failure(
            expected=f"{call} to return llmreg.AliasMove",
            got=f"returned {type(value).__name__}: {value!r}",
        )
    return value


def _build(module: str, qualname: str, config: dict[str, Any]) -> Register:
    cls = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    built = isolated_manager(class_plugin("register", cls)).build("register", config)  # type: ignore[arg-type]
    assert isinstance(built, Register)
    return built


def promote_worker(spec: dict[str, Any], barrier: Any, queue: Any) -> None:
    """One of the processes promoting at once: builds the register from its config."""
    try:
        os.environ.update(spec["env"])
        os.chdir(spec["cwd"])
        register = _build(spec["module"], spec["qualname"], spec["config"])
        assert isinstance(register, AliasRegister)
        barrier.wait(120)
        moves = [register.promote(spec["name"], v, spec["alias"]) for v in spec["versions"]]
        queue.put(["ok", [m.to_dict() if isinstance(m, AliasMove) else repr(m) for m in moves]])
    except BaseException as exc:  # reported to the parent, which fails
        queue.put(["error", f"{type(exc).__name__}: {exc}"])


class RegisterContract(ComponentContract):
    """Shape and lifecycle checks for a :class:`~llmreg.bases.Register`.

    Set ``component_class`` and ``config``. Override :meth:`model_uri` to give URIs
    your register accepts (default: a ``folder:`` URI of a definition written in
    the working folder), and :meth:`store_env` to put its store in that folder.
    The alias checks run for an :class:`~llmreg.bases.AliasRegister` only.
    """

    role = "register"
    base = Register
    #: How many processes promote at once, and how many moves each makes.
    processes: ClassVar[int] = 4
    moves_per_process: ClassVar[int] = 3

    def store_env(self, folder: Path) -> dict[str, str]:
        """Environment variables that put the register's store inside ``folder`` (none)."""
        return {}

    def model_uri(self, folder: Path, n: int) -> str:
        """A model URI the register accepts, of content distinct for each ``n``."""
        model = folder / "models" / f"m{n}"
        model.mkdir(parents=True, exist_ok=True)
        definition = {"provider": "echo", "model": f"kit-{n}"}
        (model / "model_definition.json").write_text(json.dumps(definition), encoding="utf-8")
        return f"folder:{model}"

    @pytest.fixture
    def workdir(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        """A temporary working folder holding the store."""
        monkeypatch.chdir(tmp_path)
        for name, value in self.store_env(tmp_path).items():
            monkeypatch.setenv(name, value)
        return tmp_path

    def _config(self) -> dict[str, Any]:
        return {**self.config, "tags": {**self.config.get("tags", {}), KIT_TAG[0]: KIT_TAG[1]}}

    def _register(self) -> Register:
        return self._manager().build(self.role, self._config())  # type: ignore[return-value]

    def _aliases(self) -> AliasRegister:
        built = self._register()
        if not isinstance(built, AliasRegister):
            pytest.skip(f"{type(built).__name__} is not an AliasRegister")
        return built

    def _registered(self, folder: Path, name: str, count: int) -> list[ModelVersionRef]:
        register = self._register()
        refs = []
        for n in range(count):
            uri = self.model_uri(folder, n)
            refs.append(_ref(register.register(name, uri), f"register({name!r}, {uri!r})"))
        return refs

    def test_tags_default_to_empty(self) -> None:
        """``tags`` defaults to an empty dict."""
        built = self._manager().build(
            self.role, {k: v for k, v in self.config.items() if k != "tags"}
        )
        expect(
            getattr(built, "tags", None) == {},
            expected="tags to default to {}",
            got=f"has {getattr(built, 'tags', None)!r}",
        )

    def test_versions_start_at_one_and_increase_per_name(self, workdir: Path) -> None:
        """Three registrations of a name are versions 1, 2, 3; another name starts at 1."""
        name, other = f"kit-{uuid.uuid4().hex[:8]}", f"kit-{uuid.uuid4().hex[:8]}"
        numbers = [r.version for r in self._registered(workdir, name, 3)]
        expect(
            numbers == [1, 2, 3] and all(type(n) is int for n in numbers),
            expected="versions 1, 2, 3 (ints) for three models registered under one name",
            got=f"gave versions {numbers!r}",
        )
        first = _ref(self._register().register(other, self.model_uri(workdir, 9)), "register")
        expect(
            first.version == 1,
            expected="a new name to start at version 1",
            got=f"gave version {first.version!r}",
        )

    def test_tags_round_trip(self, workdir: Path) -> None:
        """The config's ``tags`` are on the version ``register`` returns and ``versions`` lists."""
        name = f"kit-{uuid.uuid4().hex[:8]}"
        (ref,) = self._registered(workdir, name, 1)
        wanted = self._config()["tags"]
        expect(
            {k: ref.tags.get(k) for k in wanted} == wanted,
            expected=f"register() to return the version with the config's tags {wanted!r}",
            got=f"returned tags {dict(ref.tags)!r}",
        )
        if isinstance(register := self._register(), AliasRegister):
            (listed,) = [_ref(v, "versions()") for v in register.versions(name)]
            expect(
                {k: listed.tags.get(k) for k in wanted} == wanted,
                expected=f"versions() to list the config's tags {wanted!r}",
                got=f"listed tags {dict(listed.tags)!r}",
            )

    def test_versions_lists_every_version_oldest_first(self, workdir: Path) -> None:
        """``versions`` returns one ModelVersionRef per version, oldest first."""
        register = self._aliases()
        name = f"kit-{uuid.uuid4().hex[:8]}"
        self._registered(workdir, name, 2)
        listed = register.versions(name)
        refs = [_ref(v, f"versions({name!r})") for v in listed]
        expect(
            [r.version for r in refs] == [1, 2],
            expected="versions() to list versions [1, 2], oldest first",
            got=f"listed {[r.version for r in refs]!r}",
        )

    def test_an_alias_move_records_the_previous_version(self, workdir: Path) -> None:
        """promote 1, promote 2, rollback: each move names the version it left, in history."""
        register = self._aliases()
        name = f"kit-{uuid.uuid4().hex[:8]}"
        self._registered(workdir, name, 2)
        moves = [
            _move(register.promote(name, 1, "kit"), "promote(name, 1)"),
            _move(register.promote(name, 2, "kit"), "promote(name, 2)"),
            _move(register.rollback(name, "kit"), "rollback(name)"),
        ]
        seen = [(m.version, m.previous) for m in moves]
        expect(
            seen == [(1, None), (2, 1), (1, 2)],
            expected="(version, previous) of promote 1, promote 2, rollback to be "
            "[(1, None), (2, 1), (1, 2)]",
            got=f"returned {seen!r}",
        )
        history = [(m.version, m.previous) for m in register.history(name, "kit")]
        expect(
            history == seen,
            expected=f"history() to hold every move, oldest first: {seen!r}",
            got=f"holds {history!r}",
        )

    def test_four_processes_promoting_at_once_keep_the_history_whole(self, workdir: Path) -> None:
        """Processes promote at once; every move is in the history, each naming the last."""
        self._aliases()
        name = f"kit-{uuid.uuid4().hex[:8]}"
        count = self.processes
        self._registered(workdir, name, count)
        moves = self._promote_at_once(workdir, name, count)
        history = self._aliases().history(name, "kit")
        # a promote to the version the alias holds may be recorded or not; every other is
        moved = sum(1 for m in moves if m["previous"] != m["version"])
        chain = [(m.version, m.previous) for m in history]
        expect(
            moved <= len(history) <= len(moves),
            expected=f"history() to hold every one of the {moved} moves the {count} processes "
            f"made ({len(moves)} promotes)",
            got=f"holds {len(history)}: {chain!r}",
        )
        for before, after in itertools.pairwise(history):
            expect(
                after.previous == before.version,
                expected="each move to name the version the alias left (the one before it)",
                got=f"recorded {chain!r}: a move lost its predecessor",
            )

    def _promote_at_once(self, folder: Path, name: str, count: int) -> list[dict[str, Any]]:
        ctx = multiprocessing.get_context("spawn")
        barrier, queue = ctx.Barrier(count), ctx.Queue()
        cls = self.component_class
        spec = {
            "module": cls.__module__,
            "qualname": cls.__qualname__,
            "name": name,
            "config": self._config(),
            "env": self.store_env(folder),
            "cwd": str(folder),
            "alias": "kit",
        }
        workers = []
        for i in range(count):
            versions = [1 + (i + j) % count for j in range(self.moves_per_process)]
            args = ({**spec, "versions": versions}, barrier, queue)
            workers.append(ctx.Process(target=promote_worker, args=args, daemon=True))
        for worker in workers:
            worker.start()
        results = [queue.get(timeout=180) for _ in workers]
        for worker in workers:
            worker.join(30)
        errors = [detail for status, detail in results if status != "ok"]
        expect(not errors, expected="promote() to succeed in every process", got=f"{errors}")
        moves = [m for _, done in results for m in done]
        expect(
            all(isinstance(m, dict) for m in moves),
            expected="promote() to return llmreg.AliasMove",
            got=f"returned {moves!r}",
        )
        return moves

    def test_a_missing_version_is_model_not_found(self, workdir: Path) -> None:
        """Promoting (or tagging) a version that does not exist raises ModelNotFoundError."""
        register = self._aliases()
        name = f"kit-{uuid.uuid4().hex[:8]}"
        self._registered(workdir, name, 1)
        expect_raises(
            ModelNotFoundError,
            lambda: register.promote(name, 99, "kit"),
            expected="ModelNotFoundError for promote() of a missing version",
            what=f"promote({name!r}, 99)",
        )
        expect(
            register.history(name, "kit") == [],
            expected="a refused promote to leave no history entry",
            got=f"recorded {register.history(name, 'kit')!r}",
        )
        try:
            register.set_tags(name, 1, {"kit": "1"})
        except ConfigError:
            return  # this register does not tag versions
        expect_raises(
            ModelNotFoundError,
            lambda: register.set_tags(name, 99, {"kit": "1"}),
            expected="ModelNotFoundError for set_tags() of a missing version",
            what=f"set_tags({name!r}, 99)",
        )


__all__ = ["KIT_TAG", "RegisterContract", "promote_worker"]
