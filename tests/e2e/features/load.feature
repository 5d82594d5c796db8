@transports
Feature: The proxy under load
  Bounded and on loopback only: many connections at once and a flood of malformed requests
  do not stop the proxy serving well-formed clients, do not grow its memory without bound,
  and never send an answer to the wrong client. Nothing here is timed.

  Scenario Outline: 500 concurrent connections and 1,000 malformed requests on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the test server over stdio with its protocol tools
    When 500 connections each send a stateless `echo` of their own text at once, while 1,000 malformed requests arrive and 16 SDK sessions call `echo` 10 times each (100 more connections stalled)
    Then every connection and every SDK session got exactly its own texts back
    And every malformed request was refused with a 4xx and a JSON-RPC error
    And the proxy's memory grew by less than 64 MiB and its /health answers 200 with no session left

    Examples:
      | engine |
      | docker |
      | podman |
