"""Managed keys: hashed only, shown once, revoked and rotated at run time on every replica."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from llmreg.errors import ConfigError
from llmreg_gateway.auth import KeyRing, key_hash
from llmreg_gateway.controls import Budget, Controls, ControlSettings, Limits
from llmreg_gateway.controls.keys import (
    SECRET_PREFIX,
    TABLE,
    KeyNotFoundError,
    KeyStore,
    ManagedKey,
    ManagedKeyRing,
)
from llmreg_gateway.errors import ApiError

from .conftest import Backend


def bearer(secret: str) -> str:
    return f"Bearer {secret}"


def test_create_stores_the_hash_only_and_returns_the_secret_once(backend: Backend) -> None:
    async def main() -> None:
        state = backend.new()
        store = KeyStore(state)
        key, secret = await store.create(
            "team search",
            models=["chat"],
            limits=Limits(rpm=60),
            budget=Budget(5.0, "daily"),
        )
        assert secret.startswith(SECRET_PREFIX)
        assert len(secret) > len(SECRET_PREFIX) + 40
        assert key.digest == key_hash(secret)
        _, table = await state.table_all(TABLE)
        stored = b"".join(table.values())
        assert secret.encode() not in stored
        assert secret[len(SECRET_PREFIX) :].encode() not in stored
        record = json.loads(table[key.key_id])
        assert record["sha256"] == key_hash(secret)
        assert record["limits"] == {"rpm": 60}
        assert record["budget"] == {"usd": 5.0, "period": "daily"}
        assert secret not in repr(key)
        assert [k.key_id for k in await store.list()] == [key.key_id]
        assert await store.get(key.key_id) == key
        await state.close()

    asyncio.run(main())


def test_identify_revoke_rotate(backend: Backend) -> None:
    async def main() -> None:
        state = backend.new()
        store, ring = KeyStore(state), ManagedKeyRing(state, refresh=0)
        key, secret = await store.create("ci")
        found = await ring.identify(bearer(secret))
        assert found is not None
        assert found.key_id == key.key_id
        assert await ring.identify(bearer(secret + "x")) is None
        assert await ring.identify(f"Basic {secret}") is None
        assert await ring.identify(None) is None
        rotated, new_secret = await store.rotate(key.key_id)
        assert rotated.key_id == key.key_id
        assert new_secret != secret
        assert await ring.identify(bearer(secret)) is None
        assert (await ring.identify(bearer(new_secret))) == rotated
        revoked = await store.revoke(key.key_id)
        assert revoked.revoked is not None
        assert await ring.identify(bearer(new_secret)) is None
        assert (await store.revoke(key.key_id)).revoked == revoked.revoked  # idempotent
        with pytest.raises(ConfigError, match="revoked or expired"):
            await store.rotate(key.key_id)
        await state.close()

    asyncio.run(main())


def test_an_expired_key_is_refused(backend: Backend) -> None:
    async def main() -> None:
        state = backend.new()
        store, ring = KeyStore(state), ManagedKeyRing(state, refresh=0)
        _, secret = await store.create("short", expires=time.time() + 0.3)
        assert await ring.identify(bearer(secret)) is not None
        await asyncio.sleep(0.4)
        assert await ring.identify(bearer(secret)) is None
        await state.close()

    asyncio.run(main())


def test_bad_input_is_refused_before_any_write(backend: Backend) -> None:
    async def main() -> None:
        state = backend.new()
        store = KeyStore(state)
        with pytest.raises(ConfigError, match="label"):
            await store.create("  ")
        with pytest.raises(ConfigError, match="in the past"):
            await store.create("old", expires=time.time() - 1)
        with pytest.raises(ConfigError, match="model names"):
            await store.create("scoped", models=[""])
        assert await state.revision(TABLE) == 0
        with pytest.raises(KeyNotFoundError, match="keys list"):
            await store.get("key-000000000000")
        await state.close()

    asyncio.run(main())


def test_a_revocation_reaches_another_instance_within_2_seconds(backend: Backend) -> None:
    async def main() -> float:
        one = Controls(backend.new(), ControlSettings())
        two = Controls(backend.new(), ControlSettings())  # another replica, default refresh 1 s
        key, secret = await one.keys.create("shared")
        assert await two.identify(bearer(secret)) is not None  # two has the key cached now
        await one.keys.revoke(key.key_id)
        revoked_at = time.monotonic()
        while await two.identify(bearer(secret)) is not None:
            assert time.monotonic() - revoked_at < 2.0, "still accepted after 2 s"
            await asyncio.sleep(0.02)
        seen = time.monotonic() - revoked_at
        await one.close()
        await two.close()
        return seen

    assert asyncio.run(main()) < 2.0


def test_managed_keys_keep_their_model_scopes(backend: Backend) -> None:
    async def main() -> ManagedKey | None:
        state = backend.new()
        store, ring = KeyStore(state), ManagedKeyRing(state, refresh=0)
        _, secret = await store.create("chat only", models=["chat"])
        key = await ring.identify(bearer(secret))
        await state.close()
        return key

    key = asyncio.run(main())
    assert key is not None
    KeyRing.authorize(key, ["chat", "models:/chat@champion"])
    with pytest.raises(ApiError) as caught:
        KeyRing.authorize(key, ["summarize"])
    assert caught.value.status == 403
    assert key.key_id in caught.value.message


def test_a_malformed_record_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="malformed record"):
        ManagedKey.from_json({"id": "key-1", "label": "x"})
