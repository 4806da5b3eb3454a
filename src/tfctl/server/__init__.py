"""`tfctl serve`: the REST API, live run streams and the web UI over the run service.

Only `tfctl serve` imports the server stack (FastAPI, Starlette, uvicorn): this package's
`__init__` and `tokens` import none of it, so `tfctl token` and the rest of the CLI stay fast.
"""
