"""The agents' doors onto the fleet: ``client`` (call a tool by name, validated
before anything is sent), the MCP server (``mcp_server``, with ``mcp_calls``: what
it does with a call, ``mcp_lanes``: its bounded threads, ``mcp_http``: its HTTP app
with ``http_events``) and ``follow`` (telling a waiting caller each change of a run).
The same catalog and policy serve every door."""
