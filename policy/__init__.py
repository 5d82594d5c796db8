"""mcp-lok's policy compiler (filled in below)."""
