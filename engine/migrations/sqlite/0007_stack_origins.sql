-- Who declared each stack: the runner's config file (`file`) or the API / a host application
-- (`api`). The runner removes `file` stacks the file no longer lists and never touches `api`
-- ones. The last declaration wins. Keep in step with ../postgres/0007_stack_origins.sql.
CREATE TABLE stack_origins (
    org        TEXT    NOT NULL,
    stack      TEXT    NOT NULL,
    origin     TEXT    NOT NULL CHECK (origin IN ('file', 'api')),
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (org, stack)
);
