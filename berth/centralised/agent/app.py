"""The compute agent's HTTP API, called by the conductor (Nova's compute RPC, over HTTP).

`POST /servers` spawns (202, or 409 with the runtime's message if the command cannot start),
`DELETE /servers/{id}` stops and forgets, `GET /servers` lists the runtime's units, `GET
/healthz` answers while the agent lives.  Built by `create_app(agent)`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from berth.centralised.agent.service import ComputeAgent
from berth.runtime import UnitState, UnitStatus


class SpawnBody(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    name: str = ""
    command: list[str] = Field(default_factory=list)


def view(status: UnitStatus) -> dict:
    return {"id": status.name, "state": status.state.value, "restarts": status.restarts,
            "exit_code": status.exit_code, "pid": status.pid, "message": status.message}


def create_app(agent: ComputeAgent) -> FastAPI:
    app = FastAPI(title=f"berth compute agent {agent.host}", version="1.0")

    @app.post("/servers", status_code=202)
    def spawn(body: SpawnBody) -> JSONResponse:
        status = agent.spawn(body.id, body.command)
        if status.state is UnitState.FAILED:
            return JSONResponse({"error": status.message or "could not start"}, 409)
        return JSONResponse({"server": view(status)}, 202)

    @app.delete("/servers/{server_id}")
    def delete(server_id: str) -> Response:
        return Response(status_code=204 if agent.delete(server_id) else 404)

    @app.get("/servers")
    def servers() -> dict:
        return {"servers": [view(s) for s in agent.servers()]}

    @app.get("/healthz")
    def health() -> dict:
        return {"host": agent.host, "rp_uuid": agent.rp_uuid}

    return app
