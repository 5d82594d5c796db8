@protocol
Feature: Clients that never end their sessions lock no one out
  Clients that never send DELETE (the conformance suite's client, the Inspector CLI) leave
  their sessions open. At `--max-sessions` the least recently used idle session is closed
  for a new client (its own next request gets 404); a new client is refused, with
  `Retry-After`, only while every session is busy, and `/health` and `mcp-lok list` then
  say `degraded`. With a server per session, no session's container outlives its session.

  Scenario Outline: at --max-sessions 2 a third client is served and the first gets 404, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the test server over stdio with "--max-sessions 2"
    When 3 raw clients each open a session and call `echo`, one after another, none sending DELETE
    Then all 3 were answered, and the first client's next request gets 404
    When the 2 open sessions each wait on a `sleep 8`
    Then a new client is refused with 503 and a Retry-After
    And the proxy's /health answers 200 "degraded", and `mcp-lok list` shows the reason
    When the sleeps are over
    Then a new client is served

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a server per session leaves no container behind clients that never DELETE, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the test server over stdio with "--session-mode per-session --max-sessions 2 --session-idle-timeout 8"
    When 3 raw clients each open a session and call `echo`, one after another, none sending DELETE
    Then all 3 were answered, and the first client's next request gets 404
    And the engine holds 2 session containers for the server
    And the engine holds no session container for the server within 30 seconds
    When 2 raw clients each open a session and call `echo`, one after another, none sending DELETE
    And `mcp-lok stop` stops the server
    Then the engine holds no session container for the server within 5 seconds

    Examples:
      | engine |
      | docker |
      | podman |
