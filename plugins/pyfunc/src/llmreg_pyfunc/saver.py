"""CustomSaver: save a model definition to MLflow as a pyfunc model, without pickling.

mlflow and pandas are imported inside :meth:`CustomSaver.save`, never at import
of this module, so that ``llmreg plugins`` does not pay for them. MLflow is reached
through the MLflow layer of llmreg-mlflow (:mod:`llmreg_mlflow.store`): its errors,
its store, and its one private access for the active experiment.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from llmreg.bases import Saver
from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError, SecretPersistError
from llmreg.hashing import CONTENT_HASH_KEY, content_hash
from llmreg.results import SavedModel
from llmreg_pyfunc.layout import ARTIFACT_KEY, CONFIG_KEY, FORMAT, FORMAT_KEY
from llmreg_pyfunc.requirements import model_requirements
from llmreg_pyfunc.secret_scan import check_texts, refusal

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

#: The models-from-code file saved with every model.
MODEL_CODE = Path(__file__).with_name("model_code.py")


class _LazyAdapter:
    """Class attribute that imports the mlflow-based adapter class on first access."""

    def __get__(self, instance: object, owner: type | None = None) -> type:
        from llmreg_pyfunc.adapter import PyfuncAdapter

        return PyfuncAdapter


@dataclass(frozen=True)
class SavePlan:
    """Everything a save writes, computed and checked before anything is written."""

    content_hash: str
    definition_json: str
    code: str
    requirements: list[str]
    signature: Any
    input_example: Any
    metadata: dict[str, str]
    params: dict[str, str]
    tags: dict[str, str]
    secrets: list[str]
    name: str = "model"
    description: str | None = None
    wheels: tuple[Path, ...] = ()


class CustomSaver(Saver):
    """Saves a :class:`~llmreg.definition.ModelDefinition` as an MLflow pyfunc model.

    The model is saved from code (``model_code.py`` calls ``mlflow.models.set_model``),
    with the definition as the JSON artifact ``config_file`` and explicit pip
    requirements. Nothing calls the LLM endpoint while saving.

    How it reads in the MLflow UI: the logged model is named after the registered
    name when it is known (``registered_name``, or ``save(..., name=...)``), else after
    the definition's model; the run goes to ``experiment``, else the experiment set
    in MLflow (``mlflow.set_experiment``, ``MLFLOW_EXPERIMENT_NAME``/``_ID``), else an
    experiment named like the logged model; the run is named ``<name>-<hash prefix>``.
    The definition's settings (provider, model, temperature, max_tokens, top_p, the
    base_url's host, the content hash) are params of the run and of the logged
    model, and its ``description`` is the logged model's (and the run's) note.
    Saving content already saved under the same name in the same experiment
    returns that logged model and creates nothing. Inside ``with mlflow.start_run():``
    the model is logged into that run.

    Attributes:
        experiment: the MLflow experiment to log into (see above when unset).
        registered_name: the name the model will be registered under, if known: the
            logged model's name and the default experiment's.
        reuse: return the logged model already saved with the same content and name in
            the experiment instead of logging a new one.
        bundle_wheels: save the wheels of the llmreg distributions that no package index
            serves with the model, named in its requirements.txt, so that MLflow's
            ``virtualenv``/``uv`` environments install it anywhere (see
            :mod:`llmreg_pyfunc.wheels`); ``False`` keeps plain ``name==version`` pins.
    """

    KIND: Literal["CustomSaver"] = "CustomSaver"
    experiment: str | None = Field(default=None, min_length=1)
    registered_name: str | None = Field(default=None, min_length=1, max_length=256)
    reuse: bool = True
    bundle_wheels: bool = True

    #: The ``mlflow.pyfunc.PythonModel`` that saved models run (imported on access).
    Adapter: ClassVar[Any] = _LazyAdapter()

    def save(
        self,
        model: ModelDefinition,
        signature: Any | None = None,
        input_example: Any | None = None,
        *,
        name: str | None = None,
    ) -> SavedModel:
        """Log ``model`` to MLflow in a new run (or the active one) and return where it went.

        Args:
            model: the definition; its api_key must be a reference such as ``env:NAME``.
            signature: an ``mlflow.models.ModelSignature``; the chat schema when omitted.
            input_example: chat input (see :func:`llmreg_pyfunc.frames.to_inputs`);
                a one-row text example when omitted.
            name: the registered name the model is meant for (overrides
                ``registered_name``): the logged model's name.

        Returns:
            A :class:`~llmreg.results.SavedModel`: ``uri`` is the logged model's
            ``models:/m-<id>``, with its ``content_hash``, ``run_id`` and ``model_id``;
            ``info`` holds the JSON-ready fields of MLflow's ``ModelInfo`` (``signature``
            as a dict, ``metadata``, ``flavors``, ``utc_time_created``...).

        Raises:
            ConfigError: ``model`` is not a :class:`~llmreg.definition.ModelDefinition`, or
                MLflow refused the experiment or a value.
            SecretPersistError: a literal key, or a secret value in anything to be written.
            SchemaError: ``signature`` or ``input_example`` does not fit the chat schema.
            UnknownKindError: the definition's provider is not installed.
            StoreUnavailableError: the store cannot be reached, or failed the write.

        On any failure after the run was created, the run ends ``FAILED`` and its
        logged model is marked failed; no run is left ``FINISHED`` with partial artifacts.
        """
        from llmreg_mlflow.store.errors import SAVE, mlflow_errors

        plan = self.plan(model, signature, input_example, name=name)
        with mlflow_errors(
            "saving to the MLflow store",
            SAVE,
            hint="Check MLFLOW_TRACKING_URI and that the store is reachable and writable, then "
            "save again; the run was not marked FINISHED.",
        ):
            return self._log(plan)

    def plan(
        self,
        model: ModelDefinition,
        signature: Any | None = None,
        input_example: Any = None,
        *,
        name: str | None = None,
    ) -> SavePlan:
        """Compute and check what :meth:`save` would write, writing nothing.

        Raises:
            ConfigError, SecretPersistError, SchemaError, UnknownKindError: as :meth:`save`.
        """
        from llmreg_pyfunc.chat_schema import (
            DEFAULT_EXAMPLE,
            check_example,
            check_signature,
            default_signature,
        )

        _check_definition(model)
        from llmreg_pyfunc.prompts import pin

        model, pinned = pin(model)  # a registry prompt is saved pinned to its version
        definition_json = self._definition_json(model)
        code = MODEL_CODE.read_text(encoding="utf-8")
        bundle = model_requirements(model, self.manager, bundle=self.bundle_wheels)
        requirements = bundle.lines
        signature = default_signature() if signature is None else check_signature(signature)
        example = DEFAULT_EXAMPLE if input_example is None else input_example
        example = check_example(example, signature)
        files = [definition_json, code, "\n".join(requirements)]
        digest = content_hash([*files, *self._artifact_parts(signature, example)])
        metadata = {
            CONTENT_HASH_KEY: digest,
            FORMAT_KEY: FORMAT,
            CONFIG_KEY: self.config_file,
        }
        if model.description:
            metadata[DESCRIPTION_KEY] = model.description
        logged_name = self._logged_name(model, name)
        params = definition_params(model, digest)
        if pinned is not None:
            params["prompt_ref"] = pinned.reference
            params["prompt_version"] = str(pinned.version)
            metadata[PROMPT_KEY] = pinned.uri
        tags = {"llmreg.saver": self.KIND, CONTENT_HASH_KEY: digest}
        secrets = model.resolved_secrets()
        check_texts(
            {
                self.config_file: definition_json,
                "model code": code,
                "requirements": "\n".join(requirements),
                "signature": json.dumps(signature.to_dict()),
                "input example": _example_text(example),
                "params": json.dumps(params),
                "tags": json.dumps(tags),
                "experiment name": self.experiment or "",
                "model name": logged_name,
            },
            secrets,
        )
        return SavePlan(
            digest,
            definition_json,
            code,
            requirements,
            signature,
            example,
            metadata,
            params,
            tags,
            secrets,
            name=logged_name,
            description=model.description,
            wheels=tuple(bundle.wheels),
        )

    def _artifact_parts(self, signature: Any, example: Any) -> list[str]:
        """What else the model files hold, where it is not the default: the signature,
        the input example and the ``config_file`` name.

        They are part of the content hash, so that a save whose files differ is a new
        logged model (and, registered, a new version), and one whose files are the same
        is the same model. Defaults add nothing: a model saved with them keeps the hash it
        had before these counted.
        """
        from llmreg_pyfunc.chat_schema import DEFAULT_EXAMPLE, check_example, default_signature

        parts = []
        given = json.dumps(signature.to_dict(), sort_keys=True)
        default = default_signature()
        if given != json.dumps(default.to_dict(), sort_keys=True):
            parts.append(f"signature:{given}")
        text = _example_text(example)
        if text != _example_text(check_example(DEFAULT_EXAMPLE, default)):
            parts.append(f"input_example:{text}")
        if self.config_file != type(self).model_fields["config_file"].default:
            parts.append(f"config_file:{self.config_file}")
        return parts

    def _logged_name(self, model: ModelDefinition, name: str | None) -> str:
        """The logged model's name: the registered name if known, else an explicitly set
        ``path``, else the definition's model (characters MLflow refuses become ``-``)."""
        chosen = name or self.registered_name
        if chosen is None:
            chosen = self.path if "path" in self.model_fields_set else model.model
        return logged_model_name(chosen)

    def _definition_json(self, model: ModelDefinition) -> str:
        """``model.to_json()``; a resolved secret inside is refused naming the file."""
        try:
            return model.to_json()
        except SecretPersistError:
            if model.literal_secrets():
                raise  # its message says to use a reference
            raise SecretPersistError(refusal([self.config_file])) from None

    def _log(self, plan: SavePlan) -> SavedModel:
        import mlflow

        from llmreg_mlflow.store.errors import SAVE
        from llmreg_mlflow.store.private import log_model_with_flavor
        from llmreg_mlflow.store.resolve import logged_model_uri, open_store
        from llmreg_pyfunc.mlflow_flavor import ScanningPyfuncFlavor
        from llmreg_pyfunc.wheels import wheel_artifacts

        client = open_store(translation=SAVE).client
        active = mlflow.active_run()
        if active is not None and self.experiment is None:
            experiment_id = str(active.info.experiment_id)
        else:
            experiment_id = self._experiment_id(client, plan.name)
        if (
            self.reuse
            and active is None
            and (found := _saved_before(client, experiment_id, plan)) is not None
        ):
            return found
        own_run = active is None or str(active.info.experiment_id) != experiment_id
        if own_run:
            run_tags = {**plan.tags}
            if plan.description:
                run_tags["mlflow.note.content"] = plan.description
            if active is not None:
                run_tags["mlflow.parentRunId"] = active.info.run_id
            short = plan.content_hash.split(":")[-1][:8]
            run = client.create_run(experiment_id, tags=run_tags, run_name=f"{plan.name}-{short}")
            run_id = run.info.run_id
        else:
            assert active is not None
            run_id = active.info.run_id
        flavor = ScanningPyfuncFlavor(plan.secrets)
        model_tags = dict(plan.tags)
        if plan.description:
            model_tags["mlflow.note.content"] = plan.description
        model_id: str | None = None
        with tempfile.TemporaryDirectory(prefix="llmreg-save-") as tmp:
            config = Path(tmp) / self.config_file
            config.write_text(plan.definition_json, encoding="utf-8")
            try:
                # Created here rather than by Model.log, which would put it in the active
                # experiment instead of the run's. The params go on the logged model: a
                # separate log_batch on the run would cost one more store commit per save.
                model_id = client.create_logged_model(
                    experiment_id,
                    name=plan.name,
                    source_run_id=run_id,
                    tags=model_tags,
                    params=plan.params,
                ).model_id
                if own_run:
                    _log_params(client, run_id, plan.params)
                info = log_model_with_flavor(
                    flavor,
                    artifact_path=None,
                    name=plan.name,
                    run_id=run_id,
                    model_id=model_id,
                    python_model=str(MODEL_CODE),
                    artifacts={ARTIFACT_KEY: str(config), **wheel_artifacts(plan.wheels, tmp)},
                    signature=plan.signature,
                    input_example=plan.input_example,
                    pip_requirements=plan.requirements,
                    metadata=plan.metadata,
                    validate_serving_input=False,
                )
            except BaseException as exc:
                _fail(client, run_id if own_run else None, model_id, exc)
                raise
        if own_run:
            client.set_terminated(run_id, "FINISHED")
        return SavedModel(
            uri=logged_model_uri(model_id),
            content_hash=plan.content_hash,
            run_id=run_id,
            model_id=model_id,
            info=_json_ready(info),
        )

    def _experiment_id(self, client: MlflowClient, default_name: str) -> str:
        """The experiment to log into: ``experiment``, else the one set in MLflow, else
        one named ``default_name`` (created when missing)."""
        from mlflow.exceptions import MlflowException

        from llmreg_mlflow.store.errors import classify
        from llmreg_mlflow.store.private import active_experiment_id, experiment_is_set

        if self.experiment is None and experiment_is_set():
            return str(active_experiment_id())
        wanted = self.experiment or default_name
        found = client.get_experiment_by_name(wanted)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(client.create_experiment(wanted))
        except MlflowException as exc:
            # another process created it since the lookup
            if classify(exc) != "conflict" or not (found := client.get_experiment_by_name(wanted)):
                raise
            return str(found.experiment_id)


