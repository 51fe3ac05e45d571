"""Python `wyoming` client against a Rust echo server that parses every event into its typed form and
writes it back. For each catalogue event the reply must be byte-identical to what the Python writer
emits, and the library's typed reader must accept it. Usage: interop_client.py HOST PORT"""

import asyncio
import io
import sys

from wyoming.client import AsyncClient
from wyoming.event import async_read_event, write_event

from catalogue import catalogue, typed_class


def encode(event):
    buf = io.BytesIO()
    write_event(event, buf)
    return buf.getvalue()


async def main(host, port):
    failures = 0
    events = catalogue()
    async with AsyncClient.from_uri(f"tcp://{host}:{port}", connect_timeout=5, read_timeout=5) as client:
        for event in events:
            expected = encode(event)
            await client.write_event(event)
            got = await asyncio.wait_for(client._reader.readexactly(len(expected)), 5)
            if got != expected:
                failures += 1
                print(f"MISMATCH {event.type}:\n  python: {expected[:300]!r}\n  rust:   {got[:300]!r}")
                continue
            parsed = await async_read_event(asyncio_reader(got))
            cls = typed_class(event.type)
            if cls is not None and cls.from_event(parsed) != cls.from_event(event):
                failures += 1
                print(f"TYPED MISMATCH {event.type}")
    print(f"{len(events) - failures}/{len(events)} events byte-identical")
    return 1 if failures else 0


def asyncio_reader(data):
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]))))
