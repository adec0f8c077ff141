"""What stays after a request. Public: ``usage`` (the usage store's rows,
pricing, ``answered``), ``reqlog`` (the request log, its ``Redactor``),
``report`` (reading the store: rows and totals), ``metrics`` (Prometheus
counters fed by each closed record) and ``router_metrics`` (the router's
state as gauges, read when scraped)."""
