"""The service's routers."""

from engramdb.server.routes.admin import keys_router, probes_router
from engramdb.server.routes.knowledge import router as knowledge_router
from engramdb.server.routes.mem0 import router as mem0_router
from engramdb.server.routes.memories import router as memories_router

__all__ = ["keys_router", "knowledge_router", "mem0_router", "memories_router", "probes_router"]
