"""Where sessions are kept: the `SessionStore` seam and its implementations.

`simutrador.storage.memory.MemoryStore` (the embedded default) keeps everything in
dictionaries; `simutrador.storage.sqlite.SqliteStore` keeps them in a SQLite file
that survives restarts (schema and migrations in `simutrador.storage.schema`). Both
also keep API keys, hashed (`ApiKeyStore`), and the command journal of simulations
run over the wire (`JournalStore`, committed by a `JournalWriter` thread). A public
module: adapters import these from here.
Stores hold; they decide nothing (limits, expiry and states are
`simutrador.sessions`' rules).
"""

from simutrador.storage.apikeys import ApiKey as ApiKey
from simutrador.storage.base import ApiKeyStore as ApiKeyStore
from simutrador.storage.base import SessionStore as SessionStore
from simutrador.storage.journal import JournalEntry as JournalEntry
from simutrador.storage.journal import JournalStore as JournalStore
from simutrador.storage.journal import JournalWriter as JournalWriter
from simutrador.storage.memory import MemoryStore as MemoryStore
from simutrador.storage.schema import SYNCHRONOUS_MODES as SYNCHRONOUS_MODES
from simutrador.storage.sqlite import SqliteStore as SqliteStore

__all__ = [
    "ApiKey",
    "ApiKeyStore",
    "JournalEntry",
    "JournalStore",
    "JournalWriter",
    "MemoryStore",
    "SYNCHRONOUS_MODES",
    "SessionStore",
    "SqliteStore",
]
