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

  # --- paths (issue 11) ---
  # A host path is judged where it leads, not by its spelling: every second spelling of a
  # path that reaches the host is refused by `mcp-lok start` before anything is created.

  Scenario Outline: `mcp-lok start` refuses a grant that leads to the host, and creates nothing, on <engine>: <grant>
    Given the <engine> engine
    And a host tree of symlinks to the engine's socket, `/` and `/etc`, a loop, and a folder holding a Unix socket
    And a policy granting "<grant>"
    When `mcp-lok start` runs the probe under it
    Then it exits 3 with "error[<code>]" on the grant's line, and a help line
    And the engine holds no container or network of the server, and mcp-lok keeps no state of it

    Examples:
      | engine | grant                                    | code                     |
      | docker | read {to_socket} as /var/run/docker.sock | policy.insecure-required |
      | docker | read {to_root}                           | policy.insecure-required |
      | docker | write {to_root}/etc                      | policy.insecure-required |
      | docker | write {to_etc}/cron.d                    | policy.insecure-required |
      | docker | read {relative}                          | policy.insecure-required |
      | docker | read {holding_socket} as /data           | policy.insecure-required |
      | docker | read {loop}                              | policy.unresolvable-path |
      | docker | write {plain} as /proc/sys               | policy.conflicting-mount |
      | docker | read {plain} as /sys/fs/cgroup            | policy.conflicting-mount |
      | docker | read {home} as /data                     | policy.insecure-required |
      | docker | read /etc/shadow as /data/shadow         | policy.insecure-required |
      | docker | secret KEY from file /etc/shadow         | policy.insecure-required |
      | podman | read {to_socket} as /var/run/docker.sock | policy.insecure-required |
      | podman | read {to_root}                           | policy.insecure-required |
      | podman | write {to_root}/etc                      | policy.insecure-required |
      | podman | write {to_etc}/cron.d                    | policy.insecure-required |
      | podman | read {relative}                          | policy.insecure-required |
      | podman | read {holding_socket} as /data           | policy.insecure-required |
      | podman | read {loop}                              | policy.unresolvable-path |
      | podman | write {plain} as /proc/sys               | policy.conflicting-mount |
      | podman | read {plain} as /sys/fs/cgroup            | policy.conflicting-mount |
      | podman | read {home} as /data                     | policy.insecure-required |
      | podman | read /etc/shadow as /data/shadow         | policy.insecure-required |
      | podman | secret KEY from file /etc/shadow         | policy.insecure-required |

  Scenario Outline: a file system mounted beneath a granted folder is not carried in, and audit sees a grant swapped after launch, on <engine>
    Given the <engine> engine
    And a host folder "shared" holding "hello.txt"
    And a tmpfs mounted at "nested" in the host folder "shared", holding "under.txt"
    And a host folder "out"
    And a policy granting:
      """
      read {shared} as /data
      write {out} as /out
      """
    When `mcp-lok start` runs the probe under it
    Then the probe's report arrives within 60 seconds
    And the server sees "/data/hello.txt" holding "hello from the host"
    And the server sees "/data/nested" as an empty folder
    And `mcp-lok policy explain` says the mount point "nested" beneath "shared" is not carried in
    When the granted folder "out" is swapped for a symlink to "/etc"
    Then `mcp-lok audit` reports that "out" now leads to "/etc", and fails CIS 5.6 for it

    Examples:
      | engine |
      | docker |
      | podman |

  # --- identity (issue 11) ---
  # A group that may open the host's Docker socket is root by another name, and so is a name
  # the image maps to uid 0; the gate's uid is the gate's. The image is built by the test
  # (FROM mcp-lok/base): its /etc/passwd maps `toor` to 0:0, and its /etc/group lists `nobody`
  # in a group `docker` whose gid is that of the host's Docker socket ({socket} below).

  Scenario Outline: the identity `<user>` is refused before anything is created on <engine>
    Given the <engine> engine
    And an image whose /etc/passwd maps `toor` to root and whose /etc/group puts `nobody` in the group of the host's Docker socket
    And a policy for the user "<user>"
    When `mcp-lok start` runs that image under it
    Then it exits 3 with "<code>" saying "<words>"
    And nothing was created for the server

    Examples:
      | engine | user            | code                     | words                                                |
      | docker | 65534:{socket}  | policy.insecure-required | the group {socket} may open `/run/docker.sock`       |
      | docker | 65534:0{socket} | policy.insecure-required | the group {socket} may open `/run/docker.sock`       |
      | docker | nobody:docker   | policy.insecure-required | `nobody:docker` is 65534:{socket} in the image       |
      | docker | toor            | policy.insecure-required | `toor` is 0:0 in the image, and uid 0 is root        |
      | docker | toor:nogroup    | policy.insecure-required | `toor:nogroup` is 0:65534 in the image               |
      | docker | 65534:root      | policy.insecure-required | the group 0 is root's group                          |
      | docker | 65533           | policy.reserved-user     | uid 65533 is the gate's                              |
      | docker | 4000            | policy.user-without-group | uid 4000 is not in the image's /etc/passwd          |
      | podman | 65534:{socket}  | policy.insecure-required | the group {socket} may open `/run/docker.sock`       |
      | podman | 65534:0{socket} | policy.insecure-required | the group {socket} may open `/run/docker.sock`       |
      | podman | nobody:docker   | policy.insecure-required | `nobody:docker` is 65534:{socket} in the image       |
      | podman | toor            | policy.insecure-required | `toor` is 0:0 in the image, and uid 0 is root        |
      | podman | toor:nogroup    | policy.insecure-required | `toor:nogroup` is 0:65534 in the image               |
      | podman | 65534:root      | policy.insecure-required | the group 0 is root's group                          |
      | podman | 65533           | policy.reserved-user     | uid 65533 is the gate's                              |
      | podman | 4000            | policy.user-without-group | uid 4000 is not in the image's /etc/passwd          |

  Scenario Outline: `user <user>` reaches the engine as numbers and adds no group on <engine>
    Given the <engine> engine
    And an image whose /etc/passwd maps `toor` to root and whose /etc/group puts `nobody` in the group of the host's Docker socket
    And a policy for the user "<user>"
    When `mcp-lok start` runs that image under it
    Then the server's container was created with `User` "65534:65534"
    And the server's processes run as uid 65534 and gid 65534 in no other group
    When a process is started in the server with the group of the Docker socket, by hand
    Then `mcp-lok audit` exits 3 and reports that process in the socket's group

    Examples:
      | engine | user   |
      | docker | nobody |
      | docker | 65534  |
      | podman | nobody |
      | podman | 65534  |

  # --- addresses (issue 11) ---
  # Address rules are judged by the addresses they cover: one that reaches the host (its
  # loopback, its own addresses, link-local and metadata addresses, a catch-all however
  # split) is refused before anything is created; loopback in a rule is the server's own,
  # and mcp-lok on the host never dials a loopback or unspecified address whatever a rule
  # says. The attacker tries every spelling of the host's loopback (`probe.py --addresses`).

  Scenario Outline: an address rule that reaches the host is refused, naming what it covers, on <engine>
    Given the <engine> engine
    And an address of one of the host's own bridges
    When `mcp-lok start` runs a server under "<policy>"
    Then it exits 3 with "error[<code>]" naming <words>
    And nothing was created for it

    Examples:
      | engine | policy                                  | code                        | words                                                                                               |
      | docker | allow 0.0.0.0/0 port 8080               | policy.insecure-required    | `0.0.0.0/0`; a catch-all range; the host's own addresses; cloud metadata addresses; loopback addresses; the unspecified address |
      | podman | allow 0.0.0.0/0 port 8080               | policy.insecure-required    | `0.0.0.0/0`; a catch-all range; the host's own addresses; cloud metadata addresses; loopback addresses; the unspecified address |
      | docker | allow ::/0 port 8080                    | policy.insecure-required    | `::/0`; a catch-all range; the host's own addresses; link-local addresses; loopback addresses       |
      | podman | allow ::/0 port 8080                    | policy.insecure-required    | `::/0`; a catch-all range; the host's own addresses; link-local addresses; loopback addresses       |
      | docker | allow 0.0.0.0/1, 128.0.0.0/1 port 8080  | policy.insecure-required    | `0.0.0.0/1`; `128.0.0.0/1`; a catch-all range; the host's own addresses                             |
      | podman | allow 0.0.0.0/1, 128.0.0.0/1 port 8080  | policy.insecure-required    | `0.0.0.0/1`; `128.0.0.0/1`; a catch-all range; the host's own addresses                             |
      | docker | allow ::ffff:0:0/96 port 8080           | policy.insecure-required    | `::ffff:0:0/96`; a catch-all range; the host's own addresses; cloud metadata addresses              |
      | podman | allow ::ffff:0:0/96 port 8080           | policy.insecure-required    | `::ffff:0:0/96`; a catch-all range; the host's own addresses; cloud metadata addresses              |
      | docker | allow 0.0.0.0 port 8080                 | policy.unspecified-address  | `0.0.0.0` is the unspecified address, which is never a destination                                 |
      | podman | allow 0.0.0.0 port 8080                 | policy.unspecified-address  | `0.0.0.0` is the unspecified address, which is never a destination                                 |
      | docker | allow {bridge} port 8080                | policy.insecure-required    | `{bridge}`, which covers the host's own addresses                                                   |
      | podman | allow {bridge} port 8080                | policy.insecure-required    | `{bridge}`, which covers the host's own addresses                                                   |

  Scenario Outline: `allow 127.0.0.1` is the server's own loopback and reaches nothing on the host, on <engine>
    Given the <engine> engine
    And a service listening only on the host's loopback
    And a host folder "out"
    And an address policy file:
      """
      write {out} as /out
      allow 127.0.0.1 port {port}
      allow loop.test, loop6.test, unspec.test, unspec6.test port {port}
      """
    When `mcp-lok start` runs the address attacker under it
    Then `mcp-lok start` warned that `127.0.0.1` is the server's own loopback
    And the attacker's address report arrives within 90 seconds
    And nothing on the host's loopback was reached, through the proxy, by name or directly
    And `mcp-lok logs` shows the host never dialled its loopback or the unspecified address

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: under an acknowledged catch-all the host still never dials its loopback, on <engine>
    Given the <engine> engine
    And a service listening only on the host's loopback
    And a host folder "out"
    And an address policy file:
      """
      write {out} as /out
      insecure allow 0.0.0.0/0, ::/0 port {port} because "the escape test"
      allow loop.test, loop6.test, unspec.test, unspec6.test port {port}
      """
    When I run `mcp-lok policy explain` on it
    Then explain names every class of addresses the rule covers and scores high exposure
    When `mcp-lok start` runs the address attacker under it
    Then the attacker's address report arrives within 90 seconds
    And nothing on the host's loopback was reached, through the proxy, by name or directly
    And `mcp-lok logs` shows the host never dialled its loopback or the unspecified address

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
    # a SOURCE on the command line that is no policy file by its name is a usage error (2);
    # the same in an `extends`, and a `.lok` file that holds no policy, are rejections (3)
    Then `mcp-lok policy validate` prints no word of them, nor of `/etc/shadow`, for:
      | source                            | exit |
      | shadow.lok                        | 3    |
      | x.lok                             | 2    |
      | /etc/shadow                       | 2    |
      | a policy that extends shadow.lok  | 3    |
      | a policy that extends x.lok       | 3    |
      | a policy that extends /etc/shadow | 3    |
    And `mcp-lok start` under each of them prints no word of them, exits as validate did and creates nothing

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
