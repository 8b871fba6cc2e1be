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
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = True
    mcp: bool = Field(True, description="serve MCP (streamable HTTP) at /mcp")
    ui: bool = Field(True, description="serve the web UI at /")
