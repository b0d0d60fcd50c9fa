"""The FastAPI application: the API, the web worklist, and the job/outbox loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from ticketflow import Engine
from ticketflow.time.sla import SlaPolicy
from ticketflow_rest import api, errors
from ticketflow_rest.service import Service
from ticketflow_rest.settings import PACKAGE, Settings
from ticketflow_rest.worker import run_forever

log = logging.getLogger("ticketflow_rest")
STATIC = PACKAGE / "static"


def build_engine(settings: Settings) -> Engine:
    """An engine on the configured database, with the default SLA policy if enabled."""
    return Engine(
        settings.database_url,
        auto_migrate=settings.auto_migrate,
        sla=SlaPolicy() if settings.sla else None,
    )


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The service. Pass ``engine`` to share one (it is then not closed on shutdown).

    On start the processes folder is deployed (unchanged files keep their version) and,
    unless ``job_interval`` is 0, a loop fires due timers and delivers the outbox.
    """
    settings = settings or Settings.from_env()
    own_engine = engine is None
    engine = engine or build_engine(settings)
    svc = Service.build(settings, engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        deployed = engine.deploy(settings.processes, deployed_by="ticketflow-rest")
        log.info("deployed %s", ", ".join(f"{d.process_id} v{d.version}" for d in deployed))
        loop = None
        if settings.job_interval > 0:
            loop = asyncio.create_task(run_forever(engine, settings.job_interval, svc.stats))
        try:
            yield
        finally:
            if loop is not None:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
            if own_engine:
                engine.close()

    app = FastAPI(
        title="ticketflow REST service",
        version="0.1.0",
        description=(
            "Work orders on ticketflow: open tickets, worklists, claim and complete tasks "
            "with their forms, history, and the BPMN diagrams. Log in at `POST /api/login` "
            "and send the token as `Authorization: Bearer <token>`."
        ),
        lifespan=lifespan,
    )
    app.state.service = svc
    errors.install(app)
    app.include_router(api.public)
    app.include_router(api.router)
    app.mount("/ui", StaticFiles(directory=STATIC, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    return app
