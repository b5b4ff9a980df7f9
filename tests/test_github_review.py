"""Review comments only where GitHub takes them: the diff-line map, on real `git diff` output and on
GitHub's per-file patches, and reviews and check runs posted by PyGithub to the contract-held fake."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from bot.github.client import CHECK_OUTPUT_LIMIT, CheckConclusion, CheckStatus, FileStatus, GitHubClient, GitHubError
from core.review.lines import Diff, ReviewComment, ReviewEvent, Side, draft_review
from core.settings import Settings
from tests.support.fake_github import FakeGitHub, diff_lines, running_fake_github

REPO = "acme/api"
SHA = "c0ffee" + "0" * 34

# GitHub's `patch` for app.py: two hunks, a "\ No newline" in the middle of the first.
APP_PATCH = """@@ -1,4 +1,5 @@
 import os
-x = 1
\\ No newline at end of file
+x = 2
+y = 3
 z = 4
 w = 5
@@ -40,3 +41,4 @@ def main():
     a()
+    b()
     c()
     d()"""
APP_RIGHT = {1, 2, 3, 4, 5, 41, 42, 43, 44}
DELETED_PATCH = "@@ -1,3 +0,0 @@\n-a\n-b\n-c"


def test_a_patch_gives_added_and_context_lines_on_the_right_and_removed_on_the_left() -> None:
    lines = Diff.from_patches({"app.py": APP_PATCH}).files["app.py"]
    assert lines.right == APP_RIGHT
    assert lines.left == {1, 2, 3, 4, 40, 41, 42}
    assert 20 not in lines.right, "between the hunks is outside the diff"


def test_deleted_binary_and_new_files() -> None:
    diff = Diff.from_patches({"gone.py": DELETED_PATCH, "logo.png": None, "new.py": "@@ -0,0 +1,2 @@\n+a\n+b"})
    assert diff.files["gone.py"].right == set() and diff.files["gone.py"].left == {1, 2, 3}
    assert diff.files["logo.png"].right == diff.files["logo.png"].left == set()
    assert diff.files["new.py"].right == {1, 2}
    assert not diff.allows(ReviewComment(path="gone.py", line=1, body="why?"))
    assert diff.allows(ReviewComment(path="gone.py", line=1, body="why?", side=Side.LEFT))


def test_hunk_header_counts_default_to_one_and_bound_the_hunk() -> None:
    assert Diff.from_patches({"f": "@@ -3 +3 @@\n-a\n+b"}).files["f"].right == {3}
    assert Diff.from_patches({"f": "@@ -3 +3 @@\n+b\n-a"}).files["f"].left == {3}
    # After the counted lines, text that looks like a hunk line is not one.
    assert Diff.from_patches({"f": "@@ -1,1 +1,1 @@\n-a\n+b\n+stray"}).files["f"].right == {1}


def test_lines_are_split_on_newlines_only() -> None:
    # str.splitlines() would also split at the form feed and count one line too many.
    patch = "@@ -1,2 +1,2 @@\n-a\x0cb\n+a\x0cc\n d\u2028e"
    assert Diff.from_patches({"f": patch}).files["f"].right == {1, 2}


def test_a_context_line_whose_space_an_editor_stripped_still_counts() -> None:
    assert Diff.from_patches({"f": "@@ -1,3 +1,3 @@\n a\n\n-b\n+c"}).files["f"].right == {1, 2, 3}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def real_diff(tmp_path: Path) -> str:
    """`git diff` between two real commits: two hunks, a rename with a change, a deletion, a binary,
    quoted and spaced names, a file with no newline at its end, and a removed line reading "-- a/x"."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    numbered = "".join(f"line {n}\n" for n in range(1, 51))
    files: dict[str, str | bytes] = {
        "app.py": numbered,
        "old name.txt": "".join(f"text {n}\n" for n in range(1, 21)),
        "gone.py": "a\nb\nc\n",
        "logo.png": b"\x89PNG\x00\x01",
        "café.txt": "un\ndeux\ntrois\n",
        "no-eol.txt": "a\nb\nc",
        "notes.md": "-- a/x\nkeep\n",
    }
    for name, content in files.items():
        path = repo / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "--quiet", "-m", "base")
    (repo / "app.py").write_text(numbered.replace("line 3\n", "line three\n").replace("line 40\n", "line 40\nnew\n"))
    (repo / "old name.txt").rename(repo / "new name.txt")
    (repo / "new name.txt").write_text("".join(f"text {n}\n" for n in range(1, 21)).replace("text 10", "ten"))
    (repo / "gone.py").unlink()
    (repo / "logo.png").write_bytes(b"\x89PNG\x00\x02")
    (repo / "café.txt").write_text("un\nzwei\ntrois\n")
    (repo / "with space.txt").write_text("first\nsecond\n")
    (repo / "no-eol.txt").write_text("a\nb\nC")
    (repo / "notes.md").write_text("keep\n")
    git(repo, "add", "-A")
    return git(repo, "diff", "--cached", "-M")


