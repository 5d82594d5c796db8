@protocol
Feature: One shared server routes like a server of each client's own
  mcp-lok's own test server (the official MCP Python SDK, over stdio, with its protocol
  tools) keeps one set of resource subscriptions and one log level, for its one client:
  the proxy. The proxy keeps them per session: a resource update reaches only the sessions
  subscribed to it, a log message only the sessions that asked for its level; the server is
  unsubscribed only when no session wants the resource, and set to the most verbose level
  any session asked for. The test server reports what it was told (`server_state`).

  Scenario Outline: resource updates and log messages reach only the sessions that asked, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the shared test server over stdio with its protocol tools
    When SDK clients "alice" on /mcp and "bob" on /sse connect, each keeping the notifications it gets
    And both subscribe to "test://note", "alice" asks for log level "debug" and "bob" for "error"
    Then the server is subscribed to "test://note" at level "debug"
    And an update of "test://note" reaches alice and bob; an `info` log reaches alice only, an `error` log both
    When "alice" unsubscribes from "test://note"
    Then the server is subscribed to "test://note" at level "debug"
    And an update of "test://note" reaches bob only
    When "alice" disconnects
    Then within 10 seconds the server is subscribed to "test://note" at level "error"
    When "bob" unsubscribes from "test://note"
    Then the server is subscribed to nothing at level "error"

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a server that lists its tools differently to two sessions is named in the log once, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the shared test server over stdio with its protocol tools
    When SDK clients "alice" on /mcp and "bob" on /mcp connect, each keeping the notifications it gets
    And both list the tools
    Then the proxy's log says nothing of a server that behaves per client
    When the server adds a tool without a list change, and both list the tools, twice
    Then the proxy's log says once that the server behaves per client, naming `--session-mode per-session`

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a cancelled request's POST is answered with mcp-lok's own error code, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the shared test server over stdio with its protocol tools
    When a raw client's `sleep 30` is cancelled by its client after 1 second
    Then its POST is answered at once with error -31001, not MCP's -32002 (resource not found)

    Examples:
      | engine |
      | docker |
      | podman |
