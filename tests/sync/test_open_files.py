"""PouchDB Server's open files (issue 19, item 18): it keeps about four files open
for every database it has opened and never closes them, so its open-files limit
bounds how many volunteers it can serve. Real PouchDB Server, real LevelDB files,
the limit lowered on the running process."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from sync import embedded
from sync.couch import Couch, CouchError
from tests.conftest import ROOT, free_port

LIMIT = 300


@pytest.fixture
def limited_couch(tmp_path) -> Iterator[tuple[Couch, embedded.OpenFiles]]:
    """A PouchDB Server of its own whose open-files limit is lowered to LIMIT."""
    port = free_port()
    process = embedded.start(ROOT / "node_modules", tmp_path, port)
    resource.prlimit(process.pid, resource.RLIMIT_NOFILE, (LIMIT, LIMIT))
    files = embedded.open_files(tmp_path)
    yield Couch(f"http://127.0.0.1:{port}", "", ""), files
    embedded.stop(process)


def sweep(couch: Couch, names: list[str]) -> None:
    """What the worker's sweep does to each volunteer database: open it and read it."""
    for name in names:
        couch.changes(name, 0, limit=1)


def test_the_limit_is_read_from_the_running_server(limited_couch):
    _couch, files = limited_couch
    assert files is not None and files.limit == LIMIT
    assert 0 < files.open < LIMIT


def test_as_many_databases_as_said_survive_a_sweep_and_many_more_do_not(limited_couch,
                                                                      tmp_path):
    couch, files = limited_couch
    room = files.room_for
    assert room > 0
    names = [f"userdb-{i:04x}" for i in range(room + embedded.OTHER_DATABASES)]
    for name in names:
        couch.ensure_db(name)
    sweep(couch, names)
    after = embedded.open_files(tmp_path)
    assert after is not None and after.open < LIMIT, after  # still serving, within its limit
    # The files the estimate counts on: FILES_PER_DATABASE for each database it opened.
    assert after.open - files.open >= embedded.FILES_PER_DATABASE * len(names)
    # Well past the room said, it dies the way the trial saw (the reason to warn).
    more = [f"userdb-x{i:04x}" for i in range(LIMIT // embedded.FILES_PER_DATABASE)]
    with pytest.raises(CouchError):
        for name in more:
            couch.ensure_db(name)
        sweep(couch, more)
