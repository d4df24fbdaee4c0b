"""The simulation that runs in a session: orders, fills, the account, metrics (DESIGN §4).

`simutrador.simulation.simulator.Simulator` is the sans-I/O state machine;
`simutrador.simulation.runner` drives it for embedders (strategies, the step handle).
"""
