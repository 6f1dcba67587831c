"""`python -m tests.simulator --port 8099`: serve the fake WhatsApp Web on loopback."""
from __future__ import annotations

import argparse
import logging

from .server import create_app, start_ticker
from .state import SimState


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--qr-rotate-seconds", type=float, default=20)
    parser.add_argument("--qr-max-rotations", type=int, default=5)
    parser.add_argument("--me", default="393330000000", help="phone number of the simulated account")
    args = parser.parse_args(argv)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    state = SimState(args.me, args.qr_rotate_seconds, args.qr_max_rotations)
    start_ticker(state)
    print(f"WhatsApp Web simulator on http://{args.host}:{args.port}/", flush=True)
    create_app(state).run(host=args.host, port=args.port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
