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

  Scenario: version answers
    When I run `mcp-lok version`
    Then the exit code is 0
    And stdout starts with "mcp-lok "

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
