"""A plugin package whose entry point module fails to import."""
