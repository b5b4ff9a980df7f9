"""`dockhand doctor`: is this installation ready, and if not, what to do about it.

Each check is read only (it never creates the database, the image or a key) and ends in one `Check`:
ok, a failure of something dockhand needs (the command then exits non-zero), a warning, or skipped
because the feature is not configured. A failure and a warning carry the fix in one line. The cloud
services are asked only what costs nothing: GitHub `GET /user` or an installation token, Slack
`auth.test`, Anthropic's models list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from bot.doctor.machine import check_data_dir, check_database, check_docker, check_python
from bot.doctor.report import Check, CheckState, short_error
from bot.doctor.services import check_github, check_model, check_service, check_slack, service_answers
from core.settings import Settings

__all__ = ["Check", "CheckState", "run_checks", "service_answers"]


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    for area in (
        check_python,
        check_database,
        check_docker,
        check_data_dir,
        check_github,
        check_slack,
        check_model,
        check_service,
    ):
        checks += list(_guarded(area, settings))
    return checks


def _guarded(area: Callable[[Settings], Iterator[Check]], settings: Settings) -> Iterator[Check]:
    """A check that raised is that check's failure, not the doctor's crash."""
    name = area.__name__.removeprefix("check_").replace("_", " ")
    try:
        yield from area(settings)
    except Exception as exc:  # the doctor reports whatever went wrong, whatever it is
        yield Check(name, "check", CheckState.FAIL, f"{type(exc).__name__}: {short_error(exc)}", "see the detail")
