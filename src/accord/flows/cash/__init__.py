"""Cash back: ERP invoices and payments update the PSA and the CRM (issue #6, item 5).

:mod:`.capture` turns polled ERP records into ``invoice.posted`` / ``invoice.paid`` /
``payment.received`` events; :mod:`.workflow` carries each to the PSA and the CRM.
"""
