"""ASGI entry point for uvicorn: ``uvicorn gatekeeper.api.main:app``. ``gatekeeper serve`` runs it with
uvicorn's access log off, as the app writes its own (``gatekeeper.access``, without routing polls)."""

import gc

from gatekeeper.api.app import create_app

app = create_app()
# What is loaded now lives as long as the server: keep it out of the collector's full passes, which
# otherwise walk the whole heap every few thousand requests (a tenth of a routing read's CPU, and its
# p99). Only here, in the server's process: tests build many apps and must be able to collect them.
gc.freeze()
