"""`tessera ai-service` (serve the reference AI service) and `tessera ai-service train`."""

from __future__ import annotations

from typing import Annotated

import typer

ai_service_app = typer.Typer(
    help="The reference AI scan service (its own process, port TESSERA_AI_PORT 8082).",
    invoke_without_command=True,
)


@ai_service_app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (TESSERA_AI_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TESSERA_AI_PORT)")] = None,
) -> None:
    """Serve the AI service with uvicorn (the model is trained at start-up)."""
    if ctx.invoked_subcommand is not None:
        return
    import logging

    import uvicorn

    from tessera.aiservice.app import create_app
    from tessera.aiservice.config import AiServiceSettings

    settings = AiServiceSettings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    host = host or settings.host
    port = port or settings.port
    typer.echo(f"Tessera AI service on http://{host}:{port}")
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)


@ai_service_app.command()
def train(seed: int = 0) -> None:
    """Train on the shipped sample and print the accuracy on a held-out split."""
    from tessera.aiservice import model

    samples = model.distinct(model.load_samples())
    result = model.evaluate(samples, seed)
    typer.echo(f"samples: {len(samples)} (train {result.train_size}, held out {result.test_size})")
    typer.echo(f"held-out accuracy: {result.accuracy:.3f}")
    for language, accuracy in result.per_language.items():
        typer.echo(f"  {language}: {accuracy:.3f}")
    typer.echo(f"most-frequent-category baseline: {result.baseline:.3f}")
    target = "meets" if result.meets_target else "below"
    typer.echo(f"target {model.ACCURACY_TARGET:.2f}: {target}")
