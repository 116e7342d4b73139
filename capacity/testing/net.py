"""Loopback helpers: a free TCP port, and the console scripts installed beside this Python."""

from __future__ import annotations

import socket
import sys
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host`` (loopback by default)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tool(name: str) -> str:
    """The path of a console script installed beside this Python (capacity, locust, st)."""
    return str(Path(sys.executable).with_name(name))
