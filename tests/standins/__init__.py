"""Stand-ins for brokers' remote APIs: real servers on loopback, shaped as each broker's
published API, so the adapters are driven through the brokers' own SDKs over real HTTP."""
