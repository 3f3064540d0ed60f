from tests.aiservice.servers import ai_service_url, upstream

__all__ = ["ai_service_url", "upstream"]
