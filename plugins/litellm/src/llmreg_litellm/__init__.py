"""llmreg-litellm: the ``openai`` provider, a client for OpenAI- and LiteLLM-compatible endpoints.

Use it through a model definition with ``provider: "openai"``, or directly::

    from llmreg_litellm.client import OpenAICompatibleClient
"""
