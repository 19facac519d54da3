"""Service mode from a front end that is already built: `python -m fabrix_chat.serve HOST PORT`.

`reflex run --env prod` compiles and rebuilds the front end at every start (about 15 s and
780 MB on two cores). The launcher (launcher.py) builds it once with `reflex export` whenever the
code, the pinned packages or the port changed, then starts this, which serves the page, the
websocket and uploads on one port exactly as `reflex run --env prod` does after its build.
"""

from __future__ import annotations

import sys

from reflex.utils import exec as reflex_exec
from reflex_base import constants
from reflex_base.config import get_config
from reflex_base.environment import environment


def serve(host: str, port: int) -> None:
    """Run the production back end with the built front end mounted on the same port."""
    config = get_config()
    environment.REFLEX_ENV_MODE.set(constants.Env.PROD)
    environment.REFLEX_SKIP_COMPILE.set(True)
    config._set_persistent(frontend_port=port, backend_port=port, backend_host=host)
    reflex_exec.notify_app_running()
    reflex_exec.run_backend_prod(host, port, config.loglevel.subprocess_level(), mount_frontend_compiled_app=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[2].isdigit():
        sys.exit("usage: python -m fabrix_chat.serve HOST PORT")
    serve(sys.argv[1], int(sys.argv[2]))
