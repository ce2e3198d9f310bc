"""The analysis layer's error, apart from the maths so the command layer can catch it without loading pandas."""


class AnalysisError(ValueError):
    """A question that has no honest answer (too few observations, date outside the data)."""

