"""What stays after a request. Public: ``usage`` (the usage store's rows,
pricing, ``answered``), ``reqlog`` (the request log, its ``Redactor``),
``report`` (reading the store: rows and totals)."""
