-- The stacks made from a stack template plugin, with the parameters they were rendered with, so
-- that a reload of the template re-renders them, also after a restart. A stack deployed from a
-- spec, or removed, has no row. Keep in step with ../sqlite/0012_stack_templates.sql.
CREATE TABLE stack_templates (
    org        TEXT   NOT NULL,
    stack      TEXT   NOT NULL,
    template   TEXT   NOT NULL,
    params     JSONB  NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (org, stack)
);
CREATE INDEX stack_templates_by_template ON stack_templates (template);
