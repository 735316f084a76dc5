"""The one error the benchmark stops on."""


class BenchError(Exception):
    """The benchmark could not go on; the message says why and what to do."""
