"""Command line: `recorder run | status | verify | report | export | unrecoverable | provision | agency |
selftest`.

Exit codes: 0 success (verify: everything verifies; selftest: nothing failed), 1 verify
found problems or a selftest check failed,
2 could not run (bad config, unusable store, bad arguments, no capture source),
4 the battery reached its critical level: power off now, 5 the supervisor gave up
restarting (an `unrecoverable` entry is in the ledger), 75 a fault ended the run: start
again (the next run resumes recording) — each with what was recorded sealed and the
interruption in the ledger; always with one clear line on stderr, and never after
touching sealed evidence.

Conventions: `--version`; `-v`/`--log-level` before or after the subcommand (the last
one given wins); every option has help text; a store is named the same way everywhere
it is read (`STORE` or `--store DIR`); a refused command line is one line on stderr,
exit 2; with `--json`, a command that cannot run prints `{"ok": false, "error": ...}`.
"""

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from . import __version__
from .errors import CaptureError, RecorderError, RunInterrupted

EXIT_OK, EXIT_PROBLEMS, EXIT_CANNOT_RUN = 0, 1, 2  # the rest: recorder/supervisor.py
EXIT_INTERRUPTED = 75  # offload: the link kept failing; docking again goes on from what the dock holds
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_LOG_LEVEL = "warning"
COMMANDS = ("run", "status", "verify", "report", "export", "unrecoverable", "provision", "agency", "selftest", "dock", "offload")
JSON_COMMANDS = ("status", "verify", "report", "selftest", "offload", "dock")  # those with --json: their errors are JSON too


class UsageError(Exception):
    """A command line that cannot be run as given (argparse refused it, or two stores)."""


class Parser(argparse.ArgumentParser):
    """argparse, except that a refused command line raises UsageError instead of printing
    the usage and a message on several lines: main() prints it as one line, exit 2."""

    def error(self, message):
        raise UsageError(message)


def _store_root(args, config) -> Path:
    return Path(args.store or config.device.store)


def _identity_dir(args, config) -> Path:
    """--identity DIR, else [device] identity, else the directory beside the store."""
    from .seal.identity import identity_dir_for

    return Path(args.identity) if args.identity else identity_dir_for(_store_root(args, config), config.device.identity)


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


def _run_config(args):
    """The image's configuration (--config), with the installed bundle's settings on top, and
    on top of those the officer assignment the dock signed for the shift that holds now
    (its officer, and its settings if it has any: docs/DOCK.md, "Checkout"); the bundle's
    age recipient added to encryption.recipients."""
    from datetime import datetime, timezone

    from .config import config_from_dict, load_config, overlay_dict, read_config_dict
    from .provision.assignment import current_assignment
    from .provision.device import provisioned
    from .provision.install import installed_config, installed_recipient

    config = load_config(args.config)
    identity_dir = _identity_dir(args, config)
    try:
        agency = installed_config(identity_dir)
        recipient = installed_recipient(identity_dir)
        device = provisioned(identity_dir) if agency is not None else None
        assignment = (current_assignment(identity_dir, device.identity.device_id, datetime.now(timezone.utc))
                      if device else None)
    except OSError as exc:
        raise RecorderError(f"cannot read the identity directory {identity_dir}: {exc.strerror}") from None
    if agency is not None:
        merged = overlay_dict(read_config_dict(args.config), agency, "the installed bundle's configuration")
        if assignment is not None:
            merged = overlay_dict(merged, assignment.document["config"], "the dock's assignment")
            # an officer id is letters, digits, . _ - only (agency/assignment.py): safe in TOML quotes
            merged = overlay_dict(merged, f'[device]\nofficer_id = "{assignment.officer_id}"\n', "the dock's assignment")
        config = config_from_dict(merged)
    return with_recipient(config, recipient)


def with_recipient(config, recipient: str | None):
    """The configuration with the installed bundle's age recipient added to
    encryption.recipients: a provisioned device encrypts what it records to its agency."""
    from dataclasses import fields

    from .config import Config, EncryptionConfig

    if recipient is None or recipient in config.encryption.recipients:
        return config
    sections = {f.name: getattr(config, f.name) for f in fields(config)}
    sections["encryption"] = EncryptionConfig(recipients=(*config.encryption.recipients, recipient))
    return Config(**sections)


def cmd_run(args) -> int:
    config = _run_config(args)
    if not args.simulate and (args.script is not None or args.start_at is not None or args.duration is not None
                              or args.fast):
        raise RecorderError("--script, --start-at, --duration and --fast need --simulate: "
                            "on the device the buttons drive recording")
    if args.supervise or (args.simulate and not args.once):
        return _supervise(args, config)
    if args.simulate:
        from .sim.agent import run_simulated

        origin = None if args.script_origin_us is None else args.script_origin_us * 1000
        agent = run_simulated(config, _store_root(args, config), _timeline(args), args.fast, origin, args.sim_after,
                              _identity_dir(args, config))
    else:
        from .agent.assembly import run_on_device

        agent = run_on_device(config, _store_root(args, config), _identity_dir(args, config))
    for session in agent.recorder.sessions:
        print(
            f"session {session['session_id']}: {session['segments']} segment(s), "
            f"{session['frames']} frames, {session['duration_us'] / 1e6:.1f} s, "
            f"{session['marks']} mark(s), stop: {session['cause']}", flush=True
        )
    print(f"store: {agent.recorder.store.root}  device: {agent.recorder.identity.device_id}", flush=True)
    return EXIT_OK


