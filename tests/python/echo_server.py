"""A server written with the Python `wyoming` library that echoes every event through the library's
typed classes (`from_event(...).event()`), unknown types untouched. Usage: echo_server.py URI"""

import asyncio
import sys

from wyoming.server import AsyncEventHandler, AsyncServer

from catalogue import typed_class


class EchoHandler(AsyncEventHandler):
    async def handle_event(self, event):
        cls = typed_class(event.type)
        reply = cls.from_event(event).event() if cls is not None else event
        await self.write_event(reply)
        return True


async def main(uri):
    server = AsyncServer.from_uri(uri)
    await server.run(EchoHandler)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
