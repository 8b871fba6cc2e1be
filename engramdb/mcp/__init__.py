"""MCP server of engramdb (stdio and streamable HTTP)."""
