"""Runs the emulators side by side: one process, one event loop, one uvicorn server each.

:class:`Sandbox` builds the emulators for a host, a base port, a seed and a scenario, seeds
each with the same synthetic firm and optionally restores them from a state file.
:meth:`Sandbox.serve` runs them until asked to stop (SIGINT/SIGTERM in the main thread, or
:meth:`Sandbox.request_exit`) and then saves the state; :func:`run_sandbox` is the blocking
entry point of ``accord sandbox``, and :meth:`Sandbox.start_in_thread` runs the same thing in a
background thread for tests and ``accord demo``.

Ports are bound when the :class:`Sandbox` is built, before any server starts, so that a port
in use fails fast with a clear message, and so that ``base_port=0`` (every server on a free
port chosen by the OS) yields URLs the emulators know before their first request.

What does *not* belong here: anything a single emulator does (see :mod:`accord_sandbox.common`
and the per-system packages) and the CLI's presentation (:mod:`accord.cli.sandbox_cmd`).
"""

import asyncio
import contextlib
import importlib
import json
import logging
import signal
import socket
import threading
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import uvicorn
from typing_extensions import override

from accord_sandbox.common import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator
from accord_sandbox.firm import Firm
from accord_sandbox.scenario import SCENARIOS, ScenarioName, generate

__all__ = [
    "SYSTEMS",
    "Sandbox",
    "SandboxError",
    "SandboxHandle",
    "SystemInfo",
    "run_sandbox",
]

logger = logging.getLogger(__name__)

STATE_FORMAT: Final = "accord-sandbox-state/1"
"""Marker written into state files, checked when loading one."""


@dataclass(frozen=True)
class SystemInfo:
    """One emulated system: where its emulator class lives and which port offset it takes."""

    name: str
    """Short name, the key of :attr:`Sandbox.emulators` and :attr:`Sandbox.urls`."""
    title: str
    """Human-readable name for logs and the CLI."""
    module: str
    class_name: str
    port_offset: int
    """Added to the base port: the system listens on ``base_port + port_offset``."""


SYSTEMS: Final = (
    SystemInfo("salesforce", "Salesforce", "accord_sandbox.salesforce", "SalesforceEmulator", 1),
    SystemInfo("kantata", "Kantata OX", "accord_sandbox.kantata", "KantataEmulator", 2),
    SystemInfo("netsuite", "NetSuite", "accord_sandbox.netsuite", "NetSuiteEmulator", 3),
    SystemInfo(
        "business_central",
        "Business Central",
        "accord_sandbox.business_central",
        "BusinessCentralEmulator",
        4,
    ),
    SystemInfo(
        "dynamics_finance",
        "Dynamics 365 Finance",
        "accord_sandbox.dynamics_finance",
        "DynamicsFinanceEmulator",
        5,
    ),
)
"""The five systems, in port order."""


