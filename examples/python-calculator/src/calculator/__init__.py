"""A tiny calculator: the project dockhand's README runs its test pipeline on."""


def add(a: float, b: float) -> float:
    return a + b


def divide(a: float, b: float) -> float:
    if b == 0:
        raise ZeroDivisionError("cannot divide by zero")
    return a / b


def percent(part: float, whole: float) -> float:
    """Not covered by the tests: the report shows it."""
    return 100.0 * part / whole