def _supervise(args, config) -> int:
    """The agent as a supervised child (recorder/supervisor.py): restarted after a fault."""
    import time

    from .evidence.layout import StoreLayout
    from .supervisor import EXIT_GAVE_UP, Supervisor, first_boot_at_us, ledger_lines, spawn_process

    if args.once:
        raise RecorderError("--once and --supervise: give one or the other")
    store = _store_root(args, config)
    ledger = StoreLayout(store).ledger_path
    child_args = [a for a in args.argv if a != "--supervise"]
    state = {"origin_us": args.script_origin_us, "after": 1.0, "first_line": ledger_lines(ledger)}

    def argv_for(attempt: int) -> list[str]:
        argv = [sys.executable, "-m", "recorder", *child_args, "--once"]
        if args.simulate:
            if state["origin_us"] is None and attempt > 0:
                state["origin_us"] = first_boot_at_us(ledger, state["first_line"])
            if state["origin_us"] is not None:
                argv += ["--script-origin-us", str(state["origin_us"])]
            argv += ["--sim-after", f"{state['after']:.6f}"]
        return argv

    def sleep(seconds: float):
        if args.simulate and args.fast:  # simulated time: the next run's clock starts later
            state["after"] = max(seconds, 0.001)
            return
        end = time.monotonic() + seconds
        while not supervisor.stopping and time.monotonic() < end:
            time.sleep(min(0.1, end - time.monotonic()))

    spawn = spawn_process(argv_for)
    supervisor = Supervisor(spawn, config.recovery, ledger, sleep, _give_up(args, config, store))
    previous = spawn.forward_signals(supervisor)
    try:
        code = supervisor.run()
    finally:
        import signal

        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code == EXIT_GAVE_UP:
        print(f"recorder: unrecoverable: {len(supervisor.runs)} run(s); restarts gave up (see the ledger)",
              file=sys.stderr, flush=True)
    return code


def _give_up(args, config, store):
    """What the supervisor does when restarts keep failing: the entry, then the cue."""

    def give_up(cause: str, detail: str, attempts: int):
        from .agent.unrecoverable import play_unrecoverable, record_unrecoverable

        if args.simulate and args.fast:
            from .sim.agent import continued_clock

            clock = continued_clock(store)
        else:
            from .clock import SystemClock

            clock = SystemClock()
        try:
            ref = record_unrecoverable(store, clock, cause, detail, attempts, _identity_dir(args, config),
                                       create_identity=args.simulate)
            print(f"recorder: unrecoverable: {detail} (ledger entry {ref})", file=sys.stderr, flush=True)
        except (RecorderError, OSError) as exc:  # the cue still tells the officer
            print(f"recorder: unrecoverable: {detail}; the ledger entry could not be written: {exc}",
                  file=sys.stderr, flush=True)
        play_unrecoverable(config, clock, _cue_pins(args, clock), hold=False)

    return give_up


def _cue_pins(args, clock):
    if args.simulate:
        from .sim.doubles import ClockedMockFactory

        return ClockedMockFactory(clock)
    from .agent.assembly import default_pin_factory

    return default_pin_factory()


def cmd_report(args) -> int:
    from .config import load_config
    from .evidence.shifts import report_text, shift_report

    store = args.store if args.store else load_config(args.config).device.store
    report = shift_report(Path(store), Path(args.key) if args.key else None, args.gap_hours)
    print(json.dumps(report, indent=2) if args.json else report_text(report, args.language))
    return EXIT_OK


def cmd_unrecoverable(args) -> int:
    """For the device's systemd OnFailure= unit: the entry, the cue, amber until stopped."""
    from .agent.unrecoverable import play_unrecoverable, record_unrecoverable
    from .clock import SystemClock
    from .config import load_config

    config = load_config(args.config)
    clock = SystemClock()
    code = EXIT_OK
    try:
        ref = record_unrecoverable(_store_root(args, config), clock, args.cause, args.detail, args.attempts,
                                   _identity_dir(args, config), create_identity=args.simulate)
        print(f"unrecoverable: ledger entry {ref}", flush=True)
    except (RecorderError, OSError) as exc:  # a store that cannot be written: the officer is told anyway
        print(f"recorder: unrecoverable: the ledger entry could not be written: {exc}", file=sys.stderr, flush=True)
        code = EXIT_CANNOT_RUN
    play_unrecoverable(config, clock, _cue_pins(args, clock), hold=args.hold)
    return code