class SandboxError(Exception):
    """The sandbox cannot start or persist: a port in use, a bad state file, a bad argument."""


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to :class:`Sandbox`.

    Each ``uvicorn.Server`` otherwise installs its own SIGINT/SIGTERM handlers, replacing one
    another's, so only the last one would hear Ctrl+C; the sandbox stops them all together.
    """

    @override
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Sandbox:
    """The emulators of one sandbox, seeded with one synthetic firm.

    Args:
        host: interface to listen on.
        base_port: Salesforce listens on ``base_port + 1``, Kantata on ``+ 2``, NetSuite on
            ``+ 3``, Business Central on ``+ 4`` and Dynamics 365 Finance on ``+ 5``; ``0``
            lets the OS pick free ports.
        seed: seeds the synthetic firm and each emulator's randomness (ids, faults).
        scenario: which synthetic firm to generate (see :mod:`accord_sandbox.scenario`).
        state: a JSON file to restore from when it exists, and to save to on shutdown.
        firm: use this firm instead of generating one from ``scenario`` and ``seed``.
        client_id: the OAuth client id every emulator accepts.
        client_secret: the matching client secret.
        limits: each emulator enforces its vendor's documented limits (the default); False
            only for a test or benchmark that says why it needs none.

    Raises:
        SandboxError: a bad argument, a port that cannot be bound, an emulator package that
            cannot be imported, or a state file that cannot be read.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        base_port: int = 8800,
        seed: int = 7,
        scenario: ScenarioName = "firm",
        state: Path | None = None,
        firm: Firm | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        limits: bool = True,
    ) -> None:
        if scenario not in SCENARIOS:
            raise SandboxError(
                f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}"
            )
        if not 0 <= base_port <= 65535 - len(SYSTEMS):
            raise SandboxError(f"base port {base_port} out of range 0..{65535 - len(SYSTEMS)}")
        if state is not None and not state.parent.is_dir():
            # Checked now: finding out when saving at shutdown would lose the session.
            raise SandboxError(f"cannot keep state in {state}: {state.parent} is not a directory")
        self.host = host
        self.seed = firm.seed if firm is not None else seed
        self.scenario: ScenarioName = firm.scenario if firm is not None else scenario
        self.state_path = state
        self.client_id = client_id
        self.client_secret = client_secret
        classes = {system.name: _emulator_class(system) for system in SYSTEMS}
        # Bind before the (slower) firm generation so that a busy port fails fast.
        self._sockets = _bind_all(host, base_port)
        self.urls: dict[str, str] = {
            system.name: _url(host, self._sockets[system.name].getsockname()[1])
            for system in SYSTEMS
        }
        """Base URL of each system, by :attr:`SystemInfo.name`."""
        self.emulators: dict[str, Emulator] = {}
        """The emulator of each system, by :attr:`SystemInfo.name`."""
        try:
            self.firm = firm if firm is not None else generate(scenario, seed)
            for system in SYSTEMS:
                emulator = classes[system.name](
                    client_id=client_id,
                    client_secret=client_secret,
                    seed=self.seed,
                    base_url=self.urls[system.name],
                    limits=limits,
                )
                emulator.seed_firm(self.firm)
                self.emulators[system.name] = emulator
            if state is not None and state.exists():
                self.load(state)
        except BaseException:
            self.close()
            raise
        self._servers: list[_Server] = []
        self._exit_requested = False

    # ----------------------------------------------------------------- persistence
    def dump_state(self) -> dict[str, Any]:
        """Every emulator's state, as written to a state file."""
        return {
            "format": STATE_FORMAT,
            "scenario": self.scenario,
            "seed": self.seed,
            "systems": {name: emulator.dump_state() for name, emulator in self.emulators.items()},
        }

    def save(self, path: Path | None = None) -> Path:
        """Write the state of every emulator to ``path`` (default: the ``state`` file).

        The file is written beside the target and renamed over it, so an interrupted save
        never leaves half a file behind.

        Raises:
            SandboxError: no path given and none configured, or the file cannot be written.
        """
        target = path or self.state_path
        if target is None:
            raise SandboxError("no state file to save to")
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            tmp.write_text(json.dumps(self.dump_state(), default=str), encoding="utf-8")
            tmp.replace(target)
        except OSError as exc:
            raise SandboxError(f"cannot write state file {target}: {exc.strerror}") from exc
        return target

    def load(self, path: Path) -> None:
        """Restore every emulator from a state file written by :meth:`save`.

        Raises:
            SandboxError: the file cannot be read or is not a sandbox state file.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SandboxError(f"cannot read state file {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise SandboxError(f"state file {path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise SandboxError(f"{path} is not an Accord sandbox state file")
        if (data.get("scenario"), data.get("seed")) != (self.scenario, self.seed):
            logger.warning(
                "state file %s was saved from scenario %s seed %s; its records win",
                path,
                data.get("scenario"),
                data.get("seed"),
            )
        systems: dict[str, Any] = data.get("systems", {})
        for name, emulator in self.emulators.items():
            if name in systems:
                emulator.load_state(systems[name])
        logger.info("restored sandbox state from %s", path)

    # ----------------------------------------------------------------- serving
    async def serve(self, ready: Callable[[Self], None] | None = None) -> None:
        """Serve every emulator until asked to stop, then save the state (if configured).

        Args:
            ready: called once every server accepts connections.

        Raises:
            SandboxError: a server failed to start.
        """
        loop = asyncio.get_running_loop()
        self._servers = [
            _Server(
                uvicorn.Config(
                    self.emulators[system.name].app,
                    # uvicorn must not reconfigure logging (the host application owns it) nor
                    # log every request (benchmarks send hundreds of thousands).
                    log_config=None,
                    log_level="warning",
                    access_log=False,
                    lifespan="off",
                    timeout_graceful_shutdown=5,
                )
            )
            for system in SYSTEMS
        ]
        if self._exit_requested:
            for server in self._servers:
                server.should_exit = True
        handled = self._install_signal_handlers(loop)
        tasks = [
            asyncio.create_task(
                server.serve(sockets=[self._sockets[system.name]]), name=f"sandbox-{system.name}"
            )
            for system, server in zip(SYSTEMS, self._servers, strict=True)
        ]
        try:
            if await self._wait_started(tasks):
                for system in SYSTEMS:
                    logger.info("%s emulator listening on %s", system.title, self.urls[system.name])
                if ready is not None:
                    ready(self)
            await asyncio.gather(*tasks)
        finally:
            self.request_exit()
            # A failed startup leaves the other servers running: let them shut down cleanly.
            await asyncio.gather(*tasks, return_exceptions=True)
            for sig in handled:
                loop.remove_signal_handler(sig)
            self.close()
            if self.state_path is not None:
                logger.info("saved sandbox state to %s", self.save())

    async def _wait_started(self, tasks: list[asyncio.Task[None]]) -> bool:
        """True once every server accepts connections; False when asked to stop first."""
        while not all(server.started for server in self._servers):
            if self._exit_requested:
                return False
            for system, task in zip(SYSTEMS, tasks, strict=True):
                if task.done():
                    raise SandboxError(f"the {system.title} emulator failed to start")
            await asyncio.sleep(0.01)
        return True

    def _install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> list[signal.Signals]:
        if threading.current_thread() is not threading.main_thread():
            return []
        handled: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # e.g. Windows
                loop.add_signal_handler(sig, self._on_signal, sig)
                handled.append(sig)
        return handled

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._exit_requested and sig == signal.SIGINT:
            # A second Ctrl+C stops waiting for open connections.
            for server in self._servers:
                server.force_exit = True
            return
        logger.info("received %s, stopping the sandbox", sig.name)
        self.request_exit()

    def request_exit(self) -> None:
        """Ask every server to stop; :meth:`serve` returns once they have. Thread-safe."""
        self._exit_requested = True
        for server in self._servers:
            server.should_exit = True

    def close(self) -> None:
        """Release the listening sockets; a sandbox serves once (uvicorn closes them too)."""
        for sock in self._sockets.values():
            sock.close()

    def start_in_thread(self, *, timeout: float = 30.0) -> "SandboxHandle":
        """Serve in a background thread; return once every server accepts connections.

        Raises:
            SandboxError: the servers did not start within ``timeout`` seconds.
        """
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self.serve(ready=lambda _sandbox: started.set()))
            # uvicorn signals startup failures with SystemExit; hand any of them to the caller.
            except BaseException as exc:  # noqa: BLE001
                failure.append(exc)
            finally:
                started.set()

        thread = threading.Thread(target=run, name="accord-sandbox", daemon=True)
        thread.start()
        if not started.wait(timeout):
            self.request_exit()
            raise SandboxError(f"the sandbox did not start within {timeout:g} s")
        if failure:
            raise SandboxError(f"the sandbox failed to start: {failure[0]}") from failure[0]
        return SandboxHandle(self, thread)


class SandboxHandle:
    """A sandbox serving in a background thread; stop it with :meth:`stop` or ``with``."""

    def __init__(self, sandbox: Sandbox, thread: threading.Thread) -> None:
        self.sandbox = sandbox
        self._thread = thread

    @property
    def urls(self) -> Mapping[str, str]:
        """Base URL of each system, by name (``salesforce``, ``kantata``, ...)."""
        return self.sandbox.urls

    @property
    def emulators(self) -> Mapping[str, Emulator]:
        """The live emulators, by name, for tests that inspect or poke them directly."""
        return self.sandbox.emulators

    def stop(self, *, timeout: float = 15.0) -> None:
        """Stop the servers, save the state (if configured) and wait for the thread to end.

        Raises:
            SandboxError: the thread did not end within ``timeout`` seconds.
        """
        self.sandbox.request_exit()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise SandboxError(f"the sandbox did not stop within {timeout:g} s")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_sandbox(
    *,
    host: str = "127.0.0.1",
    base_port: int = 8800,
    seed: int = 7,
    scenario: ScenarioName = "firm",
    state: Path | None = None,
    ready: Callable[[Sandbox], None] | None = None,
) -> None:
    """Build a :class:`Sandbox` and serve it in this thread until SIGINT/SIGTERM.

    Args:
        host: interface to listen on.
        base_port: the systems listen on ``base_port + 1`` to ``base_port + 5``.
        seed: seed of the synthetic firm and of the emulators.
        scenario: ``small``, ``firm``, ``quarter-end`` or ``quarter-end-large``.
        state: JSON file to restore from when it exists and to save to on shutdown.
        ready: called with the sandbox once every server accepts connections.

    Raises:
        SandboxError: the sandbox could not start or save its state.
    """
    sandbox = Sandbox(host=host, base_port=base_port, seed=seed, scenario=scenario, state=state)
    asyncio.run(sandbox.serve(ready=ready))


# --------------------------------------------------------------------------- helpers
def _emulator_class(system: SystemInfo) -> type[Emulator]:
    # Imported by name so that the sandbox module stays importable (and the scenario command
    # usable) while one emulator package is broken, and so that a failure names the system.
    try:
        module = importlib.import_module(system.module)
        cls = getattr(module, system.class_name)
    except (ImportError, AttributeError) as exc:
        raise SandboxError(f"cannot load the {system.title} emulator: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Emulator)):
        raise SandboxError(f"{system.module}.{system.class_name} is not an Emulator")
    return cls


def _bind_all(host: str, base_port: int) -> dict[str, socket.socket]:
    sockets: dict[str, socket.socket] = {}
    try:
        for system in SYSTEMS:
            port = base_port + system.port_offset if base_port else 0
            sockets[system.name] = _bind(host, port, system)
    except BaseException:
        for sock in sockets.values():
            sock.close()
        raise
    return sockets


def _bind(host: str, port: int, system: SystemInfo) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise SandboxError(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    # As uvicorn does: allow a quick restart while old connections sit in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise SandboxError(
            f"cannot listen on {host}:{port} for {system.title}: {exc.strerror}"
        ) from exc
    return sock


def _url(host: str, port: int) -> str:
    # A wildcard address is where the server listens, not where a client should connect.
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"
