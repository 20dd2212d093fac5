"""The content hash that makes registration idempotent.

A saver computes it over what determines a model's behaviour (the persisted
model definition, without secrets; the adapter code; the requirements) and
stores it in the saved model's metadata under :data:`CONTENT_HASH_KEY`. A
register compares it with the versions already registered under a name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

#: The key of the content hash in a saved model's metadata (MLflow's ``MLmodel`` ``metadata``).
CONTENT_HASH_KEY = "llmreg_content_hash"


def content_hash(parts: Iterable[str | bytes]) -> str:
    """Return ``sha256:<hex>`` over ``parts``, each length-prefixed so boundaries count."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return f"sha256:{digest.hexdigest()}"


__all__ = ["CONTENT_HASH_KEY", "content_hash"]