def cmd_status(args) -> int:
    from .config import load_config
    from .status import store_status

    config = load_config(args.config)
    status = store_status(_store_root(args, config))
    for warning in status["warnings"]:
        print(f"recorder: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        width = max(map(len, status))
        for key, value in status.items():
            if key != "warnings":
                print(f"{key:>{width}}: {value}")
    return EXIT_OK


def _head(text: str) -> tuple[int, str]:
    """--head INDEX:SHA256, read as argparse reads a type (a bad one is a usage error)."""
    from .evidence.ledger import parse_head_ref

    try:
        return parse_head_ref(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_verify(args) -> int:
    from .evidence.verifier import verify_store

    identities = _age_identities(args.identity) if args.identity else ()
    report = verify_store(Path(args.path), Path(args.key) if args.key else None, heads=args.head,
                          identities=identities)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.summary_text())
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _age_identities(path) -> list:
    """The agency's age identities from a key file (age-keygen's format); the key is never
    printed, and neither is the file's content in an error."""
    from .encryption import Identity, KeyFormatError

    try:
        return Identity.parse_file(Path(path).read_text("ascii"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RecorderError(f"cannot read the age identity file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except KeyFormatError:
        raise RecorderError(f"{path} holds no age identity (AGE-SECRET-KEY-1…) in the form age-keygen writes") from None


EXPORTED = {
    "en": {"ok": "{path}: segment {seq}, {frames} frames, decrypted and matching the device's signature{torn}",
           "copied": "{path}: segment {seq}, {frames} frames, not encrypted (format 4), matching its seal",
           "torn": " (sealed after a power cut: its whole fragments)",
           "bad": "segment {seq}: DOES NOT MATCH what the device signed: {why}",
           "summary": "session {session}: {good} of {count} segment(s) exported to {out}"},
    "zh-CN": {"ok": "{path}：第 {seq} 段，{frames} 帧，已解密，与设备签名一致{torn}",
              "copied": "{path}：第 {seq} 段，{frames} 帧，未加密（格式 4），与封存一致",
              "torn": "（断电后封存：仅含完整片段）",
              "bad": "第 {seq} 段：与设备签名不一致：{why}",
              "summary": "会话 {session}：{count} 段中 {good} 段已导出到 {out}"},
}


def _export_media(args, store) -> int:
    from .evidence.media_export import export_session_media

    if not args.identity or args.output is None:
        raise RecorderError("--media needs --identity AGE-KEY-FILE (the agency's key) and -o DIRECTORY")
    identities = _age_identities(args.identity)
    session, results = export_session_media(Path(store), args.media, identities, Path(args.output),
                                            Path(args.key) if args.key else None)
    text = EXPORTED[args.language]
    for r in results:
        if r.matches:
            line = text["ok" if r.encrypted else "copied"].format(
                path=r.path, seq=r.seq, frames=r.frames, torn="" if r.complete else text["torn"])
        else:
            line = text["bad"].format(seq=r.seq, why="; ".join(r.problems))
        print(line)
    good = sum(1 for r in results if r.matches)
    print(text["summary"].format(session=session, good=good, count=len(results), out=args.output))
    return EXIT_OK if good == len(results) else EXIT_PROBLEMS


def cmd_export(args) -> int:
    from .config import load_config
    from .evidence.gpx import read_session_track, session_gpx

    store = args.store if args.store else load_config(args.config).device.store
    if args.media is not None:
        return _export_media(args, store)
    track = read_session_track(Path(store), args.session, Path(args.key) if args.key else None)
    document = session_gpx(track, args.language)
    if args.output is None or str(args.output) == "-":
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
    else:
        try:
            with open(args.output, "xb") as out:  # never over an existing file: the clerk's copy stays
                out.write(document)
        except FileExistsError:
            raise RecorderError(f"{args.output} exists already: give another file name (nothing was written)") from None
        points = sum(1 for p in track.points if p.get("fix") in ("2d", "3d"))
        print(f"{args.output}: GPX 1.1, {points} point(s) with a fix, {len(track.marks)} mark(s)", file=sys.stderr)
    return EXIT_OK


def _pin(text: str) -> str:
    """--agency-ca FINGERPRINT, read as argparse reads a type."""
    from .agency.certs import normalise_pin

    try:
        return normalise_pin(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_provision(args) -> int:
    from datetime import datetime, timezone

    from .agency.certs import common_name
    from .config import load_config
    from .evidence.layout import StoreLayout
    from .provision.messages import message

    config = load_config(args.config)
    identity_dir, store = _identity_dir(args, config), StoreLayout(_store_root(args, config))
    now = datetime.now(timezone.utc)
    if args.install:
        from .provision.install import install_bundle

        try:
            data = Path(args.install).read_bytes()
        except OSError as exc:
            raise RecorderError(f"cannot read the bundle {args.install}: {exc.strerror}") from None
        install, bundle = install_bundle(identity_dir, data, now, args.agency_ca, args.config)
        print(message("installed", args.language, device_id=bundle.document["device_id"], pin=bundle.ca_pin[:16],
                      cert_until=bundle.device.not_valid_after_utc.strftime("%Y-%m-%d"),
                      dock=common_name(bundle.dock), not_after=bundle.document["not_after"]), file=sys.stderr)
        print(install.directory)
        return EXIT_OK
    from .provision.device import provision

    sources = (Path(args.serial_path), Path(args.cpuinfo)) if args.serial_path else ()
    if args.output is not None and str(args.output) != "-" and args.output.exists():  # before any key is made
        raise RecorderError(f"{args.output} exists already: give another file name (nothing was changed)")
    request = provision(identity_dir, store, args.agency_ca, now, sources)
    text = json.dumps(request, indent=2, ensure_ascii=False) + "\n"
    _write_output(args.output, text.encode("utf-8"))
    from .seal.identity import current_generation

    print(message("request", args.language, device_id=request["device_id"], generation=current_generation(identity_dir),
                  output=args.output or "stdout"), file=sys.stderr)
    return EXIT_OK


def _write_output(output, data: bytes) -> None:
    """Standard output ("-" or none), or a new file (never over an existing one)."""
    if output is None or str(output) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        with open(output, "xb") as out:
            out.write(data)
    except FileExistsError:
        raise RecorderError(f"{output} exists already: give another file name (nothing was written)") from None


def cmd_agency(args) -> int:
    from datetime import datetime, timezone

    from .agency import authority

    now = datetime.now(timezone.utc)
    if args.agency_command == "init":
        agency = authority.init_agency(Path(args.directory), args.name, args.dock_name, now, args.days)
        print(f"agency {agency.name}: CA key fingerprint (SPKI SHA-256, give it to technicians for "
              f"`recorder provision --agency-ca`):\n{agency.ca_pin}\nage recipient: {agency.recipient}\n"
              f"dock: {agency.dock_name} ({agency.root / 'dock.pem'})")
        return EXIT_OK
    agency = authority.open_agency(Path(args.agency))
    if args.agency_command == "enrol":
        try:
            request = Path(args.request).read_bytes()
        except OSError as exc:
            raise RecorderError(f"cannot read the enrolment request {args.request}: {exc.strerror}") from None
        device_id, path = authority.enrol(agency, request, now, args.days)
        print(f"device {device_id} enrolled: TLS client certificate {path}")
        return EXIT_OK
    config_text = ""
    if args.config is not None:
        try:
            config_text = Path(args.config).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RecorderError(f"cannot read {args.config}: {exc}") from None
    bundle = authority.make_bundle(agency, args.device, config_text, now, args.days)
    _write_output(args.output, json.dumps(bundle, indent=2, ensure_ascii=False).encode("utf-8") + b"\n")
    return EXIT_OK


def cmd_dock(args) -> int:
    """The dock's commands (docs/DOCK.md): one function per step."""
    return DOCK_STEPS[args.dock_command](args)


def _dock_init(args) -> int:
    from .dock.keys import init_dock

    keys = init_dock(Path(args.directory), Path(args.agency))
    print(f"dock {keys.layout.root}: certificate for {keys.certificate.subject.rfc4514_string()}, "
          f"devices of CA {keys.ca.subject.rfc4514_string()}")
    return EXIT_OK


def _dock_serve(args) -> int:
    import asyncio

    from .dock.layout import DockLayout
    from .dock.server import open_dock_service, serve
    from .dock.settings import load_settings, parse_address

    layout = DockLayout(Path(args.directory))
    settings = load_settings(layout)
    host, port = parse_address(args.listen, settings.port) if args.listen else (settings.host, settings.port)
    service = open_dock_service(layout.root, settings)
    archive = service.archive

    def ready(bound: int):
        print(f"dock {layout.root}: listening on {host}:{bound} (archive: {archive.description})", flush=True)

    try:
        asyncio.run(serve(service, host, port, ready))
    except KeyboardInterrupt:
        pass
    finally:
        archive.close()
    return EXIT_OK


def _dock_audit(args) -> int:
    """Exit 0 when the access log verifies, 1 when it does not."""
    from .dock.audit_check import verify_audit
    from .dock.audit_text import audit_text
    from .dock.keys import load_dock_keys

    keys = load_dock_keys(Path(args.directory))
    report = verify_audit(keys.layout.audit_path, keys.certificate.public_key(), heads=args.head)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(audit_text(report, keys.layout.audit_path, args.language))
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _dock_export(args) -> int:
    """Export (or, `dock view`, copy for playback) a session or one segment, audited."""
    import secrets
    import tempfile

    from .dock.access import Request, export

    request = Request(args.requester, args.reason, args.device, args.session, args.seq, args.dock_command)
    output = args.output
    if output is None:  # a view: a new private directory for the player, made (0700) only once granted
        output = Path(tempfile.gettempdir()) / f"recorder-view-{secrets.token_hex(8)}-{args.session}"
    entry = export(Path(args.directory), request, output, Path(args.identity) if args.identity else None)
    result = entry["result"]
    for written in result["files"]:
        print(f"{Path(result['output']) / written['name']}  {written['size']} B  sha256 {written['sha256']}")
    print(f"{args.dock_command}: {len(result['files'])} file(s), {result['bytes']} B, audit entry {entry['index']} "
          f"(granted by entry {result['grant']})", file=sys.stderr)
    return EXIT_OK


def _dock_assign(args) -> int:
    from datetime import datetime, timezone

    from .dock.checkout import assign
    from .dock.keys import load_dock_keys

    keys = load_dock_keys(Path(args.directory))
    config_text = ""
    if args.config is not None:
        try:
            config_text = Path(args.config).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RecorderError(f"cannot read {args.config}: {exc}") from None
    path = assign(keys.layout, keys, args.device, args.officer, datetime.now(timezone.utc), args.hours, config_text)
    print(f"device {args.device}: officer {args.officer} for {args.hours:g} h from now ({path}); the device takes it "
          "at its next offload")
    return EXIT_OK


def _dock_report(args) -> int:
    """Per device, from the dock's own records: offloads, receipts, releases, shifts, overdue."""
    from .dock.report import dock_report, parse_since
    from .dock.report_text import report_text

    since = parse_since(args.since) if args.since else None
    report = dock_report(Path(args.directory), args.device, since, args.overdue_hours)
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else report_text(report, args.language))
    return EXIT_OK


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours") from None
    if not 0 < value <= 24 * 365:
        raise argparse.ArgumentTypeError(f"{text} h is out of range (0, 8760]")
    return value


DOCK_STEPS = {"init": _dock_init, "serve": _dock_serve, "assign": _dock_assign, "audit": _dock_audit,
              "export": _dock_export, "view": _dock_export, "report": _dock_report}


def cmd_offload(args) -> int:
    """Exit 0: the dock received, verified and receipted everything, and what the receipt
    covers was freed; 1: the dock refused, or withheld sessions; 75: the link kept failing."""
    from .offload.cipher import prefer_chacha20

    prefer_chacha20(args.cipher)  # before anything imports ssl
    from .clock import SystemClock
    from .config import load_config
    from .dock.settings import parse_address
    from .offload.messages import message
    from .offload.run import OffloadFailed, device_offload

    config = load_config(args.config)
    host, port = parse_address(args.dock or config.device.dock)

    def progress(done, total, sent):
        if not args.json:
            print(message("progress", args.language, done=done, total=total, mib=sent / 2**20), file=sys.stderr)

    offload = device_offload(_store_root(args, config), _identity_dir(args, config), host, port, SystemClock(),
                             progress)
    link = offload.dock.link
    try:
        outcome = offload.run()
    except OffloadFailed as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc), **offload.outcome.record()}))
        print(message("failed", args.language, detail=exc), file=sys.stderr)
        return EXIT_INTERRUPTED
    withheld = sorted((outcome.withheld or {}).get("sessions", {}))
    if args.json:
        print(json.dumps({"ok": outcome.refused is None and not withheld, **outcome.record()}, ensure_ascii=False))
    else:
        print(message("link", args.language, dock=link.dock_name, cipher=outcome.cipher))
        if outcome.refused:
            print(message("refused", args.language, code=outcome.refused, detail=outcome.withheld or "-"))
        else:
            print(message("done", args.language, head=outcome.head, sent=len(outcome.sent),
                          released=len(outcome.released)))
        if withheld:
            print(message("withheld", args.language, sessions=", ".join(withheld)))
    return EXIT_OK if outcome.refused is None and not withheld else EXIT_PROBLEMS