def test_a_real_git_diff(real_diff: str) -> None:
    assert '"a/caf\\303\\251.txt"' in real_diff and "+++ b/with space.txt\t" in real_diff, "git quoted as expected"
    assert "Binary files a/logo.png and b/logo.png differ" in real_diff
    files = Diff.parse(real_diff).files
    assert set(files) == {"app.py", "new name.txt", "gone.py", "café.txt", "with space.txt", "no-eol.txt", "notes.md"}
    assert files["app.py"].right == {1, 2, 3, 4, 5, 6} | {38, 39, 40, 41, 42, 43, 44}
    assert files["new name.txt"].right == set(range(7, 14)), "keyed by the name after the rename"
    assert files["gone.py"].right == set() and files["gone.py"].left == {1, 2, 3}
    assert files["café.txt"].right == {1, 2, 3}
    assert files["with space.txt"].right == {1, 2}
    assert files["no-eol.txt"].right == files["no-eol.txt"].left == {1, 2, 3}
    assert files["notes.md"].left == {1, 2} and files["notes.md"].right == {1}


def test_the_parser_and_the_fakes_oracle_agree_on_each_files_patch(real_diff: str) -> None:
    """GitHub's `patch` is a file's diff from its first hunk on; both readers must see the same lines."""
    parsed = Diff.parse(real_diff).files
    patches = {}
    for section in real_diff.split("diff --git ")[1:]:
        if "\n@@ " in section:
            [path] = Diff.parse("diff --git " + section).files
            patches[path] = section[section.index("\n@@ ") + 1 :].rstrip("\n")
    assert set(patches) == set(parsed)
    for path, patch in patches.items():
        ours = Diff.from_patches({path: patch}).files[path]
        assert (ours.left, ours.right) == (diff_lines(patch)["LEFT"], diff_lines(patch)["RIGHT"]), path
        assert ours == parsed[path], path


def test_a_plain_unified_diff_without_git_headers() -> None:
    text = (
        "--- a/x.py\t2026-01-01\n+++ b/x.py\t2026-01-02\n@@ -1 +1 @@\n--- old\n+new\n"  # "-- old" was removed
        "--- a/y.py\n+++ b/y.py\n@@ -5,0 +6 @@\n+z\n"
    )
    files = Diff.parse(text).files
    assert set(files) == {"x.py", "y.py"} and files["x.py"].left == {1} and files["y.py"].right == {6}


def test_quoted_names_with_escapes() -> None:
    text = 'diff --git "a/t\\tab" "b/t\\tab"\n--- "a/t\\tab"\n+++ "b/t\\tab"\n@@ -1 +1 @@\n-a\n+b\n'
    assert set(Diff.parse(text).files) == {"t\tab"}


def test_comments_off_the_diff_are_folded_into_the_body() -> None:
    diff = Diff.from_patches({"app.py": APP_PATCH, "logo.png": None})
    wanted = [
        ReviewComment(path="app.py", line=3, body="y is unused"),
        ReviewComment(path="app.py", line=20, body="this loop is quadratic\nsee #12"),
        ReviewComment(path="logo.png", line=1, body="too large"),
        ReviewComment(path="app.py", line=2, body="why was x 1?", side=Side.LEFT),
        ReviewComment(path="we`ird", line=1, body="odd name"),
    ]
    draft = draft_review("Looks good overall.", wanted, diff)
    assert draft.comments == (wanted[0], wanted[3])
    assert draft.folded == (wanted[1], wanted[2], wanted[4])
    assert draft.body == (
        "Looks good overall.\n\nComments on lines outside the diff:\n\n"
        "- `app.py:20` — this loop is quadratic\n  see #12\n"
        "- `logo.png:1` — too large\n"
        "- ``we`ird:1`` — odd name"
    )
    assert draft_review("Fine.", wanted[:1], diff).body == "Fine.", "nothing folded, body untouched"
    assert draft_review("", wanted[1:2], diff).body.startswith("Comments on lines outside the diff:")


