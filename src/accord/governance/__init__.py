"""Governed change of the rules: stored versions, approval, pinned runs, what-if, promotion.

- :mod:`~accord.governance.resolve`: which version is in force, and the version a run is
  pinned to (the flows reach it through :mod:`accord.flows.pinning`);
- :mod:`~accord.governance.changes`: propose, approve (a second admin), activate, roll back;
- :mod:`~accord.governance.validate`: schema and reference checks of a rules file;
- :mod:`~accord.governance.diff`: field-by-field differences;
- :mod:`~accord.governance.whatif`: journaled events replayed through a proposal, writing
  nothing;
- :mod:`~accord.governance.bundle`: export and import of a reviewable configuration bundle;
- :mod:`~accord.governance.settings`: the ``governance:`` section of ``accord.yaml``.

The walk-through is ``docs/governance.md``. This package never imports ``dbos``: the flows
pass it the id of the running workflow.
"""
