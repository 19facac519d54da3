"""The demo/test FabriX: the agent API of FABRIX_API.md served by Starlette, with fault switches.

Demo mode and the tests run it in a thread (`start_in_thread()`); by hand:
`python -m fabrix_chat.emulator --port 8765 [--fault NAME] [--latency 0]`.
It accepts the demo keys (client key `demo-client`, token `demo-token`, with or without
`Bearer `) unless other keys are given, and answers with plausible markdown built from the question.

Faults (names in `FAULTS`) are chosen per request by `#fault:NAME` in the question, for the whole
process by `create_app(default_fault=...)` / `--fault`, or for the next N requests through
`POST /_emulator/faults`. `GET /_emulator/requests` shows the last requests received (secrets
masked) so tests can check what the client sent. Serve it on loopback only: the control and log
endpoints have no authentication.

The package: answers.py (the demo answers and agents), wire.py (the stream's events and their
encoding, the faults), server.py (the Starlette app, `start_in_thread`, the command line).
"""

from fabrix_chat.emulator.answers import AGENTS, demo_answer, file_answer
from fabrix_chat.emulator.server import (
    API,
    DEMO_CLIENT_HEADER,
    DEMO_CLIENT_KEY,
    DEMO_TOKEN,
    EmulatorHandle,
    create_app,
    main,
    start_in_thread,
)
from fabrix_chat.emulator.wire import FAULTS, parse_faults

__all__ = [
    "AGENTS",
    "API",
    "DEMO_CLIENT_HEADER",
    "DEMO_CLIENT_KEY",
    "DEMO_TOKEN",
    "FAULTS",
    "EmulatorHandle",
    "create_app",
    "demo_answer",
    "file_answer",
    "main",
    "parse_faults",
    "start_in_thread",
]
