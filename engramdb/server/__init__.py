"""engramdb as a service: REST API with tenants and keys, MCP over HTTP, and the web UI."""

from engramdb.server.app import create_app
from engramdb.server.keys import KeyStore, open_key_store
from engramdb.server.settings import ServerSettings

__all__ = ["KeyStore", "ServerSettings", "create_app", "open_key_store"]
