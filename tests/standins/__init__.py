"""Loopback stand-ins for brokers' remote APIs: real servers on free ports, shaped as each
broker's published API, so the adapters are driven through the brokers' own SDKs over real
HTTP (and websockets)."""
