"""``python -m shanraq_core service {gateway,loadgen,hash-key}`` (docs/service.md)."""

from __future__ import annotations

import argparse
import getpass
import sys

USAGE = """usage: python -m shanraq_core service {gateway,loadgen,hash-key} [options]

  gateway  --config FILE   run the gateway (TOML config, docs/service.md)
  loadgen  ...             open-loop load at a fixed rate over TLS (--help)
  hash-key                 read an API key from stdin, print its api_key_hash for the config
"""


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        (sys.stdout if argv else sys.stderr).write(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "gateway":
            ap = argparse.ArgumentParser(prog="python -m shanraq_core service gateway")
            ap.add_argument("--config", required=True, help="TOML configuration file")
            args = ap.parse_args(rest)
            from shanraq_core.service.config import ConfigError, load_config
            from shanraq_core.service.gateway import run
            from shanraq_core.service.logs import configure_logging, stop_logging

            try:
                config = load_config(args.config)
            except ConfigError as e:
                sys.stderr.write(f"python -m shanraq_core service gateway: error: {e}\n")
                return 2
            handler = configure_logging()
            try:
                run(config)
            finally:
                stop_logging(handler)
            return 0
        if command == "loadgen":
            from shanraq_core.service.loadgen import main as loadgen_main

            return loadgen_main(rest)
        if command == "hash-key" and not rest:
            from shanraq_core.service.auth import hash_api_key

            key = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("API key: ")
            if not key:
                sys.stderr.write("python -m shanraq_core service hash-key: error: empty key\n")
                return 2
            sys.stdout.write(hash_api_key(key) + "\n")
            return 0
    except ImportError as e:
        sys.stderr.write(f"python -m shanraq_core service: {e} (install shanraq_core[service])\n")
        return 2
    sys.stderr.write(USAGE)
    sys.stderr.write(f"python -m shanraq_core service: error: unknown command {' '.join(argv)!r}\n")
    return 2
