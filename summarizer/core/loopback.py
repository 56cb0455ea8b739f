"""One answer to "is this host this machine?", for the key check (model/settings.py: no key over plain http
beyond loopback) and the service (service/guard.py: no keyless server beyond loopback; its Host and Origin
checks)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    """`localhost`, a name under `.localhost` (RFC 6761: always the loopback interface; browsers never ask
    DNS for one), or a loopback address (IPv6 with or without its brackets). Names in any case."""
    if not host:
        return False
    host = host.lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