def cmd_selftest(args) -> int:
    """Exit 0 when nothing failed (warnings and skips included), 1 when a check failed."""
    from .clock import SystemClock
    from .config import DEFAULT_STORE, load_config
    from .seal.identity import identity_dir_for
    from .selftest.results import failed
    from .selftest.run import Options, run_selftest
    from .selftest.table import json_report, text_report

    config = load_config(args.config)
    clock = SystemClock()
    store = args.store or config.device.store
    if args.simulate:
        from .sim.bench import simulated_bench, simulated_store

        bench = simulated_bench(config, clock)
        if args.store is None and config.device.store == DEFAULT_STORE:
            store = simulated_store()
    else:
        from .agent.assembly import default_pin_factory
        from .selftest.bench import device_bench

        try:
            pins = default_pin_factory()
        except RecorderError as exc:  # the buttons and cues fail with it; the rest is still checked
            logging.getLogger("recorder").error("%s", exc)
            pins = None
        bench = device_bench(args.language, pins)
    identity = Path(args.identity) if args.identity else identity_dir_for(store, config.device.identity)
    options = Options(str(store), str(identity), args.button_timeout)
    report = run_selftest(config, bench, clock, options)
    if args.json:
        print(json.dumps(json_report(report, args.language), ensure_ascii=False, indent=2))
    else:
        print(text_report(report, args.language))
    return EXIT_PROBLEMS if failed(report.results) else EXIT_OK


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"{text} s is out of range (0, 600]")
    return value


