@protocol
Feature: The official MCP conformance suite passes through the proxy, run after run
  The server scenarios of `@modelcontextprotocol/conformance` (the suite's own list, pinned
  and installed under build/ with the Node it needs) run against mcp-lok's proxy in front
  of mcp-lok's conformance server (the official MCP Python SDK), again and again: in shared
  mode (every client on one stdio server), with a server per session, and forwarding to a
  server that speaks Streamable HTTP itself. Every scenario passes in every run, by the
  suite's own verdict; the suite's clients never end their sessions, so no run may lock
  the next one out, and no session's container may outlive its session.

  Scenario Outline: every scenario passes <runs> times in a row in <mode> mode, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the conformance server in <mode> mode, without a token
    When the conformance suite runs all its server scenarios against the proxy <runs> times
    Then every scenario of the suite passed in every run

    Examples:
      | engine | mode       | runs |
      | docker | shared     | 5    |
      | docker | forwarding | 5    |
      | podman | shared     | 5    |
      | podman | forwarding | 5    |

  Scenario Outline: with a server per session, every scenario passes <runs> times and no container stays, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the conformance server in per-session mode, without a token
    When the conformance suite runs all its server scenarios against the proxy <runs> times
    Then every scenario of the suite passed in every run
    And the engine holds no session container for the server within 30 seconds

    # every session is a container whose server first imports the SDK (about 2 s of CPU),
    # 32 a run; at most 4 sessions at once, idle sessions evicted from the 5th on
    Examples:
      | engine | runs |
      | docker | 5    |
      | podman | 5    |
