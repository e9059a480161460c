"""The agents' doors onto the fleet; the same catalog and policy serve every door.

- ``client``: call a tool by name, validated before anything is sent;
- ``mcp_server``: the MCP server;
- ``mcp_calls``: what it does with a call;
- ``mcp_lanes``: its bounded threads;
- ``mcp_http``, ``http_events``: its HTTP app, and completion events over HTTP beside it;
- ``follow``: telling a waiting caller each change of a run.
"""
