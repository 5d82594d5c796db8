@protocol
Feature: MCP protocol
  The official MCP Python SDK client talks to a real third-party MCP server,
  `mcp-server-time` from PyPI, started by `mcp-lok start` under the `stdio` profile and
  reached only through mcp-lok's proxy: Streamable HTTP at /mcp, legacy SSE at /sse.

  Scenario Outline: mcp-server-time answers initialize, tools/list and tools/call through <endpoint> on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "stdio" profile
    When an SDK client connects to the proxy's <endpoint>
    Then `initialize` answers as "mcp-time"
    And `tools/list` lists exactly "get_current_time, convert_time"
    And `tools/call get_current_time {"timezone": "Europe/Paris"}` answers the current time in "Europe/Paris"

    Examples:
      | engine | endpoint |
      | docker | /mcp     |
      | docker | /sse     |
      | podman | /mcp     |
      | podman | /sse     |

  Scenario Outline: concurrent SDK sessions on one server each get their own answers on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "stdio" profile
    When these SDK clients connect and ask for the time at once, 8 times each:
      | client | endpoint | timezone         |
      | tokyo  | /mcp     | Asia/Tokyo       |
      | nyc    | /mcp     | America/New_York |
      | sydney | /sse     | Australia/Sydney |
    Then every client got 8 answers, each the current time in its own timezone

    Examples:
      | engine |
      | docker |
      | podman |