def _add_logging_options(parser, default):
    """-v / --log-level, on the top-level parser (default: the default level) and on every
    subcommand (default: unset, so a value given before the subcommand survives)."""
    parser.add_argument("-v", "--verbose", dest="log_level", action="store_const", const="info", default=default,
                        help="log progress to stderr (the same as --log-level info)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, type=str.lower, default=default,
                        help=f"how much to log to stderr (default: {DEFAULT_LOG_LEVEL}); "
                             "the last of -v and --log-level given wins")


def _add_language_option(parser, what: str):
    """--language: `what` is in zh-CN (the default) or en."""
    parser.add_argument("--language", choices=("zh-CN", "en"), default="zh-CN",
                        help=f"the language of {what} (default zh-CN)")


def _add_json_option(parser, what: str):
    parser.add_argument("--json", action="store_true",
                        help=f"print the {what} as JSON (an error too: {{\"ok\": false, \"error\": ...}})")


def _add_identity_option(parser):
    parser.add_argument("--identity", metavar="DIR",
                        help="the device's keys, outside the store (default: device.identity, or beside the store: "
                             "STORE/../identity for a store named `store`, else STORE.identity)")


def _add_store_arguments(parser, dest: str, positional_help: str):
    """The store as a positional STORE or as --store DIR (either; both only if the same).
    main() puts the one given into args.<dest>."""
    parser.add_argument("store_positional", nargs="?", metavar="STORE", help=positional_help)
    parser.add_argument("--store", dest="store_option", metavar="DIR",
                        help="the evidence store directory, the same as STORE (give one or the other)")
    parser.set_defaults(store_dest=dest)


