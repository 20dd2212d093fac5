"""The core's tests use pytest's ``pytester`` to run the contract kit on throwaway plugins."""

pytest_plugins = ["pytester"]
