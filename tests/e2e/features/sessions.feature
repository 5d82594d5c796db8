@protocol
Feature: Many client sessions on one stdio server
  mcp-lok's own test server (the official MCP Python SDK, over stdio, with its protocol
  tools) is shared by several SDK client sessions through the proxy. Progress and
  cancellations reach the session they belong to; what the server asks (sampling,
  elicitation, roots) reaches a session that declared it can answer, the busy one when
  only one is busy; what the proxy does not know passes through.

  Scenario Outline: server requests, progress and cancellation reach the right session on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the test server over stdio with its protocol tools
    When SDK clients "alice" on /mcp and "bob" on /sse connect, each answering the server's requests as itself
    Then one client at a time, `ask_llm`, `ask_user` and `roots` answer each client with its own name, 3 times each
    And at once, every `ask_llm`, `ask_user` and `roots` call of both clients is answered by one of them, 3 times each
    And `count 5` reports exactly its own 5 progress steps to each client
    When "alice" gives up on a `sleep 30` after 1 second
    Then the server counted 1 cancelled sleep, and both clients carry on
    And a method no one knows reaches the server, and its error comes back with the client's id
    When "carol" connects on /mcp answering none of the server's requests
    Then carol's `roots` and `ask_llm` are answered by alice or bob, never refused

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a client that drops and reconnects on <endpoint> carries on, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the test server over stdio with its protocol tools
    When SDK clients "alice" on /mcp and "bob" on <endpoint> connect, each answering the server's requests as itself
    And "bob" drops its connection and connects again on <endpoint>
    Then one client at a time, `ask_llm`, `ask_user` and `roots` answer each client with its own name, 3 times each

    Examples:
      | engine | endpoint |
      | docker | /mcp     |
      | docker | /sse     |
      | podman | /mcp     |
      | podman | /sse     |

  # the first message a stdio server gets picks its protocol era for good (the SDK refuses
  # the other era after it), and `start` waits with an `initialize`, the handshake era:
  # `--no-wait` leaves the choice to the first client, here a 2026-07-28 one
  Scenario Outline: a 2026-07-28 client without handshake or session is served on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the test server over stdio with its protocol tools and "--no-wait"
    Then a raw `server/discover` without a session is answered by the server with "2026-07-28"
    And a raw stateless `tools/call echo` is answered "stateless" with no session named

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a server that dies is reported to the client waiting on it at once, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the test server over stdio with its protocol tools
    When SDK clients "alice" on /mcp and "bob" on /sse connect, each answering the server's requests as itself
    And both clients wait on a `sleep 30` and the engine kills the server's container
    Then both clients get an error naming the stopped server within 10 seconds
    And the proxy's /health answers 503 with the reason

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: hostile requests are refused and the proxy keeps serving, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the test server over stdio, which requires a token by default
    Then raw requests to /mcp are answered:
      | request                                  | status |
      | initialize without a token               | 401    |
      | initialize with a wrong token            | 401    |
      | initialize with the token, foreign Host  | 421    |
      | initialize with the token, foreign Origin | 403   |
      | a 5 MiB body with the token              | 413    |
      | malformed JSON with the token            | 400    |
      | an unknown MCP-Protocol-Version          | 400    |
    And an SDK client with the token on /mcp gets `echo` answered
    And an SDK client with the token on /sse gets `echo` answered

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: --restart on-failure:1 starts a killed server again and the sessions carry on, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the test server over stdio with its protocol tools and "--restart on-failure:1"
    When SDK clients "alice" on /mcp and "bob" on /sse connect, each answering the server's requests as itself
    And the engine kills the server's container
    Then the proxy's /health answers 200 again within 30 seconds
    And one client at a time, `ask_llm`, `ask_user` and `roots` answer each client with its own name, 1 times each
    When the engine kills the server's container
    Then the proxy's /health answers 503 within 30 seconds, the restart spent

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: --session-mode per-session gives each client a server of its own, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the test server over stdio with its protocol tools and "--session-mode per-session"
    When SDK clients "alice" on /mcp and "bob" on /sse connect, each answering the server's requests as itself
    Then the engine runs 2 containers for the server, and `whoami` names a different one to each client
    And `mcp-lok list` reports it "running" with its URL
    And at once, `ask_llm`, `ask_user` and `roots` answer each client with its own name, 3 times each
    When "bob" disconnects
    Then the engine runs 1 container for the server within 15 seconds, "alice" carries on

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a GET stream resumed with Last-Event-ID gets again what it missed, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the test server over stdio with its protocol tools
    When a raw client's `count 3` sends its progress down the session's GET stream
    And the client reconnects the stream with the Last-Event-ID of the first progress event
    Then the resumed stream carries the 2nd and 3rd progress events again, with the same ids

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: the 1.x SDK client works through <endpoint> on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the test server over stdio with its protocol tools
    When the official 1.x SDK client calls `echo` and `ask_llm` through the proxy's <endpoint>
    Then it was served by "mcp-lok-test-server", and its own sampling answered `ask_llm`

    Examples:
      | engine | endpoint |
      | docker | /mcp     |
      | docker | /sse     |
      | podman | /mcp     |
      | podman | /sse     |