def test_review_comments_are_checked() -> None:
    with pytest.raises(ValueError, match="lines start at 1"):
        ReviewComment(path="a.py", line=0, body="x")
    assert ReviewComment(path="a.py", line=1, body="x", side="LEFT").side is Side.LEFT  # type: ignore[arg-type]


# --- against the fake -------------------------------------------------------------------------
FILES = [
    {"filename": "app.py", "patch": APP_PATCH},
    {"filename": "gone.py", "status": "removed", "patch": DELETED_PATCH},
    {"filename": "logo.png"},
    {"filename": "lib/new.py", "status": "renamed", "previous_filename": "lib/old.py", "patch": "@@ -9 +9 @@\n-a\n+b"},
]


def _settings(tmp_path: Path, url: str, **github: object) -> Settings:
    return Settings.load(_env_file=None, data_dir=tmp_path, github_api_url=url, **github)


@pytest.fixture
def github(tmp_path: Path) -> Iterator[tuple[FakeGitHub, GitHubClient, str]]:
    fake = FakeGitHub()
    fake.add_repo(REPO)
    fake.add_pull(REPO, 7, head_sha=SHA, head="feature/x", title="Speed up", body="Please review", files=FILES)
    with running_fake_github(fake) as (fake, url):
        client = GitHubClient.from_settings(
            _settings(tmp_path, url, github_token=SecretStr("ghp_fake_token")), throttle=False
        )
        yield fake, client, url
        client.close()
    assert fake.contract_errors == []


def test_pull_request_and_its_files(github: tuple[FakeGitHub, GitHubClient, str]) -> None:
    _, client, _ = github
    pull = client.pull_request(REPO, 7)
    assert (pull.number, pull.head_sha, pull.head_ref, pull.base_ref) == (7, SHA, "feature/x", "main")
    assert (pull.title, pull.body, pull.author, pull.draft) == ("Speed up", "Please review", "alice", False)
    assert pull.html_url.endswith(f"{REPO}/pull/7")
    files = client.pull_request_files(REPO, 7)
    assert [(f.filename, f.status, f.patch) for f in files] == [
        ("app.py", FileStatus.MODIFIED, APP_PATCH),
        ("gone.py", FileStatus.REMOVED, DELETED_PATCH),
        ("logo.png", FileStatus.MODIFIED, None),
        ("lib/new.py", FileStatus.RENAMED, "@@ -9 +9 @@\n-a\n+b"),
    ]
    assert files[3].previous_filename == "lib/old.py" and files[0].previous_filename is None
    with pytest.raises(GitHubError) as err:
        client.pull_request(REPO, 99)
    assert err.value.status == 404


def test_a_review_posts_diff_comments_inline_and_folds_the_rest(
    github: tuple[FakeGitHub, GitHubClient, str],
) -> None:
    fake, client, url = github
    pull = client.pull_request(REPO, 7)
    diff = Diff.from_patches({f.filename: f.patch for f in client.pull_request_files(REPO, 7)})
    on_diff = ReviewComment(path="app.py", line=42, body="b() can raise")
    off_diff = ReviewComment(path="app.py", line=20, body="rename this")
    draft = draft_review("Two notes.", [on_diff, off_diff], diff)
    review_id = client.create_review(
        REPO, 7, commit_sha=pull.head_sha, body=draft.body, event=ReviewEvent.COMMENT, comments=draft.comments
    )
    review = fake.reviews[review_id]
    assert review["comments"] == [{"path": "app.py", "line": 42, "side": "RIGHT", "body": "b() can raise"}]
    assert review["state"] == "COMMENTED" and review["commit_id"] == SHA
    assert review["body"].endswith("- `app.py:20` — rename this")
    assert [s for m, _, s in fake.answers if m == "POST"] == [200], "one review, no 422"
    listed = httpx.get(f"{url}/repos/{REPO}/pulls/7/reviews", headers={"Authorization": "token ghp_fake_token"})
    assert [r["id"] for r in listed.json()] == [review_id]


