"""Alerts: rules over the store and this process's state, evaluated by workers, sent to a webhook.

- :mod:`.config`: the rules and the ``alerts:`` section of ``accord.yaml``;
- :mod:`.engine`: evaluating each rule kind, and the thread that evaluates and delivers;
- :mod:`.notify`: signed webhook delivery with retries.

The alerts table and the store reads rules make are :mod:`accord.store.alerts`. Observability
(metrics, logs, traces) stays a leaf: it imports neither this package nor the store.
"""
