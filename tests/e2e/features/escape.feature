@permissions
Feature: Escape matrix: a server stays inside its policy
  A real attacker program runs as the server inside a container `mcp-lok start` launched,
  and tries every way out. Allowed destinations are stood in for by a test service in a
  container the test created; its name resolves only through the test harness's resolver
  override on the host (never through a policy), and its private address is named in the
  policy, because mcp-lok refuses private addresses that no rule names.

  Scenario Outline: under the seed's example profile only the allowed destinations are reachable on <engine>
    Given the <engine> engine
    And a test service container standing in for "google.com", "tcponly.test" and the host's gateway as "rebind.test"
    And a service listening on every address of the host
    And another mcp-lok server serving on the host
    And a host folder "shared" holding "hello.txt"
    And a host folder "out"
    And a host file "secret/secret.txt" that no rule lets the server read
    And the seed's example network profile, extended by:
      """
      read {shared} as /data
      write {out} as /out
      allow {service} port 80, 443 over tcp, udp
      allow tcponly.test, {service} port 7000
      allow rebind.test port 80
      allow *.wild.test port 443
      limit memory 64M
      limit pids 48
      """
    When `mcp-lok start` runs the attacker under it
    Then the attacker's report arrives within 120 seconds
    # the allowed paths work
    And the allowed name resolves to a loopback address of its own
    And the allowed destination answers through the proxy, plainly and with CONNECT
    And the allowed destination answers over plain TCP with no proxy variables
    And the allowed destination answers a non-HTTP protocol
    And the allowed destination answers over UDP, which its rule allows
    And `localhost` is the namespace's own loopback
    And names under an allowed wildcard get addresses of their own on first lookup, and work
    # every escape fails
    And an arbitrary name does not resolve, through the resolver or asked directly
    And no DNS server outside is reachable
    And a host no rule allows is refused by the proxy and unreachable by address
    And the allowed host on a port no rule allows is refused, directly and by proxy
    And UDP to a destination whose rule allows only TCP gets no answer
    And an allowed name the host resolves to its own gateway is refused (no DNS rebinding)
    And the host's service is unreachable through every host address and bridge gateway
    And 169.254.169.254 is unreachable, directly and by proxy
    And the other mcp-lok server is unreachable
    And no Unix socket of the gate or of the host can be connected to
    And no IPv6 route leads anywhere but loopback
    And the root filesystem, the read-only mount and every path outside the write list refuse writes
    And the host file outside `read` cannot be read
    And setuid binaries run without privileges
    And ptrace, mount, unshare and raw sockets are refused
    And exhausting pids and memory stays inside the container's limits and egress still works
    And `mcp-lok logs` shows each egress decision with its rule or reason
    And `mcp-lok logs` shows the arbitrary names the gate's DNS refused
    When mcp-lok's host process for the server is killed
    Then the attacker can no longer reach the allowed destination in any way
    And `mcp-lok rm` removes the server, its gate and the egress socket

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: under the stdio profile the server has no network at all on <engine>
    Given the <engine> engine
    And a test service container standing in for "google.com", "tcponly.test" and the host's gateway as "rebind.test"
    And a service listening on every address of the host
    And another mcp-lok server serving on the host
    And a host folder "out"
    And a host file "secret/secret.txt" that no rule lets the server read
    And a policy file:
      """
      extends stdio
      write {out} as /out
      """
    When `mcp-lok start` runs the attacker under it
    Then the attacker's report arrives within 120 seconds
    And the only network interface is lo and there is no gate
    And an arbitrary name does not resolve, through the resolver or asked directly
    And the test service is unreachable by address
    And the host's service is unreachable through every host address and bridge gateway
    And 169.254.169.254 is unreachable, directly and by proxy
    And the other mcp-lok server is unreachable
    And no IPv6 route leads anywhere but loopback

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a foreground `mcp-lok run` relays the same way, and its end ends egress, on <engine>
    Given the <engine> engine
    And a test service container standing in for "google.com", "tcponly.test" and the host's gateway as "rebind.test"
    And a service listening on every address of the host
    And another mcp-lok server serving on the host
    And a host folder "shared" holding "hello.txt"
    And a host folder "out"
    And a host file "secret/secret.txt" that no rule lets the server read
    And the seed's example network profile, extended by:
      """
      read {shared} as /data
      write {out} as /out
      allow {service} port 80, 443 over tcp, udp
      allow tcponly.test, {service} port 7000
      allow rebind.test port 80
      """
    When `mcp-lok run` runs the attacker under it in the foreground
    Then the attacker's report arrives within 120 seconds
    And the allowed destination answers over plain TCP with no proxy variables
    And the allowed destination answers through the proxy, plainly and with CONNECT
    And a host no rule allows is refused by the proxy and unreachable by address
    And an allowed name the host resolves to its own gateway is refused (no DNS rebinding)
    When the foreground `mcp-lok run` is interrupted
    Then it removes the server, its gate and the egress socket

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a server that fails is started again inside its gate on <engine>
    Given the <engine> engine
    And a test service container standing in for "google.com", "tcponly.test" and the host's gateway as "rebind.test"
    And a host folder "out"
    And the seed's example network profile, extended by:
      """
      write {out} as /out
      allow {service} port 80, 443 over tcp
      """
    When `mcp-lok start --restart on-failure:1` runs the prober under it
    Then its round 1 reaches the allowed destination through the gate
    And its round 1 is refused everything else
    When the server's process exits with code 1
    Then its round 2 reaches the allowed destination through the gate
    And its round 2 is refused everything else
    And mcp-lok started the same container again, in the same running gate's namespace
    And `mcp-lok rm` removes the server, its gate and the egress socket

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a server that fails after its gate stopped gets its gate back on <engine>
    Given the <engine> engine
    And a test service container standing in for "google.com", "tcponly.test" and the host's gateway as "rebind.test"
    And a host folder "out"
    And the seed's example network profile, extended by:
      """
      write {out} as /out
      allow {service} port 80, 443 over tcp
      """
    When `mcp-lok start --restart on-failure:1` runs the prober under it
    Then its round 1 reaches the allowed destination through the gate
    When its gate is stopped, and then the server's process exits with code 1
    Then its round 2 reaches the allowed destination through the gate
    And its round 2 is refused everything else
    And mcp-lok started its gate again, then the same container, in the gate's new namespace
    And `mcp-lok rm` removes the server, its gate and the egress socket

    Examples:
      | engine |
      | docker |
      | podman |

  # --- diagnostics show only policy text; mcp-lok acts only on what it created; private by
  # default (issue 11, findings 5-7)

  Scenario Outline: a file that is not a policy is never printed, whoever names it, on <engine>
    Given the <engine> engine
    And a file of `/etc/shadow`-like lines named "shadow.lok"
    And a link "x.lok" to a file of such lines with no extension
    Then `mcp-lok policy validate` prints no word of them, nor of `/etc/shadow`, for:
      | source                          |
      | shadow.lok                      |
      | x.lok                           |
      | /etc/shadow                     |
      | a policy that extends shadow.lok  |
      | a policy that extends x.lok       |
      | a policy that extends /etc/shadow |
    And `mcp-lok start` under each of them prints no word of them, exits 3 and creates nothing

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: a running server's files are its owner's alone, and its proxy wants the token, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "stdio" profile
    Then another user can neither list the server's folder nor read its state or its proxy log
    And the runtime folders are 0700, and mcp-lok's own files in them 0600
    And a request to the proxy without the token is answered 401, and with it 200
    And `mcp-lok inspect` shows the server, and its token only with --show-token

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: containers that only carry mcp-lok's labels are never removed, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs "mcp-lok/mcp-server-time" under the "stdio" profile
    And a container made by hand with the labels `mcp-lok=true` and `mcp-lok-name` of that server
    And a container made by hand from `mcp-lok policy compile`'s plan for that server's name
    When I remove the server with `mcp-lok rm --force`
    Then the server's own container is gone and both look-alikes still run
    And `mcp-lok rm` said it left both alone
    And `mcp-lok list --all` shows both as "foreign", not created by mcp-lok
    And `mcp-lok audit` reports both as not created by mcp-lok
    When I remove the server with `mcp-lok rm --force` again
    Then it fails naming both look-alikes, which still run

    Examples:
      | engine |
      | docker |
      | podman |
