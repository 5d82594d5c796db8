"""`mcp-lok audit`: compare running servers with the plans they were launched from, and
check every mcp-lok container against CIS Docker Benchmark section 5 and Pod Security's
restricted profile.

    record (at launch) → collect (engine, state, cgroups) → normalise → drift, cis, score
    → report

Only `collect` and `cgroup` do I/O; `normalise`, `drift`, `cis`, `score` and `report` are
pure and need neither an engine nor a policy. The engine is reached through `engine`.
"""
