"""A host with its own plugin manager (docs/architecture.md shows this file)."""

from llmreg import ModelDefinition, create_plugin_manager

pm = create_plugin_manager(load_plugins="llmreg,llmreg-example")  # only these distributions
saver = pm.saver({"KIND": "FolderSaver", "path": "hosted"})  # validated, frozen, bound to pm
loader = pm.loader({"KIND": "FolderLoader"})  # its adapters get their clients from pm, too
saved = saver.save(ModelDefinition(provider="echo", model="demo"))  # echo: the core's provider
adapter = loader.load(saved.uri)
print(saver.manager is pm, saved.uri, adapter.predict("hi").predictions)
adapter.close()
