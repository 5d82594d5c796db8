"""The one place mcp-lok's version is written down (read by packaging and `mcp-lok version`)."""

__version__ = "0.1.0"
