import sys

import pytest
from calculator import add, divide


def test_add():
    assert add(2, 3) == 5


def test_divide():
    assert divide(9, 3) == 3


def test_divide_by_zero():
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)


@pytest.mark.skipif(sys.platform == "linux", reason="shows a skipped test in the report")
def test_only_elsewhere():
    assert add(0.1, 0.2) == pytest.approx(0.3)
