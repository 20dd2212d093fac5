"""llmreg-example: a Saver and a Loader that keep model definitions in a local folder.

It is the worked example of docs/writing-a-plugin.md, and the test plugin that
the core's tests install and find through its entry point.
"""
