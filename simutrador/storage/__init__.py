"""Where sessions are kept: the `SessionStore` seam and its implementations.

`simutrador.storage.memory.MemoryStore` (the embedded default) keeps everything in
dictionaries; a durable SQLite store follows the same protocol. Stores hold; they
decide nothing (limits, expiry and states are `simutrador.sessions`' rules).
"""

from simutrador.storage.base import SessionStore as SessionStore
from simutrador.storage.memory import MemoryStore as MemoryStore

__all__ = ["MemoryStore", "SessionStore"]
