"""`mcp-lok audit`: compare running servers with the plans they were launched from, and
check every mcp-lok container against CIS Docker Benchmark section 5 and Pod Security's
restricted profile.

    record (at launch) → collect (engine, state, cgroups, proc) → normalise → drift,
    inside, cis, score → report

Only `collect`, `cgroup` and `proc` (a container's mount table and files, read from the
host through its process) do I/O; `normalise`, `drift`, `inside`, `cis`, `score` and
`report` are pure and need neither an engine nor a policy. The engine is reached through
`engine`.
"""
