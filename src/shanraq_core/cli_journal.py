"""``python -m shanraq_core journal``: the operator's command line for journals.

    python -m shanraq_core journal inspect PATH
    python -m shanraq_core journal verify PATH
    python -m shanraq_core journal recover PATH
    python -m shanraq_core journal replay PATH --out DIR (--seq N | --time NS)
    python -m shanraq_core journal backup PATH ROOT [--prune DAILY,WEEKLY,MONTHLY]
    python -m shanraq_core journal restore SET DST
    python -m shanraq_core journal tail PATH [--from SEQ] [--count N] [--follow SECONDS]

Every command takes ``--json`` (one JSON document on stdout; ``tail`` prints
one JSON object per record), ``--key ID=FILE`` (repeatable: a file holding
the 32-byte AES-256 key with that id, raw or as 64 hex digits; keys are never
printed) and ``--capacity NAME=VALUE`` (repeatable: the machine's
constructor arguments, e.g. ``max_orders=4096``; the machine is chosen by the
tag in the journal's headers: BOOK, LDGR, or any registered with
`shanraq_core.journal.register_machine`).

Exit status: 0 success; 1 the journal is damaged (corruption, with file,
offset and seq); 2 a usage error (bad arguments, a missing or foreign
directory); 3 a key error (missing or wrong key); 4 any other failure (I/O,
permission, full disk, locked by a writer, another format version).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from shanraq_core import errors
from shanraq_core import journal as jm

EXIT_OK = 0
EXIT_CORRUPT = 1
EXIT_USAGE = 2
EXIT_KEY = 3
EXIT_FAILED = 4


class UsageError(Exception):
    """A bad argument found after parsing (exit 2)."""


def _parse_keys(specs: Sequence[str]) -> dict[int, bytes] | None:
    keys: dict[int, bytes] = {}
    for spec in specs:
        kid, sep, file = spec.partition("=")
        if not sep or not kid.isdigit() or int(kid) == 0:
            raise UsageError(f"--key takes ID=FILE with ID >= 1, got {spec!r}")
        try:
            raw = Path(file).read_bytes()
        except OSError as e:
            raise UsageError(f"--key {kid}: cannot read {file}: {e.strerror}") from None
        text = raw.strip()
        if len(raw) == 32:
            key = raw
        elif len(text) == 64:
            try:
                key = bytes.fromhex(text.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                raise UsageError(f"--key {kid}: {file} is neither 32 raw bytes nor 64 hex digits") from None
        else:
            raise UsageError(f"--key {kid}: {file} is neither 32 raw bytes nor 64 hex digits")
        keys[int(kid)] = key
    return keys or None


def _parse_capacities(specs: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--capacity takes NAME=VALUE, got {spec!r}")
        try:
            out[name] = int(value, 0)
        except ValueError:
            raise UsageError(f"--capacity {name}: {value!r} is not an integer") from None
    return out


def _machine_tag(path: str) -> str:
    """The machine tag the journal's headers name (the newest valid file's)."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{path}: no such directory")
    if not p.is_dir():
        raise UsageError(f"{path}: not a directory")
    view = jm.inspect(path)
    for item in reversed(view["snapshots"] + view["segments"]):
        if item["header_ok"]:
            return jm.machine_tag_name(item["machine_tag"])
    raise UsageError(f"{path}: no journal segment or snapshot with a valid header (not a journal directory?)")


def _new_machine(tag: str, capacities: dict[str, int]) -> Any:
    try:
        factory = jm.machine_factory(tag)
    except LookupError as e:
        raise UsageError(str(e)) from None
    try:
        return factory(**capacities)
    except TypeError as e:
        raise UsageError(f"--capacity: {e}") from None


def _torn_line(torn: dict[str, Any] | None) -> str:
    if torn is None:
        return "none"
    return (
        f"{torn['bytes']} bytes cut at {torn['file']} offset {torn['offset']} (seq {torn['seq']}): "
        f"{torn['why']}"
    )


