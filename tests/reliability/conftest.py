"""Everything under tests/reliability/ is a long run: marked `reliability`, left out of `make test`
(`-m 'not reliability'` in pyproject's addopts) and run by `make test-reliability`. A long run that needs its
own directory's fixtures stays there and carries the marker itself (tests/alerts/test_crash.py,
tests/alerts/test_source_outage.py, the killed-worker tests of tests/test_chart_pool.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.reliability)
