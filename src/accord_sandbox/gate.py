"""A TCP gate in front of an emulator: close it and connections are refused, as in an outage.

The emulators' fault API answers with HTTP errors (503s, 429s, lost answers, slow answers); a
system that is down refuses the connection itself, which only something in front of the port
can do. Point Accord's connection at :attr:`TcpGate.url` instead of the emulator's URL;
:meth:`TcpGate.close` then refuses new connections and cuts the open ones, and
:meth:`TcpGate.open` lets traffic through again. Used by the retry tests and the chaos
benchmark (``bench/chaos.py``).
"""

import contextlib
import socket
import threading

__all__ = ["TcpGate"]

_BACKLOG = 128
_CHUNK = 65536


class TcpGate:
    """A TCP forwarder on a free loopback port to one ``http://host:port`` target."""

    def __init__(self, target: str) -> None:
        host, _, port = target.removeprefix("http://").partition(":")
        self.target = (host, int(port.split("/")[0]))
        probe = socket.create_server(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The gate's own URL (give this to the client)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_open(self) -> bool:
        """Whether the gate accepts connections now."""
        return self._listener is not None

    def open(self) -> None:
        """Start (or resume) accepting connections and forwarding them."""
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(_BACKLOG)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """Stop listening (new connections are refused) and cut every open connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            # close() alone leaves a socket blocked in accept() listening (Linux); shutdown
            # wakes the accept up and stops the listening for good.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(_CHUNK):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                for s in (src, dst):
                    if s in self._conns:
                        self._conns.remove(s)
                        s.close()