#: The MLmodel metadata key holding the pinned prompt (``prompts:/name/version``).
PROMPT_KEY = "llmreg_prompt"
#: The MLmodel metadata key holding the definition's description (a registry shows it).
DESCRIPTION_KEY = "llmreg_description"
#: Characters MLflow refuses in a logged model's name.
_BAD_NAME_CHARS = re.compile(r"[/:.%\"'\s]+")


def logged_model_name(name: str) -> str:
    """Return ``name`` as MLflow takes it for a logged model: ``/ : . % " '`` and
    whitespace become ``-``; at most 256 characters.

    Example:
        >>> logged_model_name("gemma3:270m.q4")
        'gemma3-270m-q4'
    """
    cleaned = _BAD_NAME_CHARS.sub("-", name).strip("-")[:256]
    return cleaned or "model"


def _param(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def definition_params(model: ModelDefinition, digest: str) -> dict[str, str]:
    """Return the definition's settings as MLflow params (strings): provider, model,
    temperature, max_tokens, top_p, the base_url's host (no path, query or user-info)
    and the content hash. Unset settings are left out.

    Example:
        >>> d = ModelDefinition(provider="openai", model="m", temperature=0.5,
        ...                     base_url="https://u:p@api.example.com:8443/v1?k=1")
        >>> p = definition_params(d, "h")
        >>> p["base_url_host"], p["temperature"], p["content_hash"]
        ('api.example.com:8443', '0.5', 'h')
    """
    params = {"provider": model.provider, "model": model.model}
    if model.temperature is not None:
        params["temperature"] = _param(model.temperature)
    if model.max_tokens is not None:
        params["max_tokens"] = _param(model.max_tokens)
    top_p = model.options.get("top_p")
    if top_p is not None:
        params["top_p"] = _param(top_p)
    if model.base_url:
        parts = urllib.parse.urlsplit(model.base_url)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        if host:
            params["base_url_host"] = host
    params["content_hash"] = digest
    return params


def _log_params(client: Any, run_id: str, params: dict[str, str]) -> None:
    from mlflow.entities import Param

    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])


