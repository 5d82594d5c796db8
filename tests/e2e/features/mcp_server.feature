@protocol
Feature: mcp-lok as an MCP server
  An MCP client — the official MCP Python SDK's `stdio_client` — spawns the installed
  `mcp-lok` with no command and manages servers only through its tools: it runs the
  third-party `mcp-server-time`, calls that server through the proxy URL the tool returned,
  audits it (clean, then tampered with behind mcp-lok's back), then stops and removes it.
  Every result says what the profile grants beyond `stdio`.

  Scenario Outline: an MCP client runs mcp-server-time through mcp-lok's tools, calls it, audits it, stops and removes it on <engine>
    Given the <engine> engine
    And an SDK client spawned `mcp-lok` with no command, over stdio
    Then mcp-lok answers `initialize` as "mcp-lok" and lists exactly the tools "audit_servers, explain_policy, list_servers, remove_server, run_server, server_logs, stop_server"
    When the client calls `run_server` for "mcp-lok/mcp-server-time:latest" under the "stdio" profile
    Then its result states nothing beyond the built-in `stdio` profile
    And `list_servers` shows it "running" at the URL `run_server` returned
    When an SDK client connects to the proxy's /mcp
    Then `initialize` answers as "mcp-time"
    And `tools/call get_current_time {"timezone": "Europe/Paris"}` answers the current time in "Europe/Paris"
    And `server_logs` answers with at most 20 lines of its proxy's log
    When the client calls `audit_servers` for it
    Then the audit answers that it matches its plan, scored as `run_server` stated
    When the engine updates its container's memory limit to 256 MiB behind mcp-lok's back
    And the client calls `audit_servers` for it
    Then the audit answers, as a result and not an error, that "HostConfig.Memory" drifted from 536870912 to 268435456
    When the client calls `stop_server` for it
    Then `list_servers` shows it "stopped" at no URL
    When the client calls `remove_server` for it
    Then `list_servers` no longer shows it
    And the engine holds no container labelled with its name

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: an inline profile's grant is stated, kept next to the server, and removed with it on <engine>
    Given the <engine> engine
    And an SDK client spawned `mcp-lok` with no command, over stdio
    When the client calls `run_server` for "mcp-lok/mcp-server-time:latest" under the inline profile {"read": ["/etc/debian_version"]}
    Then its result states it grants "`/etc/debian_version` is readable from the container" beyond the built-in `stdio` profile
    And `list_servers` names the inline profile's file, which holds that profile
    When the client calls `remove_server` for it with `force`
    Then `list_servers` no longer shows it
    And the inline profile's file is gone

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a dry run states an open network's grant and starts nothing on <engine>
    Given the <engine> engine
    And an SDK client spawned `mcp-lok` with no command, over stdio
    When the client calls `run_server` for "mcp-lok/mcp-server-time:latest" under the "network" profile as a dry run
    Then its result states it grants "unrestricted egress to any host and port" beyond the built-in `stdio` profile
    And `list_servers` no longer shows it

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: bad arguments are tool errors, and mcp-lok keeps serving on <engine>
    Given the <engine> engine
    And an SDK client spawned `mcp-lok` with no command, over stdio
    When the client calls these tools:
      | tool           | arguments                                                                   | error says                   |
      | run_server     | {"image": "mcp-lok/mcp-server-time:latest", "transport": "ftp"}             | transport                    |
      | run_server     | {"image": "mcp-lok/mcp-server-time:latest", "env": ["NOVALUE"]}             | `NOVALUE` is not KEY=VALUE   |
      | run_server     | {"image": "mcp-lok/mcp-server-time:latest", "name": "seccomp"}              | reserved for mcp-lok         |
      | run_server     | {"image": "mcp-lok/mcp-server-time:latest", "name": "-bad"}                 | not a valid server name      |
      | run_server     | {"image": "mcp-lok/no-such-image:latest"}                                   | is not on                    |
      | run_server     | {"image": "mcp-lok/mcp-server-time:latest", "profile": "/nonexistent.json"} | does not exist               |
      | explain_policy | {"profile": "/etc/shadow"}                                                  | neither a built-in           |
      | run_server     | {"image": "mcp-lok/mcp-server-time:latest", "profile": "stdio", "profile_json": {}} | not both             |
      | run_server     | {"image": "mcp-lok/mcp-server-time:latest", "profile_json": {"privileged": true}} | policy.insecure-required |
      | stop_server    | {"name": "../etc"}                                                          | not a valid server name      |
      | remove_server  | {"name": "e2e-never-started"}                                               | no server named              |
      | server_logs    | {"name": "e2e-never-started", "lines": 0}                                   | lines                        |
      | explain_policy | {"profile_json": {"network": {"outbound": {"allow_port": [0]}}}}            | policy.network-incomplete    |
      | audit_servers  | {}                                                                          | name the servers to audit    |
      | audit_servers  | {"names": ["e2e-never-started"]}                                            | no server named              |
      | audit_servers  | {"names": ["../etc"]}                                                       | not a valid server name      |
      | audit_servers  | {"all": true, "threshold": 11}                                              | threshold                    |
      | no_such_tool   | {}                                                                          | no_such_tool                 |
    Then each answered with `isError` and its error text
    And mcp-lok still answers `list_servers`

    Examples:
      | engine |
      | docker |
      | podman |
