@cli
Feature: audit running servers against their plan and the benchmarks
  `mcp-lok audit` reads each server's containers back from the engine and compares them
  with the plan they were launched from, field by field, naming the rule behind each
  expected value; it checks every container carrying mcp-lok's labels against CIS Docker
  Benchmark section 5 and Pod Security's restricted profile, and scores the exposure the
  way `policy explain` does. Tampering is done on the real engine, behind mcp-lok's back.

  Scenario Outline: untampered servers audit clean and score what explain printed, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "stdio" profile
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "network" profile
    And `mcp-lok start` runs "mcp-lok/http-test-server" with the "streamable-http" transport
    When I audit the servers I started
    Then the exit code is 0
    And no server drifted and every benchmark check of theirs passes or warns
    And each server's exposure score is the one `mcp-lok policy explain` prints for it
    When I audit the servers I started with `--threshold 3`
    Then the exit code is 3
    And the audit names the "network" server as above the threshold

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a memory limit changed with `update` is drift, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "stdio" profile
    When the engine updates the server's memory limit to 256 MiB
    And I audit the servers I started
    Then the exit code is 3
    And the audit reports drift of "HostConfig.Memory" from 536870912 to 268435456 set by "default (baseline)"

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: the gate is audited too: its memory limit changed is drift, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/http-test-server" with the "streamable-http" transport
    When the engine updates the gate's memory limit to 32 MiB
    And I audit the servers I started
    Then the exit code is 3
    And the audit reports drift of the gate's "HostConfig.Memory" from 67108864 to 33554432

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a server moved to another network is drift, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "network" profile
    When the server is disconnected from its network and connected to the engine's default one
    And I audit the servers I started
    Then the exit code is 3
    And the audit reports drift of "Networks" set by "default (network)"
    And the check "CIS 5.30" fails

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a container recreated under the same name with a capability is caught, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "stdio" profile
    When the server's container is recreated under its name with `SYS_ADMIN` added
    And I audit the servers I started
    Then the exit code is 3
    And the audit notes that the server container was replaced
    And the audit reports drift of "HostConfig.Capabilities[SYS_ADMIN]" set by "default (baseline)"
    And the check "PSS restricted/capabilities" fails
    And the check "CIS 5.4" fails

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a container started by hand with mcp-lok's labels is reported, on <engine>
    Given the <engine> engine
    When a container is started by hand with mcp-lok's labels
    And I audit it by its label's name
    Then the exit code is 3
    And the audit says mcp-lok did not create it
    And the checks "CIS 5.4, CIS 5.11, CIS 5.13, CIS 5.26" fail
    And its exposure score is above the stdio built-in's

    Examples:
      | engine |
      | docker |
      | podman |
