"""MlflowRegister.register on a real sqlite store: versions, waiting, tags, idempotency."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from llmreg.errors import ModelNotFoundError
from llmreg.hashing import CONTENT_HASH_KEY, content_hash
from llmreg.results import ModelVersionRef
from llmreg_mlflow import MlflowRegister


def test_register_returns_a_ready_version_with_tags(name, log_model, store) -> None:
    info = log_model("alpha")
    register = MlflowRegister(
        tags={"team": "nlp"}, model_tags={"owner": "ml-platform"}, description="chat bot"
    )
    version = register.register(name, info.model_uri)

    assert isinstance(version, ModelVersionRef)
    assert version.name == name
    assert version.version == 1
    assert version.created is True
    assert version.uri == f"models:/{name}/1"
    assert version.status == "READY"
    assert version.tags["team"] == "nlp"
    assert version.tags[CONTENT_HASH_KEY] == content_hash(["alpha"])
    assert version.run_id == info.run_id
    assert version.content_hash == content_hash(["alpha"])
    assert version.created_at and version.source
    model = MlflowClient().get_registered_model(name)
    assert model.tags == {"owner": "ml-platform"}
    assert model.description == "chat bot"


def test_registered_version_loads_by_uri(name, log_model) -> None:
    import mlflow

    MlflowRegister().register(name, log_model("loadable").model_uri)
    assert mlflow.pyfunc.load_model(f"models:/{name}/1").predict(["hi"]) == ["hi"]


def test_later_calls_update_model_tags_and_description(name, log_model) -> None:
    MlflowRegister(description="first").register(name, log_model("one").model_uri)
    MlflowRegister(model_tags={"stage": "beta"}, description="second").register(
        name, log_model("two").model_uri
    )
    model = MlflowClient().get_registered_model(name)
    assert model.description == "second"
    assert model.tags == {"stage": "beta"}


def test_same_content_returns_the_existing_version(name, log_model) -> None:
    register = MlflowRegister()
    first = register.register(name, log_model("same").model_uri)
    # A pipeline re-run: the same content, logged again in another run.
    again = register.register(name, log_model("same").model_uri)

    assert again.version == first.version
    assert (first.created, again.created) == (True, False)
    assert [v.version for v in register.versions(name)] == [1]


def test_same_content_gets_the_registers_missing_or_changed_tags(name, log_model) -> None:
    uri = log_model("tagged").model_uri
    first = MlflowRegister(tags={"team": "nlp", "stage": "dev"}).register(name, uri)
    again = MlflowRegister(tags={"stage": "prod", "owner": "ml"}).register(name, uri)

    assert again.version == first.version
    expected = {"team": "nlp", "stage": "prod", "owner": "ml"}
    assert {k: again.tags.get(k) for k in expected} == expected
    stored = MlflowClient().get_model_version(name, str(first.version)).tags
    assert {k: stored.get(k) for k in expected} == expected
    assert stored[CONTENT_HASH_KEY] == first.tags[CONTENT_HASH_KEY]


def test_a_writer_racing_with_the_same_content_leaves_one_version(name, log_model) -> None:
    """Another writer registers the same content between this call's lookup and its create:
    this call deletes the version it created and returns the other writer's."""
    uri = log_model("raced").model_uri
    other = MlflowRegister()
    racing = MlflowRegister()
    original_lookup = MlflowRegister._find_by_hash
    lookups = 0

    def lookup_then_let_the_other_writer_in(self, client, model, digest):
        nonlocal lookups
        found = original_lookup(self, client, model, digest)
        if self is racing:
            lookups += 1
            if lookups == 1:  # this call found nothing; the other writer now gets in first
                assert found is None
                other.register(name, uri)
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MlflowRegister, "_find_by_hash", lookup_then_let_the_other_writer_in)
        version = racing.register(name, uri)

    assert version.version == 1
    assert version.created is False  # the other writer's version was returned
    assert version.status == "READY"
    assert [v.version for v in racing.versions(name)] == [1]


