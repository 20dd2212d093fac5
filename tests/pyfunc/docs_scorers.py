from mlflow.genai.scorers import scorer


@scorer
def short(outputs) -> bool:
    return len(outputs.split()) <= 60
