@permissions
Feature: Permission profiles and isolation
  A policy compiles into the exact payloads the engine receives, and the container the
  engine creates from them is locked down for real.

  @policy
  Scenario Outline: the stdio built-in locks the server down on <engine>
    Given the <engine> engine
    And the policy source "stdio"
    When I compile it with `mcp-lok policy compile` for the probe image
    And the engine creates and runs the container from the printed payload unchanged
    Then the engine's inspect agrees with every hardened field of the payload
    And inside the container the user is 65534
    And inside the container no capability is effective
    And inside the container the root filesystem is read-only
    And inside the container every writable scratch space is noexec and nosuid
    And inside the container the only network interface is lo
    And inside the container no_new_privs is set and seccomp filters system calls
    And inside the container a new user namespace is refused

    Examples:
      | engine |
      | docker |
      | podman |

  @policy
  Scenario Outline: mounts, masks and limits from a policy file take effect on <engine>
    Given the <engine> engine
    And a host folder "shared" holding "hello.txt"
    And a host folder "out"
    And a policy file:
      """
      # test policy
      read {shared} as /data
      write {out} as /out
      deny path /data/hidden
      limit memory 64M
      limit pids 32
      """
    When I compile it with `mcp-lok policy compile` for the probe image
    And the engine creates and runs the container from the printed payload unchanged
    Then the engine's inspect agrees with every hardened field of the payload
    And inside the container "/data/hello.txt" is readable
    And inside the container "/data" is not writable
    And inside the container "/out" is writable
    And inside the container "/data/hidden" is empty
    And inside the container the memory limit is 64 MiB
    And inside the container the pids limit is 32

    Examples:
      | engine |
      | docker |
      | podman |

  @policy
  Scenario: a dangerous policy is refused before anything runs
    Given a policy file:
      """
      read /var/run/docker.sock
      network open
      """
    When I run `mcp-lok policy validate` on it
    Then the exit code is 3
    And stderr names the diagnostic "policy.insecure-required" twice

  @policy
  Scenario: every problem of a policy is reported in one pass
    Given a policy file:
      """
      read data
      wirte /out
      extends "missing.lok"
      allow https://api.example.com, api.example.com:443, *.com port 443
      read "~/notes"
      privileged
      """
    When I run `mcp-lok policy validate` on it
    Then the exit code is 3
    And stderr reports these errors, in this order:
      | line | code                     | help                                                 |
      | 1    | parse.unexpected-token   |                                                      |
      | 2    | parse.unknown-keyword    | did you mean `write`?                                |
      | 3    | policy.extends-not-found |                                                      |
      | 4    | policy.malformed-host    | drop the scheme `https://`                           |
      | 4    | policy.malformed-host    | the port `443` goes after `port`                     |
      | 4    | policy.malformed-host    | a wildcard needs a domain below the top level        |
      | 5    | policy.relative-path     | `~` is not expanded                                  |
      | 6    | policy.insecure-required |                                                      |
