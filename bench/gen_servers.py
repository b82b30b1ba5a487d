#!/usr/bin/env python3
"""Synthetic registry for the benchmark: a JSON array of server.json documents (schema 2025-12-11).

Deterministic (fixed seed). By default 20,000 names `com.bench<i%50>/server-<i>` with 5 versions each
(100,000 versions): 1.0.0 .. 1.4.0, where every 10th server has a non-semver version in place of 1.4.0
(`2024.03.<dd>` style date versions or `build-<n>`). Every server has one npm (even i) or oci (odd i) package
with transport stdio; every 4th server also has a streamable-http remote on a host unique to its name.

Descriptions (<= 100 characters) are made of words from a small vocabulary, so that each vocabulary word
(e.g. "database") matches several thousand versions; the rare word "quokka" is in the description of
exactly RARE_SERVERS servers (5 versions each), so a search for it scans far before filling a page.

Usage: gen_servers.py OUT.json [--names N] [--versions V] [--seed S]
Prints a few facts for the benchmark (shell `KEY=value` lines) to stdout.
"""

import argparse
import json
import random
import sys
import urllib.parse

SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
VOCAB = [
    "database", "weather", "github", "slack", "calendar", "email", "search", "files", "kubernetes",
    "docker", "postgres", "redis", "metrics", "logging", "browser", "maps", "finance", "crypto",
    "translation", "images", "video", "audio", "notes", "tasks", "tickets", "wiki", "cloud", "storage",
    "security", "analytics", "chat", "payments", "shipping", "inventory", "crm", "hr", "legal", "travel",
    "music", "news",
]
RARE_WORD = "quokka"
RARE_SERVERS = 4
COMMON_WORD = "database"


def versions_for(i: int, count: int) -> list[str]:
    vs = [f"1.{k}.0" for k in range(count)]
    if i % 10 == 0:
        # a non-semver version replaces the last one (published last, so it becomes latest by publish order)
        vs[-1] = f"2024.03.{(i // 10) % 28 + 1:02d}" if i % 20 == 0 else f"build-{i}"
    return vs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--names", type=int, default=20_000)
    ap.add_argument("--versions", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20251211)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    rare = set(rng.sample(range(args.names), RARE_SERVERS))
    docs = []
    names = []
    for i in range(args.names):
        ns = f"com.bench{i % 50}"
        name = f"{ns}/server-{i}"
        names.append(name)
        words = rng.sample(VOCAB, 3)
        if i in rare:
            words[1] = RARE_WORD
        desc = f"Bench server {i}: {words[0]}, {words[1]} and {words[2]} tools for MCP clients"
        assert len(desc) <= 100, desc
        has_remote = i % 4 == 0
        for v in versions_for(i, args.versions):
            if i % 2 == 0:
                pkg = {
                    "registryType": "npm",
                    "identifier": f"@bench{i % 50}/server-{i}",
                    "version": v,
                    "transport": {"type": "stdio"},
                    "environmentVariables": [
                        {"name": "BENCH_API_KEY", "description": "API key", "isRequired": True, "isSecret": True}
                    ],
                }
            else:
                pkg = {
                    "registryType": "oci",
                    "identifier": f"ghcr.io/bench{i % 50}/server-{i}:{v}",
                    "transport": {"type": "stdio"},
                }
            doc = {
                "$schema": SCHEMA,
                "name": name,
                "description": desc,
                "title": f"Bench {i}",
                "repository": {"url": f"https://github.com/bench{i % 50}/server-{i}", "source": "github"},
                "version": v,
                "packages": [pkg],
            }
            if has_remote:
                doc["remotes"] = [{"type": "streamable-http", "url": f"https://server-{i}.bench{i % 50}.example.com/mcp"}]
            docs.append(doc)

    with open(args.out, "w") as f:
        json.dump(docs, f, separators=(",", ":"))

    # facts for the benchmark's queries
    ordered = sorted(names)  # byte order, as the registry pages
    last = ordered[-1]
    deep_name = ordered[-7]  # 6 names (30 versions) before the end: the deep page is a full page near the end
    deep_cursor = f"{deep_name}:1.0.0"
    detail_i = 12345 % args.names
    detail = names[detail_i]
    out = {
        "VERSIONS": len(docs),
        "NAMES": args.names,
        "LAST_NAME": last,
        "DEEP_CURSOR": urllib.parse.quote(deep_cursor, safe=""),
        "DETAIL_NAME": urllib.parse.quote(detail, safe=""),
        "DETAIL_VERSION": "1.2.0",
        "COMMON_WORD": COMMON_WORD,
        "COMMON_COUNT": sum(1 for d in docs if COMMON_WORD in (d["name"] + "\n" + d["description"]).lower()),
        "RARE_WORD": RARE_WORD,
        "RARE_COUNT": sum(1 for d in docs if RARE_WORD in d["description"]),
        "BYTES": sum(len(json.dumps(d, separators=(",", ":"))) for d in docs),
    }
    for k, v in out.items():
        print(f"{k}={v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
