"""Settings of the AI service (its own process; the seed's names are accepted as aliases).

- `host` / `port` (TESSERA_AI_HOST, TESSERA_AI_PORT: 127.0.0.1:8082)
- `use_llm` (USE_LLM, false): answer with the LLM by default, not only when `force_llm` asks
- `llm_api_url` (LLM_API_URL): an OpenAI-compatible base URL (`…/v1`); unset: model only
- `llm_api_key` (LLM_API_KEY), `llm_model` (LLM_MODEL, gpt-4o-mini), `llm_timeout_seconds`
- `max_bytes` (SCAN_MAX_BYTES, 10 MiB): the largest file accepted
- `ocr_languages` (TESSERA_AI_OCR_LANGUAGES, eng+khm): Tesseract languages; missing ones are
  dropped at start-up (eng is the fallback)
- `chunk_chars` (TESSERA_AI_CHUNK_CHARS, 4000): text is analysed in chunks of about this size
- `min_confidence` (TESSERA_AI_MIN_CONFIDENCE, 0.35): the model's floor for reporting a risk
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class AiServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TESSERA_AI_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    host: str = "127.0.0.1"
    port: int = 8082
    use_llm: bool = Field(False, validation_alias=_env("TESSERA_AI_USE_LLM", "USE_LLM"))
    llm_api_url: str | None = Field(
        None, validation_alias=_env("TESSERA_AI_LLM_API_URL", "LLM_API_URL")
    )
    llm_api_key: SecretStr | None = Field(
        None, validation_alias=_env("TESSERA_AI_LLM_API_KEY", "LLM_API_KEY")
    )
    llm_model: str = Field(
        "gpt-4o-mini", validation_alias=_env("TESSERA_AI_LLM_MODEL", "LLM_MODEL")
    )
    llm_timeout_seconds: float = 50.0
    max_bytes: int = Field(
        10 * 1024 * 1024, validation_alias=_env("TESSERA_AI_MAX_BYTES", "SCAN_MAX_BYTES")
    )
    ocr_languages: str = "eng+khm"
    chunk_chars: int = Field(4000, ge=200)
    min_confidence: float = Field(0.35, ge=0.0, le=1.0)
    log_level: str = "INFO"

    @property
    def llm_provider(self) -> str:
        return "openai-compatible" if self.llm_api_url else "none"
