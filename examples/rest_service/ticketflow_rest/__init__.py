"""A REST service and web worklist embedding ticketflow (an example host application).

``create_app()`` builds the FastAPI application; ``python -m ticketflow_rest`` (or the
``ticketflow-rest`` command) serves it with uvicorn on http://127.0.0.1:8000.
"""

from ticketflow_rest.app import create_app
from ticketflow_rest.settings import Settings

__all__ = ["Settings", "create_app"]
