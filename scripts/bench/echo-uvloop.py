"""uvloop's echo server, the bar the echo benchmark holds gale to.

    /usr/bin/python3 scripts/bench/echo-uvloop.py PORT [HOST]     (HOST: 127.0.0.1)

An asyncio Protocol on uvloop (libuv driven from Cython): each received
chunk is written straight back; when the transport's write buffer goes over
its high-water mark asyncio calls pause_writing() and we stop reading until
resume_writing(), so memory stays bounded however fast the client sends
(the same backpressure as echo-node.ts's pause()/'drain'). uvloop turns
Nagle off (TCP_NODELAY) on every TCP transport itself.

Same contract as echo-node.ts: one ready line of JSON on stdout once
listening, and on SIGTERM one JSON line of counters on stderr, then exit.
"""
import asyncio
import json
import os
import signal
import sys

import uvloop

counters = {"connections": 0, "reads": 0, "bytesEchoed": 0}


class Echo(asyncio.Protocol):
    __slots__ = ("transport",)

    def connection_made(self, transport):
        self.transport = transport
        counters["connections"] += 1

    def data_received(self, data):
        counters["reads"] += 1
        counters["bytesEchoed"] += len(data)
        self.transport.write(data)

    def pause_writing(self):
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()

    # eof_received returns None: the transport closes our side once the
    # pending writes are flushed, as node:net's allowHalfOpen=false does.


def main():
    try:
        port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    except ValueError:
        port = -1
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    if not 0 <= port <= 65535:
        sys.stderr.write("usage: echo-uvloop.py PORT [HOST]\n")
        sys.exit(64)

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(Echo, host, port))
    bound = server.sockets[0].getsockname()

    def stop():
        sys.stderr.write(json.dumps({"server": "uvloop", **counters}) + "\n")
        sys.stderr.flush()
        os._exit(0)

    loop.add_signal_handler(signal.SIGTERM, stop)
    sys.stdout.write(json.dumps({"server": "uvloop", "ready": True, "port": bound[1], "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    loop.run_forever()


if __name__ == "__main__":
    main()
