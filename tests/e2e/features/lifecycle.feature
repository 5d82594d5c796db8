@lifecycle
Feature: Server lifecycle
  Starting, listing, stopping, restarting and removing servers (run, start, list, stop,
  restart, rm, logs) on
  real engines: `list` tells the truth, and nothing is left behind, even after a crash.

  Scenario Outline: start, list, stop and rm a server on <engine>
    Given the <engine> engine
    When I start "mcp-lok/mcp-server-time" with the "network" profile
    Then the exit code is 0
    And `mcp-lok list` shows it as "running"
    And its proxy answers on /health
    And the engine runs its container and its network
    When I stop it
    Then `mcp-lok list --all` shows it as "stopped"
    And `mcp-lok list` does not show it
    When I remove it
    Then `mcp-lok list --all` does not show it
    And the engine has no container and no network of it
    And its runtime folder is gone

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: what the engine receives is what `policy compile` prints, on <engine>
    Given the <engine> engine
    And a relay in front of the engine's socket that records every request
    When I start "mcp-lok/mcp-server-time" through the relay
    Then the exit code is 0
    And the body of POST /containers/create is the `policy compile` output's container
    And the engine's inspect of the container agrees with the compiled payload
    When I remove it while it runs
    Then the exit code is 1
    And stderr says "stop it first"
    When I remove it with --force
    Then the engine has no container and no network of it

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: <signal> to a foreground run removes everything on <engine>
    Given the <engine> engine
    When I run "mcp-lok/mcp-server-time" in the foreground with the "network" profile
    Then it prints the client URLs and a client config on stderr
    And its proxy answers on /health
    And `mcp-lok list` shows it as "running"
    When I send it <signal>
    Then it exits with code 0 within 30 seconds
    And the engine has no container and no network of it
    And its runtime folder is gone

    Examples:
      | engine | signal  |
      | docker | SIGINT  |
      | docker | SIGTERM |
      | podman | SIGINT  |
      | podman | SIGTERM |

  Scenario Outline: Ctrl-C while a foreground run is still starting leaves nothing on <engine>
    Given the <engine> engine
    When I run "mcp-lok/mcp-server-time" in the foreground with the "network" profile without waiting
    And I send it SIGINT after <delay> seconds
    Then it exits within 30 seconds
    And the engine has no container and no network of it
    And its runtime folder is gone

    Examples:
      | engine | delay |
      | docker | 0.3   |
      | docker | 0.5   |
      | podman | 0.4   |
      | podman | 0.8   |

  Scenario Outline: Ctrl-C during `mcp-lok start` leaves nothing on <engine>
    Given the <engine> engine
    When I start "mcp-lok/mcp-server-time" with the "network" profile without waiting
    And I send it SIGINT after <delay> seconds
    Then it exits with code 1 within 30 seconds
    And the engine has no container and no network of it
    And its runtime folder is gone

    # `start` takes about 0.6 s here, interpreter included: both delays land mid-start
    Examples:
      | engine | delay |
      | docker | 0.2   |
      | docker | 0.4   |
      | podman | 0.25  |
      | podman | 0.4   |

  Scenario Outline: an HTTP server runs behind its gate, and rm removes both, on <engine>
    Given the <engine> engine
    When I start "mcp-lok/http-test-server" with the "streamable-http" transport
    Then the exit code is 0
    And `mcp-lok list` shows it as "running"
    And its proxy answers on /health
    And the engine runs its server and its gate
    And `mcp-lok logs` shows "streamable-http on 127.0.0.1:8080"
    When I remove it with --force
    Then the engine has no container and no network of it
    And its runtime folder is gone

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a killed proxy is reported, and rm cleans up, on <engine>
    Given the <engine> engine
    When I start "mcp-lok/mcp-server-time" with the "network" profile
    And I kill its proxy with SIGKILL
    Then `mcp-lok list` shows it is no longer served
    When I remove it
    Then the exit code is 0
    And the engine has no container and no network of it
    And its runtime folder is gone

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a stopped server comes back with `restart`, on its port and with its token, on <engine>
    Given the <engine> engine
    When I start "mcp-lok/mcp-server-time" with the "stdio" profile
    Then the exit code is 0
    And stderr holds the client config `run` prints, with its URL and token
    When I stop it
    And I start "mcp-lok/mcp-server-time" again with the same name
    Then the exit code is 1
    And stderr says "bring it back with `mcp-lok restart"
    When I restart it
    Then the exit code is 0
    And it is served again on the same URL with the same token
    And an SDK client sending that token gets the current time through it
    And `mcp-lok inspect` says it was started again 1 time

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a taken name is refused on <engine>
    Given the <engine> engine
    When I start "mcp-lok/mcp-server-time" with the "stdio" profile
    And I start "mcp-lok/mcp-server-time" again with the same name
    Then the exit code is 1
    And stderr says "already exists"
    And `mcp-lok list` shows it as "running"

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a missing image is refused with a hint on <engine>
    Given the <engine> engine
    When I start "mcp-lok/no-such-image" with the "network" profile
    Then the exit code is 1
    And stderr says "pull mcp-lok/no-such-image"
    And the engine has no container and no network of it
    And its runtime folder is gone

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a busy port is refused on <engine>
    Given the <engine> engine
    And a port that is already in use
    When I start "mcp-lok/mcp-server-time" on that port
    Then the exit code is 1
    And stderr says "is busy"
    And the engine has no container and no network of it

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: <count> start/rm cycles leave nothing behind on <engine>
    Given the <engine> engine
    When I start and remove a server <count> times with the "network" profile
    Then every cycle succeeded
    And the engine has no container and no network of any of them
    And no runtime folder of any of them is left

    Examples:
      | engine | count |
      | docker | 50    |
      | podman | 50    |

  Scenario Outline: a server that dies under `run` is told, with its stderr, and leaves nothing, on <engine>
    Given the <engine> engine
    When I run a server that refuses its arguments in the foreground
    Then it ends by itself with code 1 within 60 seconds
    And stderr shows the server's refusal, marked as the server's
    And stderr says "exited with code 2; everything it created is removed"
    And the engine has no container and no network of it
    And its runtime folder is gone

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a `start` whose server dies at once fails with its stderr and leaves nothing, on <engine>
    Given the <engine> engine
    When I start a server that refuses its arguments
    Then the exit code is 1
    And stderr shows the server's refusal, marked as the server's
    And stderr says "exited with code 2 before it served"
    And the engine has no container and no network of it
    And its runtime folder is gone

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a `start` of <server> times out after `--wait`, and leaves nothing, on <engine>
    Given the <engine> engine
    When I start <server> with `--wait <seconds>`
    Then the exit code is 1
    And stderr says "did not serve within <seconds>s"
    And the engine has no container and no network of it
    And its runtime folder is gone

    Examples:
      | engine | server                            | seconds |
      | docker | a stdio server that never answers | 1       |
      | docker | an HTTP server that never answers | 2       |
      | podman | a stdio server that never answers | 1       |
      | podman | an HTTP server that never answers | 2       |

  Scenario Outline: `start --no-wait` returns before the server serves, on <engine>
    Given the <engine> engine
    When I start a stdio server that never answers with `--no-wait`
    Then the exit code is 0
    And it took less than 30 seconds
    And `mcp-lok list` shows it as "running"
    And its proxy's /health says no `initialize` was answered yet

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: `list` shows an exited server's exit code and since when, on <engine>
    Given the <engine> engine
    When I start a server that refuses its arguments with `--no-wait`
    Then the exit code is 0
    And `mcp-lok list` shows it exited with code 2, and since when

    Examples:
      | engine |
      | docker |
      | podman |
