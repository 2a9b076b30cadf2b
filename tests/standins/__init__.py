"""Loopback stand-ins for brokers' remote APIs: real HTTP servers on free ports, shaped as
each broker's published API, driven in tests through the broker's real SDK."""