def _saved_before(client: Any, experiment_id: str, plan: SavePlan) -> SavedModel | None:
    """Return the READY logged model of ``experiment_id`` with this name and content, if any.

    Its run and files are reused: no new run or logged model is created.
    """
    from mlflow.entities import LoggedModelStatus

    from llmreg_mlflow.store.resolve import logged_model_uri

    found = client.search_logged_models(
        experiment_ids=[experiment_id],
        filter_string=f"name = '{plan.name}' AND tags.`{CONTENT_HASH_KEY}` = '{plan.content_hash}'",
        max_results=50,
    )
    ready = [m for m in found if m.status == LoggedModelStatus.READY]
    if not ready:
        return None
    first = min(ready, key=lambda m: (m.creation_timestamp or 0, m.model_id))
    info = {
        "name": first.name,
        "model_id": first.model_id,
        "artifact_location": first.artifact_location,
        "reused": True,
        "metadata": dict(plan.metadata),
        "signature": plan.signature.to_dict() if plan.signature is not None else None,
    }
    return SavedModel(
        uri=logged_model_uri(first.model_id),
        content_hash=plan.content_hash,
        run_id=first.source_run_id,
        model_id=first.model_id,
        info=info,
    )


def _check_definition(model: object) -> None:
    if isinstance(model, ModelDefinition):
        return
    what = "None" if model is None else f"a {type(model).__name__}"
    hint = (
        ": validate it first, e.g. CustomSaver().save(ModelDefinition.from_dict(d))"
        if isinstance(model, Mapping)
        else ", e.g. ModelDefinition(provider='openai', model='gpt-4o-mini')"
    )
    raise ConfigError(f"CustomSaver.save takes a llmreg ModelDefinition, not {what}{hint}")


