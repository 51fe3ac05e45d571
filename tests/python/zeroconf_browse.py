#!/usr/bin/env python3
"""Browse for and resolve one Wyoming mDNS advertisement with python-zeroconf, the library Home
Assistant uses, as Home Assistant does: a ServiceBrowser on `_wyoming._tcp.local.`, then a ServiceInfo
request for the instance found.

python-zeroconf always uses the standard mDNS port 5353; this script confines it to IPv4 loopback, so
nothing is sent on the network.

Usage: zeroconf_browse.py FULLNAME [TIMEOUT_S]

Prints one JSON object (name, server, port, addresses, properties) and exits 0 when resolved, exits 1
when not resolved in time, and exits 77 when python-zeroconf is not installed (callers skip).
"""

import json
import sys
import threading
import time

try:
    from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, Zeroconf
except ImportError:
    print("python-zeroconf is not installed", file=sys.stderr)
    sys.exit(77)

SERVICE_TYPE = "_wyoming._tcp.local."


def main() -> int:
    fullname = sys.argv[1]
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    deadline = time.monotonic() + timeout

    zc = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    try:
        found = threading.Event()

        def on_change(zeroconf, service_type, name, state_change):  # noqa: ARG001
            if name.lower() == fullname.lower():
                found.set()

        browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[on_change])
        try:
            if not found.wait(timeout):
                print(f"{fullname} was not browsed within {timeout} s", file=sys.stderr)
                return 1
            info = ServiceInfo(SERVICE_TYPE, fullname)
            remaining_ms = max(100.0, (deadline - time.monotonic()) * 1000.0)
            if not info.request(zc, remaining_ms):
                print(f"{fullname} was browsed but not resolved", file=sys.stderr)
                return 1
            print(
                json.dumps(
                    {
                        "name": info.name,
                        "server": info.server,
                        "port": info.port,
                        "addresses": info.parsed_addresses(),
                        "properties": {
                            k.decode(): (v.decode() if v is not None else None)
                            for k, v in info.properties.items()
                        },
                    }
                )
            )
            return 0
        finally:
            browser.cancel()
    finally:
        zc.close()


if __name__ == "__main__":
    sys.exit(main())
