@transports
Feature: A client that opens its GET stream late loses nothing
  A Streamable HTTP server may send requests and notifications on the standalone GET stream
  as soon as a session is initialized; a client that opens that stream a moment later would
  never see them. In forwarding mode the proxy opens the stream itself before it passes the
  client's `notifications/initialized` on, holds what the server sends there, and hands it
  to the client's own GET, in order and once.

  Scenario Outline: a roots/list sent as each session is initialized reaches 10 clients that open their GET stream late, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the test server over Streamable HTTP, asking each client for its roots as it initializes
    When 10 SDK clients connect to the proxy's /mcp one after another, each opening its GET stream a second late
    Then each client was asked for its roots once, and the server got each one's answer

    Examples:
      | engine |
      | docker |
      | podman |
