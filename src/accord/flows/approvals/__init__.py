"""Approvals become events: approved PSA time and expenses, journaled as canonical events.

The time-to-bill flow starts here. Capture reads approvals where they happen (Kantata's event
feed, Certinia's approved timecards and expenses), maps each to one canonical event with an id
stable per approval, and journals it; the billing flow (``accord.flows.time_to_bill``) posts it.
See ``docs/flows/approvals.md``.

- :mod:`.capture`: which pairs are polled (``enable_approval_capture`` for ``Services``);
- :mod:`.kantata` / :mod:`.certinia`: reading and mapping each PSA's approvals;
- :mod:`.resolve`: canonical project and person ids, and the delivery-ops exception;
- :mod:`.settings`: the ``approvals:`` section of ``accord.yaml``.
"""
