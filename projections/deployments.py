"""DeploymentsView: each app's deployments with their status, and their log lines, inline."""

from __future__ import annotations

import json

from eventsourcing.domain import AggregateEvent

from ledger.deployments import Deployment
from ledger.times import iso_z
from projections.base import Event, Projection, Sql

HOST = "simulated"
HEALTH_BY_STATUS = {
    "provisioning": "unknown",
    "running": "healthy",
    "stopped": "unknown",
    "failed": "unhealthy",
    "destroyed": "unknown",
}


class DeploymentProjection(Projection):
    """One row per deployment; one row per log line, in the order the runtime wrote them."""

    name = "deployments"
    tables = {  # noqa: RUF012 - a class-level constant table
        "deployments": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, app_id TEXT NOT NULL,"
            " deploy_tier_id TEXT NOT NULL, tier TEXT NOT NULL, subdomain TEXT NOT NULL,"
            " custom_domain TEXT, container_image TEXT NOT NULL, container_name TEXT NOT NULL,"
            " port INTEGER NOT NULL, env_var_names TEXT NOT NULL,"
            " cpu_limit_millicores INTEGER NOT NULL, memory_limit_mb INTEGER NOT NULL,"
            " status TEXT NOT NULL, health_status TEXT NOT NULL, last_health_check TEXT,"
            " host_server TEXT NOT NULL, billing_status TEXT NOT NULL, deployed_at TEXT,"
            " stopped_at TEXT, inserted_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
            " position BIGINT NOT NULL)",
            "id",
        ),
        "deployment_logs": (
            "CREATE TABLE IF NOT EXISTS {table} (deployment_id TEXT NOT NULL,"
            " position BIGINT NOT NULL, line_number INTEGER NOT NULL, at TEXT NOT NULL,"
            " stream TEXT NOT NULL, line TEXT NOT NULL,"
            " PRIMARY KEY (deployment_id, position, line_number))",
            "deployment_id, position, line_number",
        ),
    }

    def schema(self) -> list[str]:
        return [
            *super().schema(),
            f"CREATE INDEX IF NOT EXISTS {self.table('deployments_by_app')}"
            f" ON {self.table('deployments')} (app_id, position)",
        ]

    def apply(self, sql: Sql, position: int, event: Event) -> None:
        if isinstance(event, Deployment.Created):
            self.insert(sql, position, event)
        elif isinstance(event, Deployment.Moved):
            self.move(sql, position, event)

    def insert(self, sql: Sql, position: int, event: Deployment.Created) -> None:
        request, tier = event.request, event.request["tier"]
        when = iso_z(event.at)
        sql.execute(
            f"INSERT INTO {self.table('deployments')} VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s, %s, %s, 'pending', 'unknown', NULL, %s, %s, NULL, NULL, %s, %s, %s)",
            (
                str(event.originator_id),
                str(event.app_id),
                tier["id"],
                tier["slug"],
                request["subdomain"],
                request["custom_domain"],
                request["image"],
                f"buddo-{request['subdomain']}",
                request["port"],
                json.dumps(request["env_var_names"]),
                tier["cpu_limit_millicores"],
                tier["memory_limit_mb"],
                HOST,
                event.billing_status,
                when,
                when,
                position,
            ),
        )

    def move(self, sql: Sql, position: int, event: AggregateEvent) -> None:
        assert isinstance(event, Deployment.Moved)  # noqa: S101 - narrowed by the caller
        when = iso_z(event.at)
        checked = when if event.status in {"running", "failed"} else None
        sql.execute(
            f"UPDATE {self.table('deployments')} SET status = %s, health_status = %s,"
            " last_health_check = COALESCE(%s, last_health_check),"
            " deployed_at = CASE WHEN %s = 'running' THEN %s ELSE deployed_at END,"
            " stopped_at = CASE WHEN %s IN ('stopped', 'destroyed') THEN %s ELSE stopped_at END,"
            " updated_at = %s WHERE id = %s",
            (
                event.status,
                HEALTH_BY_STATUS.get(event.status, "unknown"),
                checked,
                event.status,
                when,
                event.status,
                when,
                when,
                str(event.originator_id),
            ),
        )
        for number, line in enumerate(event.lines):
            sql.execute(
                f"INSERT INTO {self.table('deployment_logs')} VALUES (%s, %s, %s, %s, %s, %s)",
                (str(event.originator_id), position, number, when, line["stream"], line["line"]),
            )
