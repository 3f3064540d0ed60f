"""`model_response`: a model that is already valid, serialized once by pydantic.

An endpoint that returns a model lets FastAPI validate it again against `response_model`,
turn it into plain Python, then encode that as JSON: three passes. For the hottest
endpoints (`/healthz`, `/auth/me`) the model is built from trusted values right there, so
one pass (pydantic's own JSON serializer) is enough; `response_model` stays on the route for
the schema.
"""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code, media_type="application/json")
