@protocol
Feature: The MCP Inspector gets the same answers through the proxy as from the server itself
  The official MCP Inspector (`@modelcontextprotocol/inspector`, pinned and installed under
  build/ with the conformance suite and its Node), in its CLI mode, calls mcp-lok's
  conformance server three ways: launching the server itself over stdio with a plain
  `docker run -i` (or `podman run -i`) of the same image, through the proxy of
  `mcp-lok start` over Streamable HTTP (`/mcp`), and through its legacy SSE endpoint
  (`/sse`), both with the bearer token `start` printed. The proxy may add, drop or change
  nothing the client sees: every call answers through `/mcp` and `/sse` exactly as it
  does directly — `test_elicitation` too, whose server asks the Inspector for input: the
  CLI declares no elicitation, and declines it (`cancel`) directly and through the proxy.

  Scenario Outline: the Inspector CLI's tool, resource and prompt calls through /mcp and /sse match a direct run, on <engine>
    Given the <engine> engine
    And `mcp-lok start` runs the conformance server, with its token
    When the Inspector CLI makes each of these calls directly, through the proxy's /mcp and through its /sse:
      | method         | options                                                                                                 | answer     |
      | tools/list     |                                                                                                         | result     |
      | tools/call     | --tool-name json_schema_2020_12_tool --tool-arg name=Ada 'address={"street": "1 Rue", "city": "Paris"}' | result     |
      | tools/call     | --tool-name test_multiple_content_types                                                                 | result     |
      | tools/call     | --tool-name test_error_handling                                                                         | tool error |
      | tools/call     | --tool-name test_elicitation --tool-arg message=hello                                                   | result     |
      | resources/list |                                                                                                         | result     |
      | resources/read | --uri test://static-binary                                                                              | result     |
      | prompts/list   |                                                                                                         | result     |
      | prompts/get    | --prompt-name test_prompt_with_arguments --prompt-args arg1=hello 'arg2=big world'                      | result     |
    Then every direct call gave its answer
    And every call through /mcp and through /sse answered exactly as the direct one
    And the engine holds no container of the direct runs within 10 seconds

    Examples:
      | engine |
      | docker |
      | podman |
