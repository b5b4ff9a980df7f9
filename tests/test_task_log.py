"""The task log's writer: batches in the background, in order, nothing lost; output split into lines."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from core.specs import TaskSubmission
from core.states import LogStream, TaskType
from core.store.sql import open_sql_store
from sandbox.output import LineSplitter
from tests.support.waiting import wait_for


def test_many_batches_arrive_whole_and_in_order(tmp_path: Path) -> None:
    store = open_sql_store(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/log.db"))
    task = store.tasks.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"})).task
    sink = store.logs.sink(task.id)
    for i in range(12_345):
        sink.write(f"line {i}", LogStream.STDERR if i % 7 == 0 else LogStream.STDOUT)
    sink.flush()
    lines = store.logs.tail(task.id, limit=20_000)
    assert [line.line for line in lines] == [f"line {i}" for i in range(12_345)]
    assert lines[7].stream is LogStream.STDERR and lines[8].stream is LogStream.STDOUT
    # A lone line is seen by followers without a flush (by its age).
    sink.write("a lone line")
    wait_for(lambda: store.logs.last(task.id, 1)[0].line == "a lone line", timeout=5, what="the lone line")


def test_output_is_split_into_lines_and_overlong_lines_into_pieces() -> None:
    splitter = LineSplitter(max_line=4)
    assert splitter.feed(b"ab\ncdefgh\nij") == ["ab", "cdef", "gh"]
    assert splitter.feed(b"kl") == ["ijkl"]
    assert splitter.feed(b"m") == []
    assert splitter.feed(b"n\n\n") == ["mn", ""]
    assert splitter.feed("é".encode()[:1]) == [] and splitter.feed("é".encode()[1:] + b"\n") == ["é"]
    assert splitter.feed(b"tail") == ["tail"] and splitter.close() == []
    assert splitter.feed(b"end") == [] and splitter.close() == ["end"]
