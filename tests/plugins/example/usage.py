"""Save, load and predict through the example plugin (docs/writing-a-plugin.md shows this file)."""

from llmreg import ModelDefinition, get_plugin_manager

pm = get_plugin_manager()  # the process's manager: every installed plugin, found on first use
saver = pm.saver({"KIND": "FolderSaver", "path": "chat"})  # a config validated into the class
model = ModelDefinition(provider="shout", model="demo", api_key="env:DEMO_KEY")
saved = saver.save(model)  # a SavedModel; chat/model_definition.json holds "env:DEMO_KEY"
adapter = pm.loader({"KIND": "FolderLoader"}).load(saved.uri)  # the core's ClientAdapter
outputs = adapter.predict(["hello", {"messages": [{"role": "user", "content": "bye"}]}])
print(saved.uri, outputs.predictions, outputs.rows[0].metadata["model_uri"])
adapter.close()  # releases the provider client