def _resolve_store(args):
    """The store from STORE or --store into args.<store_dest>; a UsageError when two
    different stores are given, or none where the command needs one."""
    dest = getattr(args, "store_dest", None)
    if dest is None:
        return
    positional, option = args.store_positional, args.store_option
    if positional is not None and option is not None and os.path.realpath(positional) != os.path.realpath(option):
        raise UsageError(f"two different stores given: STORE {positional} and --store {option} (give one)")
    store = positional if positional is not None else option
    if store is None and args.store_required:
        raise UsageError(f"{args.command} needs a store: STORE or --store DIR")
    setattr(args, dest, store)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="recorder", description="Body-worn evidence camera agent",
                    epilog="exit codes: 0 done (verify: everything verifies; selftest: nothing failed), 1 verify "
                           "found problems or a selftest check failed, "
                           "2 could not run, 4 battery critical: power off, 5 restarts gave up, "
                           "75 a fault ended the run: start again")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version and exit")
    _add_logging_options(parser, DEFAULT_LOG_LEVEL)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands",
                                help="what to do (recorder COMMAND --help for its options)")

    run = sub.add_parser("run", help="run the agent (on the device: until SIGTERM or SIGINT)")
    _add_logging_options(run, argparse.SUPPRESS)
    run.add_argument("--simulate", action="store_true",
                     help="use the simulated body (synthetic capture, buttons on mock pins)")
    run.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file (default: built-in settings)")
    run.add_argument("--store", metavar="DIR", help="evidence store directory (default: device.store)")
    _add_identity_option(run)
    run.add_argument("--start-at", type=float, metavar="SECONDS",
                     help="start recording by command this long after launch (default 0; "
                          "pre-record fills meanwhile)")
    run.add_argument("--duration", type=float, metavar="SECONDS",
                     help="stop recording by command this long after the start (default 60)")
    run.add_argument("--script", metavar="TIMELINE",
                     help="drive the simulated buttons from a timeline (a file, or inline text such as "
                          "'press record @5s; mark @20s; hold record 3.5s @65s')")
    run.add_argument("--fast", action="store_true", help="simulated time: run faster than real time")
    run.add_argument("--once", action="store_true",
                     help="one run of the agent, no restarts: what systemd runs on the device (it restarts "
                          "the agent itself); with --simulate the agent is otherwise a supervised child")
    run.add_argument("--supervise", action="store_true",
                     help="run the agent as a child and restart it after a fault (the default with --simulate)")
    run.add_argument("--script-origin-us", type=int, metavar="MONO_US",
                     help="with --simulate: the monotonic time the script's zero is at (the supervisor gives a "
                          "restarted run its predecessor's, so the shift goes on where it was)")
    run.add_argument("--sim-after", type=float, default=1.0, metavar="SECONDS",
                     help="with --simulate --fast: start the simulated clock this long after the store's last "
                          "entry (default 1; the supervisor's restart delay)")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", help="per shift: hours recorded, interruptions and their explanations, "
                            "unrecoverable events, warnings (for the unit head)")
    _add_logging_options(report, argparse.SUPPRESS)
    _add_store_arguments(report, "store", "evidence store directory (default: device.store from the configuration)")
    report.add_argument("--config", type=Path, metavar="FILE",
                        help="TOML configuration file, for device.store (default: built-in settings)")
    report.add_argument("--key", metavar="PUBKEY.pem", help="trusted device public key (PEM); default: the store's own")
    report.add_argument("--gap-hours", type=float, default=4.0, metavar="HOURS",
                        help="a pause this long between agent runs starts a new shift (default 4)")
    _add_language_option(report, "the text report; --json is language-neutral")
    _add_json_option(report, "report")
    report.set_defaults(func=cmd_report, store_required=False)

    unrecoverable = sub.add_parser("unrecoverable", help="record that the agent cannot continue, and cue it "
                                   "(systemd's OnFailure= unit on the device)")
    _add_logging_options(unrecoverable, argparse.SUPPRESS)
    unrecoverable.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    unrecoverable.add_argument("--store", metavar="DIR", help="evidence store directory (default: device.store)")
    _add_identity_option(unrecoverable)
    unrecoverable.add_argument("--simulate", action="store_true", help="cue on mock pins")
    unrecoverable.add_argument("--cause", default="restart-limit", help="what failed (default: restart-limit)")
    unrecoverable.add_argument("--detail", default="the agent's restarts failed (systemd start limit)",
                               help="what is known of it, for the ledger")
    unrecoverable.add_argument("--attempts", type=int, default=0, help="restarts that were tried")
    unrecoverable.add_argument("--hold", action="store_true", help="keep amber lit until SIGTERM")
    unrecoverable.set_defaults(func=cmd_unrecoverable)

    status = sub.add_parser("status", help="device identity, ledger head and store summary")
    _add_logging_options(status, argparse.SUPPRESS)
    _add_store_arguments(status, "store", "evidence store directory (default: device.store from the configuration)")
    status.add_argument("--config", type=Path, metavar="FILE",
                        help="TOML configuration file, for device.store (default: built-in settings)")
    _add_json_option(status, "summary")
    status.set_defaults(func=cmd_status, store_required=False)

    verify = sub.add_parser("verify", help="verify a store: signatures, chain, hashes, files")
    _add_logging_options(verify, argparse.SUPPRESS)
    _add_store_arguments(verify, "path", "evidence store directory to verify")
    verify.add_argument("--key", metavar="PUBKEY.pem",
                        help="trusted device public key (PEM); default: the store's own")
    verify.add_argument("--head", metavar="INDEX:SHA256", type=_head, action="append", default=[],
                        help="a ledger entry the store must hold with this hash, e.g. from a dock receipt "
                             "(repeatable): a cut at the end of the ledger shows only against one")
    verify.add_argument("--identity", metavar="AGE-KEY-FILE",
                        help="the agency's age identity (age-keygen's key file): encrypted segments are decrypted "
                             "and their plaintext checked too (without it: their ciphertext, as a dock does)")
    _add_json_option(verify, "report")
    verify.set_defaults(func=cmd_verify, store_required=True)

    export = sub.add_parser("export", help="export a session's track as GPX 1.1 (marks and interruptions as "
                            "waypoints), or its segments decrypted for an authorised viewer")
    _add_logging_options(export, argparse.SUPPRESS)
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--gpx", dest="session", metavar="SESSION",
                      help="the session to export (its id, as `recorder verify` lists it; `latest`: the last one)")
    what.add_argument("--media", metavar="SESSION",
                      help="the session's segments as MP4 files in -o DIRECTORY, decrypted with --identity and "
                           "each checked against the device's signature")
    export.add_argument("--identity", metavar="AGE-KEY-FILE",
                        help="with --media: the agency's age identity (age-keygen's key file)")
    export.add_argument("--store", metavar="DIR", help="evidence store (default: device.store from the configuration)")
    export.add_argument("--config", type=Path, metavar="FILE",
                        help="TOML configuration file, for device.store (default: built-in settings)")
    export.add_argument("--key", metavar="PUBKEY.pem", help="trusted device public key (PEM); default: the store's own")
    export.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write the GPX here (refused if it exists); default: standard output. With --media: "
                             "the directory for the MP4 files (an existing file is never written over)")
    _add_language_option(export, "names and descriptions")
    export.set_defaults(func=cmd_export, store_required=False)
    _add_provision_parser(sub)
    _add_agency_parser(sub)
    _add_dock_parser(sub)
    _add_offload_parser(sub)

    selftest = sub.add_parser("selftest", help="check every part at the bench (camera, microphone, speaker, GNSS, "
                              "clock, buttons, cues, storage, keys, certificates, battery): a pass/fail table")
    _add_logging_options(selftest, argparse.SUPPRESS)
    selftest.add_argument("--simulate", action="store_true",
                          help="check the simulated body (synthetic capture, mock pins pressed by simulated fingers)")
    selftest.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file (default: built-in "
                          "settings)")
    selftest.add_argument("--store", metavar="DIR", help="the store whose disk is checked (default: device.store; "
                          "with --simulate a directory of its own in the temporary directory)")
    _add_identity_option(selftest)
    selftest.add_argument("--button-timeout", type=_positive_seconds, default=10.0, metavar="SECONDS",
                          help="how long to wait for each button press (default 10)")
    _add_language_option(selftest, "the table and the prompts")
    _add_json_option(selftest, "results")
    selftest.set_defaults(func=cmd_selftest)
    return parser


