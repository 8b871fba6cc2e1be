"""Settings of ``engram serve`` (the ``server:`` section of a config file, or flags)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1_024, description="largest request body")
    workers: int = Field(4, ge=1, le=64, description="threads running memory operations")
    graceful_timeout_s: float = Field(30.0, gt=0, description="wait for in-flight requests")
    # connection limits (engramdb.server.protocol): a slow or silent client is cut off, and
    # past the cap a new connection is answered 503, so none can hold the service's sockets
    header_timeout_s: float = Field(
        10.0, gt=0, description="from a request's first byte to the end of its headers"
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="from the end of a request's headers to the end of its body"
    )
    idle_timeout_s: int = Field(
        5, ge=1, le=3600, description="a connection with no request in progress is closed"
    )
    max_connections: int = Field(1000, ge=1, description="open connections at once")
    max_header_bytes: int = Field(16_384, ge=1_024, description="request line and headers")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = True
    mcp: bool = Field(True, description="serve MCP (streamable HTTP) at /mcp")
    ui: bool = Field(True, description="serve the web UI at /")
