#!/usr/bin/env python3
"""An MCP client for the end-to-end tests, built on the official Python SDK (`mcp`, see scripts/setup-python.sh;
the 2.x release, or 1.x for the protocol-version tests).

It connects to URL over Streamable HTTP or SSE, initializes, lists the tools, makes the calls asked for and prints
ONE JSON object on stdout. The exit code is 0 only when that object's "errors" list is empty (and, with
--sessions, no response mismatched); each error is also written to stderr. A tool result with isError=true is a
result, not an error.

  mcp_client.py --url URL --transport streamable-http|sse [--header 'Name: value']...
                [--call TOOL [--args JSON]]...
      {"ok": true, "protocol_version": "...", "server": {"name": "...", "version": "..."},
       "tools": ["add", "echo", ...],
       "calls": [{"tool": "echo", "args": {...}, "text": "hi", "is_error": false,
                  "progress": [[1.0, 3.0, "step 1 of 3"], ...], "error": null}, ...],
       "errors": ["call echo: ..."]}

  mcp_client.py --url URL --transport T --sessions N [--calls M] [--sleep-ms MS]
      N concurrent client sessions, each calling echo M times with texts unique to it (and sleep MS after each
      echo when MS > 0), checking every response is the one that session asked for:
      {"ok": true, "sessions": N, "calls": <answered calls>, "mismatches": 0, "errors": [...],
       "servers": [<whoami answers, with --whoami: the distinct server processes the sessions reached>]}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.shared._httpx_utils import create_mcp_http_client

try:  # the 2.x SDK (and late 1.x)
    from mcp.client.streamable_http import streamable_http_client
except ImportError:  # older 1.x releases
    from mcp.client.streamable_http import streamablehttp_client

    def streamable_http_client(url: str, *, http_client: Any) -> Any:
        return streamablehttp_client(url, headers=dict(http_client.headers))


def quiet_accepted_termination() -> None:
    """rmcp answers the DELETE that ends a session with 202 Accepted, which the SDK logs as a failure every time."""
    logging.getLogger("mcp.client.streamable_http").addFilter(
        lambda record: record.getMessage() != "Session termination failed: 202"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the MCP endpoint (…/mcp) or SSE endpoint (…/sse)")
    parser.add_argument("--transport", required=True, choices=["streamable-http", "sse"])
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for the whole run (default 60)")
    parser.add_argument("--list-tools", action="store_true", help="accepted for clarity: tools are always listed")
    parser.add_argument("--call", action="append", default=[], metavar="TOOL", help="call TOOL, repeatable")
    parser.add_argument(
        "--args", action="append", default=[], metavar="JSON", help="the arguments of the preceding --call"
    )
    parser.add_argument("--sessions", type=int, help="run N concurrent sessions instead of --call")
    parser.add_argument("--calls", type=int, default=5, help="echo calls per session (default 5)")
    parser.add_argument("--sleep-ms", type=int, default=0, help="a sleep call of MS after each echo (default none)")
    parser.add_argument(
        "--whoami", action="store_true", help="with --sessions: each session also calls whoami (the test server's)"
    )
    args = parser.parse_args(argv)
    args.headers = parse_headers(parser, args.header)
    args.call_args = pair_call_args(parser, argv)
    if args.sessions is not None and (args.sessions < 1 or args.calls < 1):
        parser.error("--sessions and --calls must be at least 1")
    return args


def parse_headers(parser: argparse.ArgumentParser, raw: list[str]) -> dict[str, str]:
    headers = {}
    for header in raw:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            parser.error(f"--header {header!r}: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def pair_call_args(parser: argparse.ArgumentParser, argv: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Each --call with the --args that follows it (before the next --call), {} when there is none."""
    calls: list[tuple[str, dict[str, Any]]] = []
    tokens = iter(argv)
    for token in tokens:
        flag, eq, inline = token.partition("=")
        if flag not in ("--call", "--args"):
            continue
        value = inline if eq else next(tokens, "")
        if flag == "--call":
            calls.append((value, {}))
            continue
        if not calls:
            parser.error("--args must follow a --call")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as e:
            parser.error(f"--args {value!r}: {e}")
        if not isinstance(parsed, dict):
            parser.error(f"--args {value!r}: expected a JSON object")
        calls[-1] = (calls[-1][0], parsed)
    return calls


