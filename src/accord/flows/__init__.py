"""Durable business flows on DBOS Transact: the only package (with the runtime) importing ``dbos``.

One run per canonical event, its id derived from the event's journal position; every side
effect is a step with one serializable input; retries derive from the error class.
"""
