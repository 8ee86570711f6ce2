"""The quick tier runs without the network and without MNIST (tests/conftest.py), and pytest's options."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from lit_draw.data.mnist import default_root
from tests.conftest import real_data_users


def test_a_quick_test_has_no_network_and_an_empty_data_root(hermetic: list[object]):
    assert default_root() != Path.home() / ".cache" / "lit_draw" and not any(default_root().iterdir())
    with pytest.raises(OSError, match="quick tests have no network"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1: never a real host
    assert hermetic == [("192.0.2.1", 80)]
    hermetic.clear()  # seen: the guard would fail this test after it
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname(), timeout=1):
        pass  # this machine stays reachable (the download tests serve files on it)


@pytest.mark.slow
def test_a_slow_test_keeps_the_real_data_root_and_the_network(hermetic: list[object]):
    assert default_root() == Path(os.environ.get("LIT_DRAW_DATA") or Path.home() / ".cache" / "lit_draw")
    assert socket.socket.connect.__qualname__ == "socket.connect"  # not the quick tier's guard


def test_a_quick_test_that_asks_for_the_real_mnist_is_named_at_collection():
    def item(nodeid: str, fixtures: list[str], slow: bool) -> SimpleNamespace:
        return SimpleNamespace(nodeid=nodeid, fixturenames=fixtures, get_closest_marker=lambda name: slow or None)

    items = [
        item("quick_real", ["tmp_path", "mnist_root"], slow=False),
        item("slow_real", ["mnist_root"], slow=True),
        item("quick_generated", ["synthetic_mnist_root"], slow=False),
    ]
    assert real_data_users(items) == ["quick_real"]


def test_pytest_refuses_unknown_markers_and_names_the_slowest_tests(pytestconfig: pytest.Config):
    addopts = pytestconfig.getini("addopts")
    assert {"-ra", "--strict-markers", "--durations=10"} <= set(addopts)