def describe(error: BaseException) -> str:
    """The leaf errors of an exception (group), which anyio task groups wrap transport failures in."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(describe(e) for e in error.exceptions)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def field(obj: Any, snake: str, camel: str) -> Any:
    """A field of an SDK model: snake_case in the 2.x SDK, camelCase in 1.x."""
    return getattr(obj, snake) if hasattr(obj, snake) else getattr(obj, camel)


@asynccontextmanager
async def connect(url: str, transport: str, headers: dict[str, str]) -> AsyncIterator[tuple[ClientSession, Any]]:
    """An initialized client session over the chosen transport, with its initialize result. Works with the SDK's
    2.x and 1.x releases (the 1.x streamable transport yields a third item, the session id getter)."""
    if transport == "sse":
        streams = sse_client(url, headers=headers)
    else:
        streams = streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))
    async with streams as parts:
        read, write = parts[0], parts[1]
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            yield session, init


def result_text(result: Any) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", None) == "text")


async def call_tool(session: ClientSession, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    progress: list[list[Any]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append([value, total, message])

    entry: dict[str, Any] = {"tool": tool, "args": arguments, "text": None, "is_error": None, "error": None}
    try:
        result = await session.call_tool(tool, arguments, progress_callback=on_progress)
        entry["text"] = result_text(result)
        entry["is_error"] = bool(field(result, "is_error", "isError"))
    except Exception as e:
        entry["error"] = describe(e)
    entry["progress"] = progress
    return entry


async def run_calls(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"ok": False, "tools": [], "calls": [], "errors": []}
    try:
        async with connect(args.url, args.transport, args.headers) as (session, init):
            if init is not None:
                info = field(init, "server_info", "serverInfo")
                report["protocol_version"] = field(init, "protocol_version", "protocolVersion")
                report["server"] = {"name": info.name, "version": info.version}
            report["tools"] = sorted(t.name for t in (await session.list_tools()).tools)
            for tool, arguments in args.call_args:
                entry = await call_tool(session, tool, arguments)
                report["calls"].append(entry)
                if entry["error"]:
                    report["errors"].append(f"call {tool}: {entry['error']}")
    except Exception as e:
        report["errors"].append(describe(e))
    report["ok"] = not report["errors"]
    return report


async def one_session(args: argparse.Namespace, index: int, tally: dict[str, Any]) -> None:
    tag = f"session-{index}-{uuid.uuid4().hex}"
    try:
        async with connect(args.url, args.transport, args.headers) as (session, _init):
            if args.whoami:
                tally["servers"].add(result_text(await session.call_tool("whoami", {})))
            for n in range(args.calls):
                text = f"{tag}-call-{n}"
                expect = [("echo", {"text": text}, text)]
                if args.sleep_ms > 0:
                    expect.append(("sleep", {"ms": args.sleep_ms}, f"slept {args.sleep_ms}ms"))
                for tool, arguments, wanted in expect:
                    result = await session.call_tool(tool, arguments)
                    tally["calls"] += 1
                    got = result_text(result)
                    if field(result, "is_error", "isError") or got != wanted:
                        tally["mismatches"] += 1
                        tally["errors"].append(f"session {index}: {tool} answered {got!r}, expected {wanted!r}")
    except Exception as e:
        tally["errors"].append(f"session {index}: {describe(e)}")


async def run_sessions(args: argparse.Namespace) -> dict[str, Any]:
    tally: dict[str, Any] = {
        "ok": False, "sessions": args.sessions, "calls": 0, "mismatches": 0, "errors": [], "servers": set()
    }
    await asyncio.gather(*(one_session(args, i, tally) for i in range(args.sessions)))
    tally["ok"] = not tally["errors"] and tally["mismatches"] == 0
    tally["servers"] = sorted(tally["servers"])
    return tally


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = run_sessions(args) if args.sessions is not None else run_calls(args)
    try:
        return await asyncio.wait_for(work, args.timeout)
    except asyncio.TimeoutError:
        return {"ok": False, "errors": [f"timed out after {args.timeout}s"]}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    quiet_accepted_termination()
    report = asyncio.run(run(args))
    print(json.dumps(report))
    for error in report["errors"]:
        print(f"mcp_client: {error}", file=sys.stderr)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
