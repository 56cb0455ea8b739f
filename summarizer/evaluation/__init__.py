"""Measuring: ROUGE and checks over an evaluation set (`evaluate`), run comparisons (`compare`), the
report and its plots, the quality checks shared with the pytest plugin."""
