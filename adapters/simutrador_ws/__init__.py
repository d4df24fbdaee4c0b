"""The SimuTrador WebSocket adapter: a trio-websocket server with JWT auth, and its protocol."""
