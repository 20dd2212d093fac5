"""The kit's provider checks on the guide's ``generate`` provider, an API that is not OpenAI's."""

from llmreg.testing.contract import Endpoint, ProviderContract
from llmreg_example import generate


class GenerateEndpoint(Endpoint):
    """The ``generate`` API for the kit's server: what a request asks, and the answers."""

    def settings(self, body):
        options = body.get("options", {})
        return {
            "temperature": options.get("temperature"),
            "max_tokens": options.get("num_predict"),
            "stop": options.get("stop"),
            "system": body.get("system"),
            "user": body.get("prompt", ""),
        }

    def answer(self, body, text):
        words = len(body.get("prompt", "").split())
        return {"response": text, "prompt_eval_count": words, "eval_count": len(text.split())}

    def error(self, status, message):
        return {"error": message}


class TestGenerateProvider(ProviderContract):
    plugin = generate
    definition = {"provider": "generate", "model": "tiny"}  # the kit sets base_url
    endpoint = GenerateEndpoint()
