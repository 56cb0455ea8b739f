"""Grounding and checks: citations to evidence, names, numbers, dates, support; the request schemas that
hold a model to the article. Imports `core` and `model`."""
