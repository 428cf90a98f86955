"""Milestone billing: a milestone completed in the PSA is billed once in the ERP.

Issue #6, item 6.

:mod:`.capture` turns completed PSA milestones into ``milestone.completed`` events;
:mod:`.workflow` bills each in the ERP exactly once and marks it invoiced in the PSA.
"""
