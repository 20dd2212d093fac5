"""``python -m llmreg.cli``: the ``llmreg`` command."""

from llmreg.cli import main

if __name__ == "__main__":
    main()
