"""The reference service: a TLS gateway in front of the exchange (docs/service.md).

Needs the ``service`` extra (``pip install shanraq_core[service]``): aiohttp,
ecs-logging, prometheus_client (uvloop when installed).
"""
