# mypy: ignore-errors
"""`python -m unittest`, unchanged (its own loader, so `load_tests` keeps working), writing JUnit XML too.

Copied into the sandbox by dockhand; the report goes to $DOCKHAND_JUNIT. Standard library only: it runs
in the project's interpreter, whatever that has installed.
"""

import os
import sys
import time
import unittest
import xml.etree.ElementTree as ET

RECORDS = []  # (test, outcome, detail, seconds), in the order unittest reported them


class JUnitResult(unittest.TextTestResult):
    """A text result (the usual output) that also remembers each test's outcome and duration."""

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def _record(self, test, outcome, detail=""):
        elapsed = time.monotonic() - getattr(self, "_started", time.monotonic())
        RECORDS.append((test, outcome, detail, elapsed))

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "failure", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, "skipped", "expected failure")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, "failure", "unexpected success")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:  # unittest counts a failing subtest as a failure of its own
            kind = "failure" if issubclass(err[0], test.failureException) else "error"
            self._record(subtest, kind, self._exc_info_to_string(err, test))


def _write(path):
    suite = ET.Element("testsuite", name="unittest", tests=str(len(RECORDS)))
    for test, outcome, detail, elapsed in RECORDS:
        test_id = test.id()
        classname, _, name = test_id.rpartition(".")
        case = ET.SubElement(suite, "testcase", classname=classname, name=name or test_id, time=f"{elapsed:.3f}")
        if outcome != "passed":
            last = detail.strip().splitlines()[-1][:500] if detail.strip() else ""
            ET.SubElement(case, outcome, message=last).text = detail
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


class JUnitRunner(unittest.TextTestRunner):
    resultclass = JUnitResult


if __name__ == "__main__":
    sys.argv[0] = "python -m unittest"
    report = os.environ.get("DOCKHAND_JUNIT", "junit.xml")
    program = unittest.main(module=None, testRunner=JUnitRunner, exit=False)
    _write(report)
    sys.exit(not program.result.wasSuccessful())
