"""Adapters that let agent frameworks keep their memory in engramdb.

Each adapter lives in its own module and imports its framework only there, so
``import engramdb`` never needs a framework installed:

* ``engramdb.integrations.langgraph``: ``EngramStore``, a LangGraph ``BaseStore``
  (``pip install 'engramdb[langgraph]'``).
* ``engramdb.integrations.openai_agents``: ``EngramSession`` (the Agents SDK ``Session``
  protocol) and the ``recall`` tool (``pip install 'engramdb[openai-agents]'``).
"""
