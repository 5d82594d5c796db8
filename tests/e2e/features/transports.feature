@transports
Feature: Transports
  stdio bridged to Streamable HTTP and SSE, and HTTP servers reached through the gate.
  The scenarios arrive with the proxy; this file fixes the feature area's place.
