"""What bench_soak.py reads from inside the app's back-end process: its asyncio tasks and the Reflex
states it holds. Nothing is added to the app: bench_soak.py starts the app with this folder on
PYTHONPATH, so Python imports this file at start-up in every process of the app (sitecustomize).

It does nothing unless FABRIX_SOAK_PROBE_DIR is set, and nothing in the process it was started in
(the `reflex run` supervisor, a `manage` command): only in a back-end worker, which granian forks
from the supervisor (or starts with multiprocessing's spawn), a daemon thread writes every
FABRIX_SOAK_PROBE_SECONDS (default 5) the file FABRIX_SOAK_PROBE_DIR/probe-PID.json:

    {"pid", "time", "tasks": asyncio tasks not done, "task_kinds": the ten commonest coroutines
     among them, "states": Reflex states held in memory (StateManagerMemory.states, null with
     another state manager), "app_found"}

The thread only reads: the set of live tasks (asyncio.tasks._all_tasks, a WeakSet, copied with a
retry as asyncio.all_tasks does) and the length of the state manager's dict. It never imports
anything that is not already imported and never touches the event loop. It adds one thread to the
worker's thread count (bench_soak.py says so in its results).
"""

from __future__ import annotations

import os

_DIR = os.environ.get("FABRIX_SOAK_PROBE_DIR", "")


def _live_tasks() -> list | None:
    import sys

    tasks_module = sys.modules.get("asyncio.tasks")
    live = getattr(tasks_module, "_all_tasks", None) if tasks_module else None
    if live is None:
        return None
    for _ in range(100):
        try:
            return [task for task in list(live) if not task.done()]
        except RuntimeError:  # the loop added or removed a task while it was copied: again
            continue
    return None


def _kinds(tasks: list) -> dict[str, int]:
    """The ten commonest coroutines of the tasks (what a leak would be made of)."""
    from collections import Counter

    names = Counter()
    for task in tasks:
        coro = task.get_coro()
        names[getattr(coro, "__qualname__", None) or type(coro).__name__] += 1
    return dict(names.most_common(10))


def _count_states() -> tuple[bool, int | None]:
    import sys

    module = sys.modules.get(os.environ.get("FABRIX_SOAK_APP_MODULE", "fabrix_chat.fabrix_chat"))
    app = vars(module).get("app") if module is not None else None
    if app is None:
        return False, None
    manager = vars(app).get("_state_manager") if hasattr(app, "__dict__") else None
    states = vars(manager).get("states") if manager is not None and hasattr(manager, "__dict__") else None
    return True, len(states) if isinstance(states, dict) else None


def _run(interval: float) -> None:
    import json
    import time

    path = os.path.join(_DIR, f"probe-{os.getpid()}.json")
    while True:
        time.sleep(interval)
        try:
            found, states = _count_states()
            tasks = _live_tasks()
            data = {
                "pid": os.getpid(),
                "time": time.time(),
                "tasks": None if tasks is None else len(tasks),
                "task_kinds": None if tasks is None else _kinds(tasks),
                "states": states,
                "app_found": found,
            }
            partial = path + ".partial"
            with open(partial, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(partial, path)
        except Exception:  # a probe must never disturb the process it watches
            time.sleep(interval)


def _start() -> None:
    import threading

    interval = float(os.environ.get("FABRIX_SOAK_PROBE_SECONDS", "5") or 5)
    threading.Thread(target=_run, args=(interval,), name="fabrix-soak-probe", daemon=True).start()


def _started_by_multiprocessing() -> bool:
    try:
        with open("/proc/self/cmdline", "rb") as fh:
            return b"multiprocessing" in fh.read()
    except OSError:
        return False


if _DIR:
    import threading  # noqa: F401 (imported first, so its own after-fork clean-up runs before ours)

    os.register_at_fork(after_in_child=_start)
    if _started_by_multiprocessing():
        _start()
