@cli
Feature: CLI commands
  The command line a user and a CI job rely on: exact output, stable exit codes.

  Scenario: compile prints the same bytes every time
    When I run `mcp-lok policy compile stdio --image mcp-lok/mcp-server-time` twice
    Then both outputs are byte-identical
    And the output is a plan with a container, networks and a gate

  Scenario: explain fails a CI gate when the exposure is above the threshold
    When I run `mcp-lok policy explain network --threshold 2`
    Then the exit code is 3

  Scenario: explain passes a CI gate for the stdio built-in
    When I run `mcp-lok policy explain stdio --threshold 5`
    Then the exit code is 0

  Scenario Outline: a failure ends with its class's exit code and says what was wrong, on <engine>
    Given the <engine> engine
    When I run `mcp-lok <command>` from the repository
    Then the exit code is <code>
    And stderr says "<says>"

    # README's table: 1 an operational failure, 2 usage, 3 policy rejected
    Examples:
      | engine | command                                                                                                | code | says                                 |
      | docker | run --engine docker --restart always mcp-lok/mcp-server-time                                           | 2    | unknown restart policy `always`      |
      | podman | start --engine podman --name Bad! mcp-lok/mcp-server-time                                              | 2    | `Bad!` is not a valid server name    |
      | docker | audit --engine docker --all e2e-never-started                                                          | 2    | `--all` audits every server          |
      | podman | version --engine bogus                                                                                 | 2    | `bogus` is not an engine             |
      | docker | policy validate nosuch                                                                                 | 2    | `nosuch` is neither                  |
      | docker | run --engine docker mcp-lok/no-such-image:latest                                                       | 1    | `mcp-lok/no-such-image:latest` is not on docker |
      | podman | start --engine podman mcp-lok/no-such-image:latest                                                     | 1    | `mcp-lok/no-such-image:latest` is not on podman |
      | podman | stop e2e-never-started                                                                                 | 1    | no server named `e2e-never-started`  |
      | docker | audit --engine docker e2e-never-started                                                                | 1    | no server named `e2e-never-started` on docker |
      | podman | run --engine podman --permission-profile tests/cases/diagnostics/privileged.json mcp-lok/mcp-server-time | 3 | 1 error: policy rejected             |
      | docker | start --engine docker --permission-profile tests/cases/diagnostics/privileged.json mcp-lok/mcp-server-time | 3 | policy.insecure-required           |

  Scenario Outline: inspect and logs tell one server's story, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "stdio" profile
    When an SDK client connects to the proxy's /mcp
    Then `mcp-lok inspect` names its URL, engine, container, policy and plan, but no token
    And `mcp-lok inspect --show-token` prints the token `start` printed
    And `mcp-lok logs` shows the session opened, each line once
    And requests are shown only by `mcp-lok -v logs`
    And `mcp-lok logs --tail 1` prints the last line only
    And `mcp-lok logs --since 1h` prints every line, and with a time to come none
    And `mcp-lok logs --follow` prints a session opened meanwhile, and ends when the server is removed

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario: version answers
    When I run `mcp-lok version`
    Then the exit code is 0
    And stdout starts with "mcp-lok "

  Scenario: version reports each engine found, and fails for a named one that does not answer
    Given the docker engine
    And the podman engine
    When I run `mcp-lok version`
    Then the exit code is 0
    And stdout names docker and podman, each with its version and socket
    When I run `mcp-lok version --engine unix:///nonexistent/engine.sock`
    Then the exit code is 1
    And stdout starts with "mcp-lok "
    And stderr says "the engine `unix:///nonexistent/engine.sock` does not answer"
    And stderr says "= hint: "
    When I run `mcp-lok version --format json` with MCP_LOK_ENGINE=podman
    Then the exit code is 0
    And the JSON names podman only

  Scenario: one view of every server: each is found on the engine it was started on
    Given the docker engine
    And the podman engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" on docker and on podman
    Then `mcp-lok list` shows both servers at once, each on its engine
    And `mcp-lok audit` of the podman server without `--engine` audits it on podman
    And `mcp-lok audit --all` audits both servers, each on its engine
    And `mcp-lok audit --engine docker` of the podman server exits 2 saying where it was started
    And `mcp-lok rm --engine docker` of the podman server exits 2 and removes nothing
    When I stop and remove the podman server with `mcp-lok stop` and `mcp-lok rm`, without `--engine`
    Then podman holds none of its containers
    And `mcp-lok list --all` shows the docker server only

  @packaging
  Scenario: a wheel built from the repository installs and runs in a fresh virtualenv
    Given a wheel built from the repository
    When I install it into a fresh virtualenv
    Then `mcp-lok version` there prints the project's version
    And `mcp-lok policy compile` there compiles a policy file without Lark installed
    And `mcp-lok` there, spawned by an SDK client over stdio, lists its tools

  Scenario: the README's demo prints a real tool result from the locked-down server
    Given the docker engine
    When I run the demo
    Then it prints the current time in Europe/Paris, answered through the proxy
    And it leaves no server behind

  Scenario Outline: client set-up points Claude Code at a server, and rm takes it out again, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "stdio" profile
    And a home folder where Claude Code keeps another server and settings of its own
    When I point Claude Code at it with `mcp-lok client setup NAME --client claude-code`
    Then Claude Code's file holds its entry, and everything it held before
    And an SDK client that reads the URL and token from Claude Code's file connects through the proxy
    And `tools/call get_current_time {"timezone": "Europe/Paris"}` answers the current time in "Europe/Paris"
    And `mcp-lok client list` says Claude Code's entry points at it
    When I remove it with `mcp-lok rm --force NAME`
    Then Claude Code's file holds everything it held before, and nothing else
    And `mcp-lok client list` shows no entry

    Examples:
      | engine |
      | docker |
      | podman |