def test_force_creates_a_new_version_of_the_same_content(name, log_model) -> None:
    register = MlflowRegister()
    info = log_model("forced")
    register.register(name, info.model_uri)
    forced = register.register(name, info.model_uri, force=True)

    assert forced.version == 2 and forced.created is True
    assert forced.tags[CONTENT_HASH_KEY] == content_hash(["forced"])
    assert register.register(name, info.model_uri).version == 1


def test_different_content_gets_a_new_version(name, log_model) -> None:
    register = MlflowRegister()
    register.register(name, log_model("v-one").model_uri)
    second = register.register(name, log_model("v-two").model_uri)
    assert second.version == 2


def test_runs_uri_registers_the_same_content(name, log_model) -> None:
    register = MlflowRegister()
    info = log_model("by-run")
    first = register.register(name, f"runs:/{info.run_id}/model")
    assert first.version == 1
    assert register.register(name, info.model_uri).version == 1


def test_a_model_without_a_stored_hash_is_hashed_from_its_files(
    name, log_model, tmp_path: Path
) -> None:
    register = MlflowRegister()
    first = register.register(name, log_model("ignored", with_hash=False).model_uri)
    again = register.register(name, log_model("ignored too", with_hash=False).model_uri)
    assert first.tags[CONTENT_HASH_KEY].startswith("sha256:")
    assert again.version == first.version

    changed = tmp_path / "echo_model.py"
    source = Path(__file__).with_name("echo_model.py").read_text()
    changed.write_text(source + "\n# a change of code is a change of content\n")
    other = register.register(name, log_model("x", with_hash=False, code=changed).model_uri)
    assert other.version == 2
    assert other.tags[CONTENT_HASH_KEY] != first.tags[CONTENT_HASH_KEY]


def test_versions_lists_tags_aliases_and_hash(name, log_model) -> None:
    register = MlflowRegister(tags={"team": "nlp"})
    info = log_model("listed")
    register.register(name, info.model_uri)
    register.register(name, log_model("listed-2").model_uri)
    register.promote(name, 2, "champion")

    rows = register.versions(name)
    assert all(isinstance(r, ModelVersionRef) for r in rows)
    assert [(r.version, r.aliases) for r in rows] == [(1, ()), (2, ("champion",))]
    assert rows[0].content_hash == content_hash(["listed"])
    assert rows[0].tags["team"] == "nlp"
    assert rows[0].status == "READY"
    assert rows[0].run_id == info.run_id
    assert rows[0].source
    assert rows[0].created is False
    assert rows[0].to_dict()["uri"] == f"models:/{name}/1"


def test_versions_of_an_unknown_model_is_a_typed_error(name, store) -> None:
    with pytest.raises(ModelNotFoundError, match=name):
        MlflowRegister().versions(name)


def test_explicit_uris_beat_the_environment(name, log_model, store, monkeypatch) -> None:
    info = log_model("explicit")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    register = MlflowRegister(tracking_uri=store.uri)
    assert register.resolved_uris() == (store.uri, store.uri)
    assert register.register(name, info.model_uri).version == 1


def test_a_model_copied_into_another_run_registers_that_runs_files(
    name, log_model, tmp_path: Path
) -> None:
    import mlflow

    info = log_model("copied")
    files = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path))
    # Its MLmodel names a logged model of another run; the copy must not point there.
    (Path(files) / "MLmodel").write_text(
        (Path(files) / "MLmodel").read_text().replace(info.model_id, "m-" + "0" * 32)
    )
    with mlflow.start_run() as run:
        mlflow.log_artifacts(files, "model")
    version = MlflowRegister().register(name, f"runs:/{run.info.run_id}/model")

    assert version.run_id == run.info.run_id
    assert run.info.run_id in version.source
    assert mlflow.pyfunc.load_model(f"models:/{name}/1").predict(["x"]) == ["x"]
