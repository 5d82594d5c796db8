@transports
Feature: Transports
  A stdio server is bridged to Streamable HTTP (/mcp) and legacy SSE (/sse); an HTTP server
  (SSE or Streamable HTTP) listens inside its own network namespace and is reached through
  its gate. Either way the proxy on 127.0.0.1 guards `Host` and `Origin` and reports the
  server's health, and the server runs locked down.

  Scenario Outline: an HTTP server speaking <transport> answers the SDK client at the proxy's <endpoint> on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/http-test-server" with the "<transport>" transport
    When an SDK client connects to the proxy's <endpoint>
    Then `initialize` answers as "mcp-lok-test-server"
    And `tools/list` lists exactly "echo, add, whoami"
    And `tools/call echo {"text": "through the gate"}` answers "through the gate"
    And `tools/call add {"a": 2, "b": 40}` answers "42"
    And `tools/call whoami {}` reports uid 65534, no effective capability and only the interface lo

    Examples:
      | engine | transport       | endpoint |
      | docker | streamable-http | /mcp     |
      | docker | sse             | /sse     |
      | podman | streamable-http | /mcp     |
      | podman | sse             | /sse     |

  Scenario Outline: the proxy refuses a foreign Origin and a foreign Host, <transport> on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "<image>" with the "<transport>" transport
    When a raw `initialize` is posted to the proxy's /mcp with the Origin "http://evil.example"
    Then the proxy answers it 403
    When a raw `initialize` is posted to the proxy's /mcp with the Host "evil.example" and the proxy's port
    Then the proxy answers it 421
    When a raw `initialize` is posted to the proxy's /mcp with the proxy's own Origin
    Then the proxy answers it 200

    Examples:
      | engine | transport       | image                    |
      | docker | stdio           | mcp-lok/mcp-server-time  |
      | docker | streamable-http | mcp-lok/http-test-server |
      | podman | stdio           | mcp-lok/mcp-server-time  |
      | podman | streamable-http | mcp-lok/http-test-server |

  Scenario Outline: /health turns from 200 to 503 when the engine kills the <transport> server on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "<image>" with the "<transport>" transport
    Then the proxy's /health answers 200
    When the engine kills the server's container
    Then the proxy's /health answers 503 within 30 seconds
    And `mcp-lok list --all` reports it "exited"

    Examples:
      | engine | transport       | image                    |
      | docker | stdio           | mcp-lok/mcp-server-time  |
      | docker | streamable-http | mcp-lok/http-test-server |
      | podman | stdio           | mcp-lok/mcp-server-time  |
      | podman | streamable-http | mcp-lok/http-test-server |

  @permissions
  Scenario Outline: the running stdio server is locked down, checked from inside its container, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "stdio" profile
    When I look around inside its running container through the engine's exec
    Then there no capability is effective, for the exec'd process and for the server
    And there the root filesystem is read-only
    And there neither the exec'd process nor the server runs as root
    And there the only network interface is lo

    Examples:
      | engine |
      | docker |
      | podman |

  @permissions
  Scenario Outline: a fork bomb and a memory hog inside a running server's container hit its limits on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "stdio" profile
    # the server answers first: a bomb that lands while it is still starting leaves it no
    # thread to start, and a server that dies of its own bomb proves nothing about limits
    When an SDK client connects to the proxy's /mcp
    Then `tools/call get_current_time {"timezone": "UTC"}` answers the current time in "UTC"
    When a fork bomb runs inside its container through the engine's exec
    Then forking failed with EAGAIN before 128 processes
    And the host still starts processes, the engine still answers, and so does the container
    When a process inside its container allocates memory in 64 MiB steps up to 1 GiB
    Then it was killed or got a MemoryError, never holding more than 512 MiB
    When an SDK client connects to the proxy's /mcp
    Then `tools/call get_current_time {"timezone": "UTC"}` answers the current time in "UTC"

    Examples:
      | engine |
      | docker |
      | podman |
