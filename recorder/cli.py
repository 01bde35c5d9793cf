"""Command line: `recorder run | status | verify`.

Exit codes: 0 success (verify: everything verifies), 1 verify found problems,
2 could not run (bad config, unusable store, bad arguments, a capture source lost),
3 the recorder went into fault mode (writing or sealing failed; what was recorded
is sealed as far as the disk allowed) — always with one clear line on stderr, and
never after touching sealed evidence.
"""

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import CaptureError, PipelineFault, RecorderError

EXIT_OK, EXIT_PROBLEMS, EXIT_CANNOT_RUN, EXIT_FAULT = 0, 1, 2, 3


def _store_root(args, config) -> Path:
    return Path(args.store or config.device.store)


def _timeline(args):
    from .sim.agent import command_timeline
    from .sim.script import load_timeline

    if args.script is not None:
        if args.start_at is not None or args.duration is not None:
            raise RecorderError("--script replaces --start-at/--duration: give one or the other")
        return load_timeline(args.script)
    start_at = 0.0 if args.start_at is None else args.start_at
    duration = 60.0 if args.duration is None else args.duration
    if start_at < 0 or duration <= 0:
        raise RecorderError("--start-at must be >= 0 and --duration > 0")
    return command_timeline(start_at, duration)


def cmd_run(args) -> int:
    from .config import load_config

    config = load_config(args.config)
    if args.simulate:
        from .sim.agent import run_simulated

        agent = run_simulated(config, _store_root(args, config), _timeline(args), args.fast)
    else:
        from .agent.assembly import run_on_device

        if args.script is not None or args.start_at is not None or args.duration is not None or args.fast:
            raise RecorderError("--script, --start-at, --duration and --fast need --simulate: "
                                "on the device the buttons drive recording")
        agent = run_on_device(config, _store_root(args, config))
    for session in agent.recorder.sessions:
        print(
            f"session {session['session_id']}: {session['segments']} segment(s), "
            f"{session['frames']} frames, {session['duration_us'] / 1e6:.1f} s, "
            f"{session['marks']} mark(s), stop: {session['cause']}"
        )
    print(f"store: {agent.recorder.store.root}  device: {agent.recorder.identity.device_id}")
    return EXIT_OK


def cmd_status(args) -> int:
    from .config import load_config
    from .status import store_status

    config = load_config(args.config)
    status = store_status(_store_root(args, config))
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        for key, value in status.items():
            print(f"{key:>16}: {value}")
    return EXIT_OK


def cmd_verify(args) -> int:
    from .evidence.verifier import verify_store

    report = verify_store(Path(args.path), Path(args.key) if args.key else None)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.summary_text())
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recorder", description="Body-worn evidence camera agent")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the agent (on the device: until SIGTERM or SIGINT)")
    run.add_argument("--simulate", action="store_true",
                     help="use the simulated body (synthetic capture, buttons on mock pins)")
    run.add_argument("--config", type=Path, help="TOML configuration file")
    run.add_argument("--store", help="evidence store directory (default: device.store)")
    run.add_argument("--start-at", type=float, metavar="SECONDS",
                     help="start recording by command this long after launch (default 0; "
                          "pre-record fills meanwhile)")
    run.add_argument("--duration", type=float, metavar="SECONDS",
                     help="stop recording by command this long after the start (default 60)")
    run.add_argument("--script", metavar="TIMELINE",
                     help="drive the simulated buttons from a timeline (a file, or inline text such as "
                          "'press record @5s; mark @20s; hold record 3.5s @65s')")
    run.add_argument("--fast", action="store_true", help="simulated time: run faster than real time")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="device identity, ledger head and store summary")
    status.add_argument("--config", type=Path)
    status.add_argument("--store")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    verify = sub.add_parser("verify", help="verify a store: signatures, chain, hashes, files")
    verify.add_argument("path", help="store directory")
    verify.add_argument("--key", help="trusted device public key (PEM); default: the store's own")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=cmd_verify)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        return args.func(args)
    except CaptureError as exc:
        # Everything is sealed and fsync'd by now. A sound device lost mid-stream can leave
        # PortAudio unable to terminate, which would hang its exit handler: leave without it.
        print(f"recorder: error: {exc}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(EXIT_CANNOT_RUN)
    except PipelineFault as exc:
        print(f"recorder: fault: {exc}", file=sys.stderr)
        return EXIT_FAULT
    except RecorderError as exc:
        print(f"recorder: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        return EXIT_CANNOT_RUN


if __name__ == "__main__":
    sys.exit(main())