def _add_provision_parser(sub):
    provision = sub.add_parser("provision", help="make this device's keys and its enrolment request for the agency; "
                               "with --install, install the agency's signed bundle (docs/PROVISIONING.md)")
    _add_logging_options(provision, argparse.SUPPRESS)
    provision.add_argument("--install", metavar="BUNDLE",
                           help="install the agency's signed bundle (refused, with nothing changed, when its "
                                "signature, device, validity or certificates are wrong)")
    provision.add_argument("--agency-ca", type=_pin, metavar="FINGERPRINT",
                           help="the agency CA key's SHA-256 fingerprint that `recorder agency init` printed: the "
                                "only CA whose bundle this device will install")
    provision.add_argument("--config", type=Path, metavar="FILE",
                           help="the device's TOML configuration, for device.store and device.identity (and, with "
                                "--install, to check the bundle's settings against)")
    provision.add_argument("--store", metavar="DIR", help="evidence store directory (default: device.store)")
    _add_identity_option(provision)
    provision.add_argument("-o", "--output", type=Path, metavar="FILE",
                           help="write the enrolment request here (refused if it exists); default: standard output")
    provision.add_argument("--serial-path", metavar="PATH",
                           help="read the board's serial number here (default: "
                                "/sys/firmware/devicetree/base/serial-number, then /proc/cpuinfo)")
    provision.add_argument("--cpuinfo", default="/proc/cpuinfo", metavar="PATH",
                           help="with --serial-path: the cpuinfo file whose Serial line is the fallback")
    _add_language_option(provision, "what the technician is told")
    provision.set_defaults(func=cmd_provision)


def _add_agency_parser(sub):
    agency = sub.add_parser("agency", help="the agency's side: its CA and keys, enrolling devices, their bundles")
    _add_logging_options(agency, argparse.SUPPRESS)
    commands = agency.add_subparsers(dest="agency_command", required=True, metavar="STEP",
                                     help="init, enrol or bundle (recorder agency STEP --help)")
    init = commands.add_parser("init", help="make the agency's CA, age key pair and dock certificate in DIR")
    init.add_argument("directory", metavar="DIR", help="a new or empty directory")
    init.add_argument("--name", required=True, help="the agency's name (in its certificates)")
    init.add_argument("--dock-name", default="dock.recorder.internal",
                      help="the dock's DNS name, as devices reach it (default dock.recorder.internal)")
    init.add_argument("--days", type=int, default=3650, help="the CA's validity in days (default 3650)")
    enrol = commands.add_parser("enrol", help="verify a device's enrolment request and issue its TLS certificate")
    enrol.add_argument("request", metavar="REQUEST", help="the request `recorder provision` wrote")
    enrol.add_argument("--days", type=int, default=825, help="the certificate's validity in days (default 825)")
    bundle = commands.add_parser("bundle", help="build the signed bundle for one enrolled device")
    bundle.add_argument("--device", required=True, metavar="ID", help="the device id (rec-…)")
    bundle.add_argument("--config", type=Path, metavar="FILE", help="the device's initial settings (TOML)")
    bundle.add_argument("--days", type=int, default=30, help="how long the bundle may be installed (default 30)")
    bundle.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write the bundle here (refused if it exists); default: standard output")
    for step in (enrol, bundle):
        step.add_argument("--agency", required=True, metavar="DIR", help="the agency's directory (agency init)")
    agency.set_defaults(func=cmd_agency)


