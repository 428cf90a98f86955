"""A worker process for the SIGKILL test: Accord's services (runtime, capture, intake), no API.

``python tests/e2e/lead_to_project/worker.py`` reads ``ACCORD_*`` settings from the environment
and runs until killed. The API is left out on purpose: the test kills the worker that runs the
flow, and talks to nothing but the sandbox and the database.
"""

import signal
import threading

from accord.flows.services import Services
from accord.settings import Settings


def main() -> None:
    services = Services.build(Settings())
    services.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("worker ready", flush=True)  # the test log shows when it started
    try:
        stop.wait()
    finally:
        services.stop()


if __name__ == "__main__":
    main()
