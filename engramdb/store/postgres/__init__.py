"""The PostgreSQL + pgvector backend (``postgresql://`` stores); needs the ``postgres`` extra."""
