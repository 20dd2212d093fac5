"""Must never be imported: importing it records the fact in the environment."""

import os

os.environ["LLMREG_INCOMPATIBLE_WAS_IMPORTED"] = "1"