# ---- commands -----------------------------------------------------------------------------------
def cmd_inspect(a: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    if not Path(a.path).is_dir():
        raise UsageError(f"{a.path}: not a directory")
    view = jm.inspect(a.path)
    for item in view["segments"] + view["snapshots"]:
        item["machine"] = jm.machine_tag_name(item["machine_tag"]) if item["header_ok"] else None
    if not a.json:
        segs, snaps = view["segments"], view["snapshots"]
        print(f"journal {a.path}: {len(segs)} segment(s), {len(snaps)} snapshot(s)", file=out)
        for s in segs:
            state = "ok" if s["header_ok"] else "BAD HEADER"
            key = f", key {s['key_id']}" if s["key_id"] else ""
            print(
                f"  segment  {Path(s['path']).name}  first seq {s['first_seq']}, {s['bytes']} bytes, "
                f"machine {s['machine']}, record {s['record_size']} B{key} [{state}]",
                file=out,
            )
        for s in snaps:
            state = "ok" if s["header_ok"] else "BAD HEADER"
            key = f", key {s['key_id']}" if s["key_id"] else ""
            print(
                f"  snapshot {Path(s['path']).name}  seq {s['seq']}, {s['bytes']} bytes, "
                f"state hash {s['state_hash']:#018x}{key} [{state}]",
                file=out,
            )
        for t in view["temporary"]:
            print(f"  temporary {Path(t).name}", file=out)
        for o in view["other"]:
            print(f"  unknown file {Path(o).name}", file=out)
    return view


def cmd_verify(a: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    machine = _new_machine(_machine_tag(a.path), a.capacities)
    r = jm.verify(a.path, machine, keys=a.keys)
    if not a.json:
        base = f"snapshot {r['base_snapshot']}" if r["base_snapshot"] else "seq 1"
        print(
            f"verified {a.path}: seqs {r['from_seq']}..{r['last_seq']} replayed from {base} "
            f"({r['records']} records, {r['frames']} frames, {r['segments']} segments); "
            f"snapshots checked: {r['snapshots_checked'] or 'none'}; torn tail: {_torn_line(r['torn_tail'])}",
            file=out,
        )
    return r


def cmd_recover(a: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    machine = _new_machine(_machine_tag(a.path), a.capacities)
    with jm.Journal.open(a.path, machine, create=False, keys=a.keys) as j:
        r = j.recovery
        r["state_hash"] = machine.state_hash()
    if not a.json:
        base = f"snapshot {r['snapshot_seq']}" if r["snapshot_seq"] else "the start"
        print(
            f"recovered {a.path}: last seq {r['last_seq']}, {r['replayed']} commands replayed from {base}; "
            f"torn tail: {_torn_line(r['torn_tail'])}; state hash {r['state_hash']:#018x}",
            file=out,
        )
        for note in r["notes"]:
            print(f"  note: {note}", file=out)
    return r


def cmd_replay(a: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    if (a.seq is None) == (a.time is None):
        raise UsageError("replay needs exactly one of --seq and --time")
    machine = _new_machine(_machine_tag(a.path), a.capacities)
    r = jm.restore_to(a.path, a.out, machine, seq=a.seq, time_ns=a.time, keys=a.keys, key_id=a.key_id)
    r["state_hash"] = machine.state_hash()
    r["out"] = a.out
    if not a.json:
        print(
            f"replayed {a.path} to seq {r['last_seq']} into {a.out} (state hash {r['state_hash']:#018x}); "
            f"open it with Journal.open or `journal recover {a.out}`",
            file=out,
        )
    return r


def cmd_backup(a: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    machine = _new_machine(_machine_tag(a.path), a.capacities)
    Path(a.root).mkdir(parents=True, exist_ok=True)
    r = jm.backup(a.path, a.root, machine, keys=a.keys)
    if a.prune is not None:
        try:
            daily, weekly, monthly = (int(x) for x in a.prune.split(","))
        except ValueError:
            raise UsageError(f"--prune takes DAILY,WEEKLY,MONTHLY, got {a.prune!r}") from None
        r["pruned"] = jm.prune_backups(a.root, daily=daily, weekly=weekly, monthly=monthly)
    if not a.json:
        print(
            f"backup {r['path']}: snapshot {r['snapshot_seq']}, through seq {r['last_seq']}, "
            f"{r['files']} files, {r['bytes']} bytes, verified",
            file=out,
        )
        for name in r.get("pruned", []):
            print(f"  pruned {name}", file=out)
    return r


def cmd_restore(a: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    tag = _machine_tag(a.set)
    jm.restore_backup(a.set, a.dst, _new_machine(tag, a.capacities), keys=a.keys)
    r = {"set": a.set, "path": a.dst}
    if not a.json:
        print(f"restored {a.set} into {a.dst} (verified); `journal recover {a.dst}` opens it", file=out)
    return r


def _plain(value: Any) -> Any:
    if isinstance(value, np.void) and value.dtype.names:
        return {n: _plain(value[n]) for n in value.dtype.names}
    if isinstance(value, np.void):
        return value.tobytes().hex()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value]
    return int(value)


def cmd_tail(a: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    machine = _new_machine(_machine_tag(a.path), a.capacities)
    reader = jm.TailReader(a.path, machine, from_seq=a.from_seq, keys=a.keys)
    names = machine.COMMAND_DTYPE.names
    printed = 0
    deadline = time.monotonic() + a.follow
    while a.count is None or printed < a.count:
        want = 4096 if a.count is None else min(4096, a.count - printed)
        recs = reader.read(want)
        if len(recs) == 0:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
            continue
        for rec in recs:
            row = {n: _plain(rec[n]) for n in names}
            if a.json:
                print(json.dumps(row), file=out)
            else:
                print(
                    " ".join(f"{k}={v}" for k, v in row.items() if v not in (0, "") or k == "seq"), file=out
                )
        printed += len(recs)
    return {"records": printed, "position": reader.position}


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], dict[str, Any]]] = {
    "inspect": cmd_inspect,
    "verify": cmd_verify,
    "recover": cmd_recover,
    "replay": cmd_replay,
    "backup": cmd_backup,
    "restore": cmd_restore,
    "tail": cmd_tail,
}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    common.add_argument("--key", action="append", default=[], metavar="ID=FILE", help="an AES-256 key")
    common.add_argument(
        "--capacity", action="append", default=[], metavar="NAME=VALUE", help="a machine constructor argument"
    )
    p = argparse.ArgumentParser(
        prog="python -m shanraq_core journal",
        description="Inspect, verify, recover, replay, back up, restore and follow a journal.",
        epilog="exit status: 0 ok, 1 damaged journal, 2 usage error, 3 key error, 4 other failure",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("inspect", parents=[common], help="list the files and their headers")
    s.add_argument("path")
    s = sub.add_parser(
        "verify", parents=[common], help="replay from scratch, checking everything (read-only)"
    )
    s.add_argument("path")
    s = sub.add_parser("recover", parents=[common], help="open the journal (recovery; cuts a torn tail)")
    s.add_argument("path")
    s = sub.add_parser("replay", parents=[common], help="point-in-time recovery into a new directory")
    s.add_argument("path")
    s.add_argument("--out", required=True, help="the new journal directory (must not exist, or be empty)")
    s.add_argument("--seq", type=int, help="every command up to this seq")
    s.add_argument("--time", type=int, help="every command up to this time (ns since the epoch)")
    s.add_argument("--key-id", type=int, default=0, help="encrypt the new journal under this key")
    s = sub.add_parser("backup", parents=[common], help="write a verified backup set under ROOT")
    s.add_argument("path")
    s.add_argument("root")
    s.add_argument("--prune", metavar="DAILY,WEEKLY,MONTHLY", help="then keep only these sets (e.g. 7,4,12)")
    s = sub.add_parser("restore", parents=[common], help="verify a backup set and restore it into DST")
    s.add_argument("set")
    s.add_argument("dst")
    s = sub.add_parser("tail", parents=[common], help="print the journal's commands from a seq")
    s.add_argument("path")
    s.add_argument("--from", dest="from_seq", type=int, default=1, help="first seq (default 1)")
    s.add_argument("--count", type=int, help="stop after this many records")
    s.add_argument(
        "--follow", type=float, default=0.0, metavar="SECONDS", help="wait this long for new records"
    )
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    parser = build_parser()
    try:
        a = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code) if isinstance(e.code, int) else EXIT_USAGE
    try:
        a.keys = _parse_keys(a.key)
        a.capacities = _parse_capacities(a.capacity)
        result = COMMANDS[a.command](a, out)
    except UsageError as e:
        print(f"journal {a.command}: {e}", file=err)
        return EXIT_USAGE
    except errors.JournalCorruptionError as e:
        where = f"{e.path} offset {e.offset} seq {e.seq}"
        _report(a, out, err, "corruption", str(e), {"path": e.path, "offset": e.offset, "seq": e.seq}, where)
        return EXIT_CORRUPT
    except errors.JournalKeyError as e:
        _report(a, out, err, "key", str(e), {"path": e.path, "key_id": e.key_id}, f"{e.path} key {e.key_id}")
        return EXIT_KEY
    except (errors.JournalError, OSError, ValueError) as e:
        _report(a, out, err, type(e).__name__, str(e), {}, "")
        return EXIT_FAILED
    if a.json and a.command != "tail":
        print(json.dumps(result, indent=2, sort_keys=True), file=out)
    return EXIT_OK


def _report(
    a: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    kind: str,
    message: str,
    fields: dict[str, Any],
    where: str,
) -> None:
    if a.json:
        print(json.dumps({"error": kind, "message": message, **fields}, sort_keys=True), file=out)
    suffix = f" [{where}]" if where else ""
    print(f"journal {a.command}: {kind} error: {message}{suffix}", file=err)