#: The fields of MLflow's ``ModelInfo`` that :attr:`SavedModel.info` may carry.
_MODEL_INFO_FIELDS = (
    "artifact_path",
    "name",
    "flavors",
    "model_uuid",
    "saved_input_example_info",
    "signature",
    "utc_time_created",
    "creation_timestamp",
    "mlflow_version",
    "env_vars",
    "metadata",
    "params",
    "tags",
    "registered_model_version",
)


def _json_ready(info: Any) -> dict[str, Any]:
    """Return the fields of MLflow's ``ModelInfo`` that are JSON values (the signature as
    a dict)."""
    out: dict[str, Any] = {}
    for name in _MODEL_INFO_FIELDS:
        value = getattr(info, name, None)
        if name == "signature" and value is not None:
            value = value.to_dict()
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[name] = value
    return out


def _example_text(example: Any) -> str:
    if hasattr(example, "to_json"):
        return str(example.to_json())
    return json.dumps(example, default=str)


def _fail(client: Any, run_id: str | None, model_id: str | None, cause: BaseException) -> None:
    """End the run FAILED and mark its logged model failed, so nothing looks finished.

    When the store itself is what failed, this cannot reach it either: that is
    logged, and the caller re-raises the original error. The run then stays
    RUNNING, never FINISHED, and its model is never marked READY.
    """
    from mlflow.entities import LoggedModelStatus

    try:
        if model_id is not None:
            client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
        if run_id is not None:  # the user's own run is theirs to end
            client.set_terminated(run_id, "FAILED")
    except Exception as cleanup:
        logger.warning(
            "save failed (%s: %s) and run %s could not be marked FAILED: %s",
            type(cause).__name__,
            cause,
            run_id,
            cleanup,
        )