def test_the_fake_refuses_a_comment_off_the_diff_as_github_does(
    github: tuple[FakeGitHub, GitHubClient, str],
) -> None:
    fake, client, _ = github
    refused = [
        ReviewComment(path="app.py", line=20, body="between the hunks"),
        ReviewComment(path="gone.py", line=1, body="the file is gone on the right"),
        ReviewComment(path="logo.png", line=1, body="binary"),
        ReviewComment(path="lib/old.py", line=9, body="the name before the rename"),
    ]
    for comment in refused:
        with pytest.raises(GitHubError, match="line must be part of the diff") as err:
            client.create_review(REPO, 7, commit_sha=SHA, body="x", event=ReviewEvent.COMMENT, comments=[comment])
        assert err.value.status == 422
    assert fake.reviews == {}
    left = ReviewComment(path="gone.py", line=1, body="fine to drop", side=Side.LEFT)
    client.create_review(REPO, 7, commit_sha=SHA, body="", event=ReviewEvent.APPROVE, comments=[left])
    assert len(fake.reviews) == 1, "the same line is on the diff on the LEFT"


def test_github_forbids_approving_your_own_pull_request(github: tuple[FakeGitHub, GitHubClient, str]) -> None:
    fake, client, _ = github
    mine = client.open_pull_request(REPO, head="dockhand/fix", base="main", title="Fix", body="")
    with pytest.raises(GitHubError, match="Can not approve your own pull request"):
        client.create_review(REPO, mine.number, commit_sha="0" * 40, body="", event=ReviewEvent.APPROVE)
    assert fake.reviews == {}


def test_check_runs_need_a_github_app(github: tuple[FakeGitHub, GitHubClient, str]) -> None:
    fake, client, _ = github
    with pytest.raises(GitHubError, match="403 You must authenticate via a GitHub App"):
        client.create_check_run(REPO, name="dockhand/tests", head_sha=SHA)
    with pytest.raises(ValueError, match="needs a conclusion"):
        client.update_check_run(REPO, 1, status=CheckStatus.COMPLETED)
    with pytest.raises(ValueError, match="title and a summary"):
        client.update_check_run(REPO, 1, summary="no title")
    assert fake.check_runs == {}


def test_a_check_run_from_an_app_installation(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "app.pem").write_bytes(pem)
    fake = FakeGitHub()
    fake.add_repo(REPO)
    fake.add_app(42, public.decode(), installation_id=99)
    with running_fake_github(fake) as (fake, url):
        settings = _settings(tmp_path, url, github_app_id=42, github_app_private_key_path=tmp_path / "app.pem")
        client = GitHubClient.from_settings(settings, installation_id=99, throttle=False)
        run_id = client.create_check_run(
            REPO, name="dockhand/tests", head_sha=SHA, status=CheckStatus.IN_PROGRESS, title="Running", summary="…"
        )
        assert fake.check_runs[run_id]["status"] == "in_progress" and fake.check_runs[run_id]["conclusion"] is None
        client.update_check_run(
            REPO,
            run_id,
            conclusion=CheckConclusion.FAILURE,
            title="2 failed, 40 passed",
            summary="x" * 100_000,
            text="log line\n" * 10_000,
        )
        client.close()
    run = fake.check_runs[run_id]
    assert (run["name"], run["head_sha"], run["status"], run["conclusion"]) == (
        "dockhand/tests",
        SHA,
        "completed",
        "failure",
    )
    assert run["output"]["title"] == "2 failed, 40 passed"
    assert len(run["output"]["summary"]) == CHECK_OUTPUT_LIMIT and run["output"]["summary"].endswith("(truncated)")
    assert len(run["output"]["text"]) == CHECK_OUTPUT_LIMIT
    assert ("POST", "/app/installations/99/access_tokens") in [(m, p) for m, p, _ in fake.requests]
    assert fake.contract_errors == []
