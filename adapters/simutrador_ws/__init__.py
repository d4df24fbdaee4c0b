"""The SimuTrador WebSocket adapter: a trio-websocket server with JWT auth, its sans-I/O protocol, and the client SDK.

Modules: `envelope` (the wire format, both ways), `routes` (the dispatch table),
`connection` (one client's protocol state, sans I/O), `server` (sockets, handshake,
timers), `client` (the SDK), `auth`, `ratelimit`, `metrics`, `settings`.
"""
