"""Market data errors, apart from the data code so the command layer can catch them without loading pandas."""


class NoData(LookupError):
    """No prices for an asset in the current data mode."""


class LiveDataNeeded(NoData):
    """The question needs live sources; this bot answers from the bundled snapshot only."""
