@permissions
Feature: What runs is exactly what was compiled
  For servers launched with `mcp-lok start`, the plan they were launched from (the launch
  record, which is what `mcp-lok policy compile` prints for the same arguments) is compared
  with what the engine reports and with what the containers hold inside: inspect field by
  field, the mount table of the server and of its gate read from the host
  (`/proc/<pid>/mountinfo`), and the files mcp-lok puts where the engine would write its own.
  Nothing runs that the plan does not name, and nothing it names is missing.

  Scenario Outline: a server under the "<profile>" built-in runs exactly its plan, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "<profile>" profile
    Then the launch record is what `mcp-lok policy compile` prints for the same arguments
    And inspect reports every field the plan sets, for the server and its gate
    And the mount tables of the server and its gate hold exactly the plan's mounts
    And `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` and `/run/.containerenv` inside hold the plan's files
    And nothing of the host's names or nameservers is inside unless the plan names the engine's resolver

    Examples:
      | engine | profile |
      | docker | stdio   |
      | docker | network |
      | podman | stdio   |
      | podman | network |

  Scenario Outline: a server under an allow-list and its gate run exactly their plan, on <engine>
    Given the <engine> engine
    And a policy file:
      """
      allow example.com port 443
      """
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under that policy file
    Then the launch record is what `mcp-lok policy compile` prints for the same arguments
    And inspect reports every field the plan sets, for the server and its gate
    And the mount tables of the server and its gate hold exactly the plan's mounts
    And `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` and `/run/.containerenv` inside hold the plan's files
    And nothing of the host's names or nameservers is inside unless the plan names the engine's resolver

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: an HTTP server and its gate run exactly their plan, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/http-test-server" with the "streamable-http" transport
    Then the launch record is what `mcp-lok policy compile` prints for the same arguments
    And inspect reports every field the plan sets, for the server and its gate
    And the mount tables of the server and its gate hold exactly the plan's mounts
    And `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` and `/run/.containerenv` inside hold the plan's files
    And nothing of the host's names or nameservers is inside unless the plan names the engine's resolver

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: audit reports a mount the plan does not name and a file that is not the plan's, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "stdio" profile
    When a tmpfs is mounted on the server's `/mnt` behind mcp-lok's back
    And the server's `/etc/hostname` is bound over its `/etc/hosts` behind mcp-lok's back
    And I audit that server
    Then the exit code is 3
    And the audit reports the server's "mountinfo[/mnt]" as a mount the plan does not name
    And the audit reports the server's "file[/etc/hosts]" as not the plan's content

    Examples:
      | engine |
      | docker |
      | podman |
