"""Reference row: the classic asyncio StreamReader/StreamWriter echo server (100-byte reads).

Prints one JSON line {"event": "listening", "echo": {"port": N}} when bound.
Only deviation from the tutorial shape: backlog=511 (Node's default) instead of asyncio's 100,
so the accept queue is the same size as the Node servers' and connection bursts compare fairly.
"""
import asyncio
import json
import os
import resource
import signal
import sys


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(100)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def main() -> None:
    # Node raises its own soft open-files limit to the hard limit at start; do the same.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    host = os.environ.get("ECHO_HOST", "127.0.0.1")
    port = int(os.environ.get("ECHO_PORT", "0"))
    server = await asyncio.start_server(handle, host, port, backlog=511)
    bound = server.sockets[0].getsockname()
    print(json.dumps({"event": "listening", "echo": {"address": bound[0], "port": bound[1]}}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    sys.exit(0)


if __name__ == "__main__":
    asyncio.run(main())
