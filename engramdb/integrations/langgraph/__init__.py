"""LangGraph long-term memory on engramdb: ``from engramdb.integrations.langgraph import
EngramStore`` (needs ``pip install 'engramdb[langgraph]'``)."""

from engramdb.integrations.langgraph.store import EngramStore

__all__ = ["EngramStore"]
