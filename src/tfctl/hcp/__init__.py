"""The pieces behind `tfctl.hcp.client`: credentials, JSON:API models, errors and the HTTP session.

Import `tfctl.hcp.client` rather than these modules; this package imports nothing on its own so
that `tfctl.hcp.errors` and `tfctl.hcp.credentials` stay usable without loading httpx.
"""
