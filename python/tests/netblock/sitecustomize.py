"""Loaded by every CLI child in the tests (PYTHONPATH): blocks outbound network, records attempts.

Anything but AF_UNIX connect()/DNS lookups raises and is appended to $CVP_NET_LOG, so a test can
assert that a run never even tried to reach the network.
"""
import os
import socket

_log = os.environ.get("CVP_NET_LOG")


def _record(what):
    if _log:
        import traceback

        # the caller chain tells which library tried to go online
        where = " <- ".join(f"{fs.filename.split('site-packages/')[-1]}:{fs.lineno}" for fs in traceback.extract_stack()[-30:-2] if 'site-packages' in fs.filename and 'urllib3' not in fs.filename and 'requests/' not in fs.filename)
        with open(_log, "a") as f:
            f.write(f"{os.getpid()} {what} at {where}\n")


_orig_connect = socket.socket.connect
_orig_connect_ex = socket.socket.connect_ex


def _connect(self, address):
    if self.family == getattr(socket, "AF_UNIX", None):
        return _orig_connect(self, address)
    _record(f"connect {address!r}")
    raise OSError(101, "network blocked by the cvp test suite")


def _connect_ex(self, address):
    if self.family == getattr(socket, "AF_UNIX", None):
        return _orig_connect_ex(self, address)
    _record(f"connect_ex {address!r}")
    return 101


def _getaddrinfo(host, *a, **k):
    _record(f"getaddrinfo {host!r}")
    raise socket.gaierror(-3, "network blocked by the cvp test suite")


socket.socket.connect = _connect
socket.socket.connect_ex = _connect_ex
socket.getaddrinfo = _getaddrinfo
socket.create_connection = lambda address, *a, **k: _connect(socket.socket(), address)
