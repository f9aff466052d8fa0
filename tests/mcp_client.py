#!/usr/bin/env python3
"""Test client for ingest's MCP server, on the official MCP Python SDK.

usage:
  mcp_client.py stdio CALLS_JSON -- COMMAND [ARG...]
  mcp_client.py http  CALLS_JSON URL [--header NAME:VALUE]...

CALLS_JSON is a list of calls (or @FILE holding it):
  {"tool": NAME, "args": {...}}     call a tool
  {"list": "tools"|"resources"|"resource_templates"|"prompts"}
  {"read": URI}                      read a resource
  {"prompt": NAME, "args": {...}}    get a prompt
Prints one JSON list of results. A tool result is the wire form of CallToolResult
(content, structuredContent, isError); a JSON-RPC error is {"protocol_error": message}.
A connection that cannot be made prints {"connect_error": message} and exits 3.
"""
import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import get_default_environment, stdio_client


def wire(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def run_calls(session, calls):
    await session.initialize()
    out = []
    for call in calls:
        try:
            if "tool" in call:
                out.append(wire(await session.call_tool(call["tool"], call.get("args", {}))))
            elif call.get("list") == "tools":
                out.append(wire(await session.list_tools()))
            elif call.get("list") == "resources":
                out.append(wire(await session.list_resources()))
            elif call.get("list") == "resource_templates":
                out.append(wire(await session.list_resource_templates()))
            elif call.get("list") == "prompts":
                out.append(wire(await session.list_prompts()))
            elif "read" in call:
                out.append(wire(await session.read_resource(call["read"])))
            elif "prompt" in call:
                out.append(wire(await session.get_prompt(call["prompt"], call.get("args", {}))))
            else:
                raise SystemExit(f"unknown call {call!r}")
        except Exception as e:  # a JSON-RPC error answer
            out.append({"protocol_error": str(e)})
    return out


async def main():
    mode, spec = sys.argv[1], sys.argv[2]
    calls = json.loads(open(spec[1:], encoding="utf-8").read() if spec.startswith("@") else spec)
    if mode == "stdio":
        cmd = sys.argv[sys.argv.index("--") + 1:]
        # The SDK passes the server only a few safe variables; the test clock goes through too.
        env = {k: v for k, v in os.environ.items() if k.startswith("INGEST_")}
        params = StdioServerParameters(command=cmd[0], args=cmd[1:], env={**get_default_environment(), **env})
        async with stdio_client(params) as (r, w):
            async with ClientSession(r, w) as session:
                return await run_calls(session, calls)
    if mode == "http":
        import ssl

        try:  # the mcp 2.x SDK is built on httpx2; older ones on httpx
            import httpx2 as httpx
        except ImportError:
            import httpx
        from mcp.client.streamable_http import streamable_http_client

        url, rest = sys.argv[3], sys.argv[4:]
        headers = {}
        for i, arg in enumerate(rest):
            if arg == "--header":
                name, _, value = rest[i + 1].partition(":")
                headers[name.strip()] = value.strip()
        verify = True
        if url.startswith("https://") and os.environ.get("INGEST_TEST_CA"):
            # a CA file for a test certificate (verify=<path> is deprecated in httpx2)
            verify = ssl.create_default_context(cafile=os.environ["INGEST_TEST_CA"])
        async with httpx.AsyncClient(headers=headers, verify=verify, timeout=30) as client:
            async with streamable_http_client(url, http_client=client) as streams:
                r, w = streams[0], streams[1]
                async with ClientSession(r, w) as session:
                    return await run_calls(session, calls)
    raise SystemExit(f"unknown mode {mode!r}")


try:
    results = asyncio.run(main())
except BaseException as e:  # noqa: BLE001 - report why the connection failed, as data
    if isinstance(e, SystemExit):
        raise
    root = e
    while isinstance(root, BaseExceptionGroup) and root.exceptions:
        root = root.exceptions[0]
    json.dump({"connect_error": f"{type(root).__name__}: {root}"}, sys.stdout)
    sys.exit(3)
json.dump(results, sys.stdout, ensure_ascii=False)
