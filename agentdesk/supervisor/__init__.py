"""The supervisor console's headless core: roles, team load, reassignment, metrics, audit.

Everything here reads the store (and writes only through the outbox), so the Textual screens,
the CLI and the tests share one implementation. Nothing here imports textual, httpx or a
connector.
"""
