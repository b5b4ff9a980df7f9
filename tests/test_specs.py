"""Pure parsing: repository references and task submissions."""

from __future__ import annotations

import pytest

from core.errors import ValidationError
from core.repo_ref import RepoRef
from core.specs import CustomSpec, TaskSubmission
from core.states import TaskStatus, TaskType


@pytest.mark.parametrize(
    "text,owner,name,number",
    [
        ("acme/api#12", "acme", "api", 12),
        ("acme/api", "acme", "api", None),
        ("api#3", None, "api", 3),
        (" my-org/my.repo_2#1 ", "my-org", "my.repo_2", 1),
    ],
)
def test_repo_refs_parse(text: str, owner: str | None, name: str, number: int | None) -> None:
    ref = RepoRef.parse(text)
    assert (ref.owner, ref.name, ref.number) == (owner, name, number)


@pytest.mark.parametrize("text", ["", "a/b/c", "acme/api#", "acme/api#x", "../etc#1", "acme/..", "a b/c"])
def test_bad_repo_refs_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        RepoRef.parse(text)


def test_default_owner_fills_in() -> None:
    assert str(RepoRef.parse("api#4", default_owner="acme")) == "acme/api#4"


def test_submission_validates_its_payload_by_type() -> None:
    spec = TaskSubmission(type=TaskType.CUSTOM, payload={"command": "ls", "env": {"A_B": "1"}}).validated_spec()
    assert isinstance(spec, CustomSpec) and spec.env == {"A_B": "1"}
    with pytest.raises(ValidationError, match="env"):
        TaskSubmission(type=TaskType.CUSTOM, payload={"command": "ls", "env": {"1BAD": "x"}}).validated_spec()
    with pytest.raises(ValidationError, match="issue_number"):
        TaskSubmission(type=TaskType.ISSUE_RESOLUTION, repository="a/b", payload={}).validated_spec()


def test_status_transitions_are_explicit() -> None:
    TaskStatus.PENDING.check_transition(TaskStatus.RUNNING)
    with pytest.raises(ValueError, match="succeeded"):
        TaskStatus.SUCCEEDED.check_transition(TaskStatus.RUNNING)
    assert {s for s in TaskStatus if s.is_final} == {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED}


@pytest.mark.parametrize("repository", ["acme/api", "my-org/my.repo", "a_b/c"])
def test_submission_repository_accepts_real_names(repository: str) -> None:
    assert (
        TaskSubmission(type=TaskType.CUSTOM, payload={"command": "x"}, repository=repository).repository == repository
    )


@pytest.mark.parametrize("repository", ["../x", "acme/..", "acme/.", "acme", "a/b/c", "-/x/"])
def test_submission_repository_refuses_paths(repository: str) -> None:
    with pytest.raises(ValueError):
        TaskSubmission(type=TaskType.CUSTOM, payload={"command": "x"}, repository=repository)
