@protocol
Feature: MCP protocol
  A real MCP client talks to a real MCP server through mcp-lok.
  The scenarios arrive with the launcher and proxy; this file fixes the feature area's place.
