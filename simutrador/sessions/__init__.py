"""Sessions: their lifecycle (one state table), models, request checks and limits.

`simutrador.sessions.manager.SessionManager` holds the rules (limits, hourly windows,
expiry); where sessions are kept is the `simutrador.storage` layer's business.
"""
