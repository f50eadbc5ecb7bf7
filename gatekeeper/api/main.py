"""ASGI entry point for uvicorn: ``uvicorn gatekeeper.api.main:app``."""

from gatekeeper.api.app import create_app

app = create_app()
