"""``engram llm serve`` (an OpenAI-compatible endpoint over the configured chat model) and
``engram llm ask`` (one question, for a quick check). The API key is read here, from a
flag or ENGRAMDB_LLM_API_KEY; nothing below the CLI reads the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from pydantic import ValidationError

from engramdb.cli.common import errors, fail, friendly
from engramdb.config import EngramConfig, LLMConfig
from engramdb.errors import ConfigError

ConfigFile = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--config", "-c", help="YAML/JSON config file; its `llm:` section is used"),
]
ModelPath = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--model-path", help="a GGUF file to run in-process"),
]
ModelName = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--model", help="packaged model name (local) or the endpoint's model (openai)"),
]
Threads = Annotated[Optional[int], typer.Option(min=1, help="local: CPU threads")]  # noqa: UP045
ContextSize = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--context-size", min=512, help="local: context window in tokens"),
]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def llm_config(config_file: Path | None, **overrides: Any) -> LLMConfig:
    """The `llm:` section of the config file (or the defaults), with flags on top. A model
    path means the local provider."""
    base = LLMConfig()
    if config_file is not None:
        base = EngramConfig.from_file(config_file).llm or base
    fields = {k: v for k, v in overrides.items() if v is not None}
    if "model_path" in fields:
        fields["model_path"] = str(fields["model_path"])
        fields["provider"] = "local"
    try:
        return LLMConfig.model_validate({**base.model_dump(), **fields})
    except ValidationError as exc:
        raise ConfigError(f"invalid llm settings: {exc}") from exc


@friendly
def serve(
    model_path: ModelPath = None,
    model: ModelName = None,
    config: ConfigFile = None,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = 8088,
    threads: Threads = None,
    context_size: ContextSize = None,
    api_key: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(envvar="ENGRAMDB_LLM_API_KEY", help="require this Bearer key"),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "warning",
) -> None:
    """Serve the chat model at /v1/chat/completions and /v1/models (OpenAI-compatible)."""
    try:
        import uvicorn

        from engramdb.llm.serve import create_app
    except ImportError:
        fail("this command needs the server extra: pip install 'engramdb[server,llm]'")
        return
    from engramdb.llm import create_chat_model

    settings = llm_config(
        config, model_path=model_path, model=model, threads=threads, context_size=context_size
    )
    if host not in LOOPBACK and not api_key:
        errors.print(f"[yellow]warning:[/yellow] serving on {host} without --api-key")
    chat = create_chat_model(settings)
    try:
        app = create_app(chat, api_key=api_key)
        errors.print(f"serving {chat.name} at http://{host}:{port}/v1", highlight=False)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level=log_level,
                access_log=False,
                server_header=False,
            )
        )
        server.run()
    finally:
        chat.close()


@friendly
def ask(
    prompt: Annotated[str, typer.Argument(help="what to ask")],
    system: Annotated[Optional[str], typer.Option(help="a system prompt")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="constrain the reply to JSON")] = False,
    max_tokens: Annotated[Optional[int], typer.Option(min=1, help="reply length cap")] = None,  # noqa: UP045
    model_path: ModelPath = None,
    model: ModelName = None,
    config: ConfigFile = None,
    threads: Threads = None,
    context_size: ContextSize = None,
) -> None:
    """Ask the configured chat model one question and print its reply."""
    from engramdb.llm import create_chat_model

    settings = llm_config(
        config, model_path=model_path, model=model, threads=threads, context_size=context_size
    )
    messages = [{"role": "user", "content": prompt}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    chat = create_chat_model(settings)
    try:
        schema = {"type": "object"} if as_json else None
        reply = chat.chat(messages, schema=schema, max_tokens=max_tokens)
    finally:
        chat.close()
    typer.echo(reply)


def register(app: typer.Typer) -> None:
    """Add ``engram llm serve|ask`` to the ``engram`` CLI."""
    llm_app = typer.Typer(help="The chat model: serve it over HTTP, ask it.", no_args_is_help=True)
    llm_app.command("serve")(serve)
    llm_app.command("ask")(ask)
    app.add_typer(llm_app, name="llm")
