"""`py-static-site`: a stack template written in Python, built with componentize-py.

One web service serving a static site from `image` (default `local/windlass-demo-web:1`) with
`replicas` replicas (1 to 20) and an optional `team` label. `render` refuses anything else with
a `plugin-error` naming the parameter. Built by scripts/build-foreign-plugins.sh.
"""

from typing import List, Tuple

import wit_world
from componentize_py_types import Err
from wit_world.exports import template
from wit_world.imports import host, types


def refuse(field: str, message: str) -> Err:
    return Err(types.PluginError(code="invalid-parameter", message=message, field=field))


class Template(wit_world.exports.Template):
    def describe(self) -> template.TemplateInfo:
        return template.TemplateInfo(
            name="py-static-site",
            version="0.1.0",
            description="A static site behind one web service (Python, componentize-py).",
            parameters=[
                template.Parameter(
                    name="image",
                    description="The site's image.",
                    type=template.ParameterType.TEXT,
                    default="local/windlass-demo-web:1",
                    secret=False,
                ),
                template.Parameter(
                    name="replicas",
                    description="How many web replicas run, 1 to 20.",
                    type=template.ParameterType.INTEGER,
                    default="1",
                    secret=False,
                ),
                template.Parameter(
                    name="team",
                    description="The owning team, set as the `team` label.",
                    type=template.ParameterType.TEXT,
                    default=None,
                    secret=False,
                ),
            ],
        )

    def render(self, params: List[Tuple[str, str]]) -> types.StackSpec:
        values = dict(params)
        unknown = sorted(set(values) - {"image", "replicas", "team"})
        if unknown:
            raise refuse(unknown[0], f"unknown parameter `{unknown[0]}`")
        image = values.get("image", "local/windlass-demo-web:1")
        try:
            replicas = int(values.get("replicas", "1"))
        except ValueError:
            raise refuse("replicas", "must be a whole number")
        if not 1 <= replicas <= 20:
            raise refuse("replicas", "must be 1 to 20")
        labels = [("team", values["team"])] if "team" in values else []
        host.log(host.LogLevel.INFO, f"rendering {replicas} replica(s) of {image}")
        web = types.ServiceSpec(
            name="web",
            image=image,
            command=None,
            env=[("SITE_TITLE", "py-static-site")],
            provides=[],
            ports=[
                types.Port(
                    name="http",
                    container_port=8080,
                    publish=True,
                    host_port=None,
                    protocol=types.Protocol.TCP,
                )
            ],
            volumes=[],
            resources=types.Resources(cpu_millis=None, memory_bytes=None, disk_bytes=None),
            replicas=replicas,
            depends_on=[],
            health_checks=[],
            restart=types.RestartPolicy_Always(),
            labels=labels,
            build=None,
        )
        return types.StackSpec(services=[web], volumes=[])
