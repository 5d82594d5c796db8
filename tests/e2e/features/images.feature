@cli
Feature: Servers straight from PyPI
  `mcp-lok build uvx://PACKAGE` resolves the package's whole tree to wheels on the host,
  checks their hashes, and builds the image from the base by copying the files in, with no
  network and nothing run inside; its labels say what was asked and resolved, and it carries
  a CycloneDX bill of materials. `start uvx://…` runs it under the `stdio` profile, reached
  by the official MCP SDK client through mcp-lok's proxy.

  Scenario Outline: uvx://mcp-server-time is built, reused without the index, and serves through the proxy on <engine>
    Given the <engine> engine
    And no image of "uvx://mcp-server-time" on the engine
    When `mcp-lok build` builds "uvx://mcp-server-time"
    Then the image is new, and its labels record the spec, every resolved version and the SBOM
    And the SBOM in the image lists every package of the labels, with a hash for each of its files
    And `mcp-lok images` lists the image with its spec and versions
    When `mcp-lok build` builds "uvx://mcp-server-time" again with no package index reachable
    Then the same image is used, not built again
    When `mcp-lok start` runs the package "uvx://mcp-server-time"
    Then `mcp-lok inspect` shows the spec and the versions it was built from
    When an SDK client connects to the proxy's /mcp
    Then `initialize` answers as "mcp-time"
    And `tools/call get_current_time {"timezone": "Europe/Paris"}` answers the current time in "Europe/Paris"
    When `mcp-lok run` runs the package "uvx://mcp-server-time" in the foreground
    Then an SDK client gets the current time in "Asia/Tokyo" through the URL and token it printed
    And after Ctrl-C it says the server is stopped and removed, and exits 0

    Examples:
      | engine |
      | docker |
      | podman |

  Scenario Outline: `mcp-lok build <spec>` is refused on <engine>: <why>
    Given the <engine> engine
    When `mcp-lok build` is asked for "<spec>"
    Then the exit code is <code>
    And stderr says "<message>"
    And no image of "<spec>" was built

    Examples:
      | engine | spec                                 | code | why                      | message                                                                     |
      | docker | uvx://mcp-server-time;id             | 2    | a shell metacharacter    | holds characters no package spec has: `;`                                   |
      | docker | uvx://no-such-package-mcp-lok-e2e    | 2    | no such package          | the package `no-such-package-mcp-lok-e2e` does not exist on the package index |
      | docker | uvx://mcp-server-time@1999.1         | 2    | no such version          | `mcp-server-time` has no version `1999.1` on the package index              |
      | docker | uvx://docopt@0.6.2                   | 3    | no wheel, only an sdist  | the package `docopt==0.6.2` has no wheel for CPython 3.11 on manylinux x86_64, only a source distribution |
      | podman | uvx://mcp-server-time;id             | 2    | a shell metacharacter    | holds characters no package spec has: `;`                                   |
      | podman | uvx://no-such-package-mcp-lok-e2e    | 2    | no such package          | the package `no-such-package-mcp-lok-e2e` does not exist on the package index |
      | podman | uvx://mcp-server-time@1999.1         | 2    | no such version          | `mcp-server-time` has no version `1999.1` on the package index              |
      | podman | uvx://docopt@0.6.2                   | 3    | no wheel, only an sdist  | the package `docopt==0.6.2` has no wheel for CPython 3.11 on manylinux x86_64, only a source distribution |
