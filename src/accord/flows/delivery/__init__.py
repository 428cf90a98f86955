"""Delivery sync: project status, tasks, people, vendor costs and firm fields (issue 23).

:mod:`.capture` turns the PSA's and the ERPs' delivery changes into events; :mod:`.workflow`
carries each to the other side (:mod:`.steps`, :mod:`.costs`), by the ownership rules
(:mod:`.state`). Each scenario, its direction, trigger and owner: docs/flows/delivery.md.
"""
