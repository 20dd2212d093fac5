"""llmreg-pyfunc: the KINDs CustomSaver and CustomLoader (LLM models as MLflow pyfunc models).

Importing this package imports neither mlflow nor pandas.
"""

from __future__ import annotations

from llmreg_pyfunc.loader import CustomLoader
from llmreg_pyfunc.saver import CustomSaver

__all__ = ["CustomLoader", "CustomSaver"]
