"""Runs: where a run is recorded, executed, watched, stopped and shown.

    service.py    RunService: the one API every front end calls (CLI, server, MCP, Celery)
    ledger.py     a run's life in the job store: open, enqueue, finish, fail, applicability
    status.py     the state machine: transitions, status sets, the heartbeat lease
    executor.py   where a run executes: render, terraform, summary, policy, state snapshot
    guard.py      heartbeat and cancel/halt polling while terraform runs
    log.py        the log sink: run directory files, the job store, the observer
    artifacts.py  plan files through the job store (another worker applies them)
    views.py      RunView (the `--json` shape), lists, logs
    control.py    halt, cancel, discard
    worker.py     claim → execute → heartbeat loop (`tfctl worker`)

Nothing here is imported by `tfctl --help`.
"""