def _add_dock_parser(sub):
    dock = sub.add_parser("dock", help="the dock's side of offload: its directory, the service devices offload to")
    _add_logging_options(dock, argparse.SUPPRESS)
    commands = dock.add_subparsers(dest="dock_command", required=True, metavar="STEP",
                                   help="init, serve, assign, audit, export, view or report (recorder dock STEP --help)")
    init = commands.add_parser("init", help="make a dock directory from the agency's CA and the dock's certificate")
    init.add_argument("directory", metavar="DOCK", help="a new directory for the dock")
    init.add_argument("--agency", required=True, metavar="DIR",
                      help="the agency's directory (agency init): ca.pem, dock.pem and dock.key are copied")
    serve = commands.add_parser("serve", help="serve devices' offloads over HTTPS (TLS 1.3, device certificates "
                                "required) until stopped")
    serve.add_argument("directory", metavar="DOCK", help="the dock's directory (dock init)")
    serve.add_argument("--listen", metavar="HOST:PORT", help="where to listen (default: dock.toml [listen], "
                       "else 0.0.0.0:8443; port 0: any free port, printed)")
    assign = commands.add_parser("assign", help="check a device out to an officer for the next shift: a record "
                                 "signed by the dock, which the device takes and records at its next offload")
    assign.add_argument("directory", metavar="DOCK", help="the dock's directory (dock init)")
    assign.add_argument("--device", required=True, metavar="ID", help="the device id (rec-…)")
    assign.add_argument("--officer", required=True, metavar="ID", help="the officer's id (letters, digits, . _ -)")
    assign.add_argument("--hours", type=float, default=12.0, help="how long the shift lasts from now (default 12)")
    assign.add_argument("--config", type=Path, metavar="FILE",
                        help="settings for this shift on top of the bundle's (TOML; not where the store is)")
    # audit, export, view: the audited access of article 13 (recorder/dock/access.py)
    audit = commands.add_parser("audit", help="show the dock's access log (who, when, why, what) and verify it: "
                                "signatures, hash chain, indexes (exit 1 on a problem)")
    audit.add_argument("directory", metavar="DOCK", help="the dock's directory")
    audit.add_argument("--head", metavar="INDEX:SHA256", type=_head, action="append", default=[],
                       help="an entry the log must still hold with this hash, as written down earlier (repeatable): "
                            "entries cut from the end of the log show only against one")
    _add_language_option(audit, "the table and the verdict; --json is language-neutral")
    _add_json_option(audit, "log and the verdict")
    for step, what in (("export", "export a session (or one segment) to a new directory"),
                       ("view", "copy a session (or one segment) for playback to a new private directory")):
        access = commands.add_parser(step, help=f"{what}, decrypted if encrypted, each file checked against the "
                                     "device's signed ledger; logged before the first byte is written")
        access.add_argument("directory", metavar="DOCK", help="the dock's directory")
        access.add_argument("--requester", required=True, metavar="NAME",
                            help="who asks for it (name, unit, warrant number): written to the access log")
        access.add_argument("--reason", required=True, metavar="TEXT",
                            help="why (the case, the approval): written to the access log")
        access.add_argument("--device", required=True, metavar="ID", help="the device id (rec-…)")
        access.add_argument("--session", required=True, metavar="ID", help="the session id, as `recorder verify` "
                            "lists it")
        access.add_argument("--seq", type=int, metavar="N", help="only segment N of the session (default: all)")
        access.add_argument("--identity", metavar="AGE-KEY-FILE",
                            help="the agency's age identity file, for encrypted segments (never logged)")
        access.add_argument("-o", "--output", type=Path, metavar="DIR", required=step == "export",
                            help="a new directory for the files (refused if it exists)" if step == "export" else
                            "a new directory for the files (default: a new one in the temporary directory)")
    # report: the shift report at the dock (recorder/dock/report.py), from its own records only
    report = commands.add_parser("report", help="per device: offloads (received, receipted, withheld, refused), "
                                 "releases, sessions, shifts and interruptions, overdue devices")
    report.add_argument("directory", metavar="DOCK", help="the dock's directory")
    report.add_argument("--device", metavar="ID", help="only this device (rec-…; default: every device)")
    report.add_argument("--since", metavar="DATE", help="only what ended on or after DATE (2026-12-01, or "
                        "2026-12-01T08:00:00Z; UTC unless a zone is given); overdue still counts everything")
    report.add_argument("--overdue-hours", type=_hours, default=24.0, metavar="HOURS",
                        help="a recording not offloaded within HOURS of its end is late (default 24: article 4, "
                             "upload at the end of every shift)")
    _add_language_option(report, "the report; --json is language-neutral")
    _add_json_option(report, "report")
    dock.set_defaults(func=cmd_dock)


def _add_offload_parser(sub):
    offload = sub.add_parser("offload", help="offload to the dock: the ledger witnessed, the files sent (resumable), "
                             "the receipt checked, and only what it covers freed (docs/DOCK.md)")
    _add_logging_options(offload, argparse.SUPPRESS)
    offload.add_argument("--dock", metavar="HOST:PORT", help="the dock's address (port default 8443; default: "
                         "device.dock, the USB link's far end 10.77.0.1:8443)")
    offload.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration (device.store, "
                         "device.identity)")
    offload.add_argument("--store", metavar="DIR", help="evidence store directory (default: device.store)")
    _add_identity_option(offload)
    offload.add_argument("--cipher", choices=("auto", "chacha20", "aes"), default="auto",
                         help="TLS 1.3 suite asked for first: auto = ChaCha20-Poly1305 on a CPU without AES "
                              "instructions (Pi Zero 2 W, Pi 4), else OpenSSL's order")
    _add_json_option(offload, "outcome")
    _add_language_option(offload, "what is printed")
    offload.set_defaults(func=cmd_offload)


def _refused(argv, message) -> int:
    """A command line that cannot run: one line, pointing at the right --help; JSON too
    when a status or verify command line asked for --json (or an abbreviation of it)."""
    tokens = argv[:argv.index("--")] if "--" in argv else argv
    command = next((token for token in tokens if token in COMMANDS), None)
    as_json = command in JSON_COMMANDS and any(
        token.startswith("--j") and "--json".startswith(token) for token in tokens)
    help_hint = f"recorder {command} --help" if command else "recorder --help"
    return _cannot_run(f"{message} (see '{help_hint}')", as_json)


def _one_line(message) -> str:
    return "; ".join(line.strip() for line in str(message).splitlines() if line.strip())


def _cannot_run(message, as_json: bool, label: str = "error", code: int = EXIT_CANNOT_RUN) -> int:
    """One line on stderr; with --json, also {"ok": false, "error": ...} on stdout."""
    message = _one_line(message)
    if as_json:
        print(json.dumps({"ok": False, "error": message}), flush=True)
    print(f"recorder: {label}: {message}", file=sys.stderr, flush=True)
    return code


def main(argv=None) -> int:
    argv = [str(arg) for arg in (sys.argv[1:] if argv is None else argv)]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = argv
        _resolve_store(args)
    except UsageError as exc:
        return _refused(argv, exc)
    from .journal import log_handler

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=[log_handler()],  # journald's native protocol when systemd runs us, else stderr
    )
    as_json = getattr(args, "json", False)
    try:
        return args.func(args)
    except CaptureError as exc:
        # Everything is sealed and fsync'd by now. A sound device lost mid-stream can leave
        # PortAudio unable to terminate, which would hang its exit handler: leave without it.
        _cannot_run(exc, as_json)
        sys.stdout.flush()
        os._exit(EXIT_CANNOT_RUN)
    except RunInterrupted as exc:
        # Sealed and in the ledger. Leave without exit handlers: PortAudio may hang in them
        # after a lost server, and the restart must be a fresh process anyway.
        _cannot_run(exc, as_json, label=exc.label, code=exc.exit_code)
        sys.stdout.flush()
        os._exit(exc.exit_code)
    except RecorderError as exc:
        return _cannot_run(exc, as_json)
    except KeyboardInterrupt:
        return EXIT_CANNOT_RUN


if __name__ == "__main__":
    sys.exit(main())
