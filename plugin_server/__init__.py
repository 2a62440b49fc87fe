"""The Avatar Forcing service: protocol, sessions, real-time engine, sinks, capture, CLI."""
