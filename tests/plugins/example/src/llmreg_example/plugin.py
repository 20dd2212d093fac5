"""The entry point module: the ``shout`` provider, and the hooks that contribute the plugin."""

from llmreg import Client, Completion, Request, hookimpl


class ShoutClient(Client):
    """The ``shout`` provider: answers with the last message in capitals, without a network."""

    def complete(self, request: Request) -> Completion:
        text = request.chat_messages()[-1]["content"]
        return Completion(text=text.upper(), model=self.definition.model, latency_ms=0.0)


@hookimpl
def llmreg_register_savers(register):
    register("FolderSaver", "llmreg_example.folder:FolderSaver")


@hookimpl
def llmreg_register_loaders(register):
    register("FolderLoader", "llmreg_example.folder:FolderLoader")


@hookimpl
def llmreg_register_providers(register):
    register("shout", ShoutClient)
