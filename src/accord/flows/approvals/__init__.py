"""Approvals become events: approved PSA time and expenses, journaled as canonical events.

The time-to-bill flow starts here. Capture reads approvals where the PSA role says they happen
(:meth:`~accord.connectors.roles.Psa.approval_feeds`), maps each to one canonical event with
an id stable per approval, and journals it; the billing flow (``accord.flows.time_to_bill``)
posts it. See ``docs/flows/approvals.md``.

- :mod:`.capture`: which pairs are polled (``enable_approval_capture`` for ``Services``), the
  events, and the retries of approvals waiting for a fix;
- :mod:`.resolve`: the delivery-ops exception of an approval that does not map;
- :mod:`.settings`: the ``approvals:`` section of ``accord.yaml``.
"""
