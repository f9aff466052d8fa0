#!/usr/bin/env python3
"""Answer sizes as a model receives them, through the official MCP Python SDK.

usage: answer_sizes.py INGEST CONFIG

Runs a pre-rounds sequence against `INGEST --config CONFIG mcp`: snapshot_status, every page of
panel_changes, list_panel, then get_patient, get_observations and get_medications for every
patient on the panel, plus one search_documents and one read_document. Prints, per tool, the
calls, and the largest and total size of the text content and of structuredContent (compact
JSON), in characters, with tokens estimated as UTF-8 bytes / 3 (the server's own estimate).
"""
import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def measure(result):
    text = "".join(block.text for block in result.content if getattr(block, "text", None))
    structured = json.dumps(result.structured_content, separators=(",", ":"), ensure_ascii=False)
    return len(text), len(text.encode()), len(structured), len(structured.encode())


async def main(binary, config):
    params = StdioServerParameters(command=binary, args=["--config", config, "mcp"])
    sizes = {}

    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as session:
            await session.initialize()

            async def call(tool, args):
                result = await session.call_tool(tool, args)
                if result.is_error:
                    raise SystemExit(f"{tool} {args}: {result.content[0].text}")
                sizes.setdefault(tool, []).append(measure(result))
                return result.structured_content

            await call("snapshot_status", {})
            cursor = None
            while True:
                page = await call("panel_changes", {"cursor": cursor} if cursor else {})
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            mrns, cursor = [], None
            while True:
                page = await call("list_panel", {"cursor": cursor} if cursor else {})
                mrns += [p["mrn"] for p in page["patients"]]
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            documents = []
            for mrn in mrns:
                patient = await call("get_patient", {"mrn": mrn})
                documents += [d["document_id"] for d in patient["documents"]]
                await call("get_observations", {"mrn": mrn})
                await call("get_medications", {"mrn": mrn})
            await call("search_documents", {"query": "plan"})
            if documents:
                await call("read_document", {"document_id": documents[0]})

    budget = 24_000
    print(f"{'tool':18} {'calls':>5} {'max text':>9} {'max JSON':>9} {'text total':>11} {'JSON total':>11}")
    totals = [0, 0, 0]
    for tool, rows in sizes.items():
        max_text = max(r[0] for r in rows)
        max_json = max(r[2] for r in rows)
        text_total = sum(r[0] for r in rows)
        json_total = sum(r[2] for r in rows)
        over = " OVER BUDGET" if max(max(r[1], r[3]) for r in rows) > budget else ""
        print(f"{tool:18} {len(rows):>5} {max_text:>9,} {max_json:>9,} {text_total:>11,} {json_total:>11,}{over}")
        totals[0] += len(rows)
        totals[1] += text_total
        totals[2] += json_total
    print(f"{'whole sequence':18} {totals[0]:>5} {'':>9} {'':>9} {totals[1]:>11,} {totals[2]:>11,}")
    print(f"estimated tokens: text {totals[1] // 3:,}, JSON {totals[2] // 3:,}")


asyncio.run(main(sys.argv[1], sys.argv[2]))
